use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::json;

use super::*;
use ferrolb_core::SourceRanges;
use ferrolb_core::{Protocol, ServiceKey, TrafficPolicy};

fn frontend(port: u16, nodes: &[&str]) -> Frontend {
    Frontend {
        service: ServiceKey {
            namespace: "web".into(),
            name: "web".into(),
        },
        ip: "198.51.100.150".parse().unwrap(),
        protocol: Protocol::Tcp,
        port,
        node_port: 30080,
        traffic_policy: TrafficPolicy::Cluster,
        health_check_node_port: None,
        health_port: 10256,
        source_ranges: SourceRanges::Any,
        candidates: nodes
            .iter()
            .enumerate()
            .map(|(i, n)| Candidate {
                node: n.to_string(),
                ip: format!("198.51.100.{}", 11 + i).parse::<IpAddr>().unwrap(),
            })
            .collect(),
    }
}

fn time(s: &str) -> Time {
    Time(s.parse().unwrap())
}

#[test]
fn messages_count_healthy_nodes() {
    let o = ServiceOutcome::default();
    let a = frontend(80, &["node-a", "node-b", "node-c"]);
    let b = frontend(443, &["node-a", "node-b", "node-c"]);
    let up = |_: &Frontend, c: &Candidate| c.node != "node-c";
    let c = condition(&o, &[&a, &b], up);
    assert_eq!(
        c,
        EdgeCondition {
            status: true,
            reason: "Serving".into(),
            message: "2 of 3 nodes healthy: node-a, node-b".into()
        }
    );
    let c = condition(&o, &[&a], |_, _| false);
    assert_eq!(
        (c.status, c.reason.as_str(), c.message.as_str()),
        (false, "NoHealthyNodes", "0 of 3 nodes healthy")
    );
    let c = condition(&o, &[&frontend(80, &[])], |_, _| true);
    assert_eq!((c.status, c.reason.as_str()), (false, "NoCandidateNodes"));
    let skipped = ServiceOutcome {
        skipped: vec!["port 9: SCTP".into()],
        ..ServiceOutcome::default()
    };
    let c = condition(&skipped, &[], |_, _| true);
    assert_eq!(
        (c.status, c.reason.as_str(), c.message.as_str()),
        (false, "NotServed", "port 9: SCTP")
    );
    let c = condition(&skipped, &[&a], |_, _| true);
    assert_eq!(
        c.message,
        "3 of 3 nodes healthy: node-a, node-b, node-c; not served: port 9: SCTP"
    );
}

#[test]
fn long_lists_are_cut() {
    let names: Vec<String> = (0..25).map(|i| format!("n{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let c = condition(
        &ServiceOutcome::default(),
        &[&frontend(80, &refs)],
        |_, _| true,
    );
    assert!(
        c.message.starts_with("25 of 25 nodes healthy: n00, n01"),
        "{}",
        c.message
    );
    assert!(c.message.ends_with("n19 and 5 more"), "{}", c.message);
}

#[test]
fn writes_only_on_change_and_keeps_the_transition_time() {
    let want = EdgeCondition {
        status: true,
        reason: "Serving".into(),
        message: "1 of 1 nodes healthy: node-a".into(),
    };
    let now = time("2024-05-05T10:00:00Z");
    let mut o = ServiceOutcome {
        generation: Some(4),
        ..ServiceOutcome::default()
    };
    let first = body(&o, &want, &now).unwrap();
    assert_eq!(
        first,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "status": {"conditions": [{
                "type": "ferrolb.io/EdgeServing", "status": "True", "reason": "Serving",
                "message": "1 of 1 nodes healthy: node-a", "lastTransitionTime": "2024-05-05T10:00:00Z",
                "observedGeneration": 4,
            }]},
        })
    );
    o.condition = Some(Condition {
        type_: CONDITION_EDGE_SERVING.into(),
        status: "True".into(),
        reason: "Serving".into(),
        message: want.message.clone(),
        last_transition_time: time("2024-01-01T00:00:00Z"),
        observed_generation: Some(4),
    });
    assert_eq!(body(&o, &want, &now), None, "same content: no write");
    let more = EdgeCondition {
        message: "2 of 2 nodes healthy: node-a, node-b".into(),
        ..want.clone()
    };
    let b = body(&o, &more, &now).unwrap();
    assert_eq!(
        b["status"]["conditions"][0]["lastTransitionTime"], "2024-01-01T00:00:00Z",
        "status unchanged: time kept"
    );
    let down = EdgeCondition {
        status: false,
        reason: "NoHealthyNodes".into(),
        message: "0 of 1 nodes healthy".into(),
    };
    let b = body(&o, &down, &now).unwrap();
    assert_eq!(
        b["status"]["conditions"][0]["lastTransitionTime"],
        "2024-05-05T10:00:00Z"
    );
    o.generation = Some(5);
    assert!(
        body(&o, &want, &now).is_some(),
        "a new generation is written"
    );
    assert_eq!(
        release_body(),
        json!({"apiVersion": "v1", "kind": "Service", "status": {}})
    );
}
