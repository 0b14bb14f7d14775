// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const NOW: &str = "2026-12-03T12:00:00Z";

fn from<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn now() -> jiff::Timestamp {
    NOW.parse().unwrap()
}

fn lease(renewed: &str) -> Lease {
    from(json!({"metadata": {"name": "ferrolb-controller"},
        "spec": {"holderIdentity": "controller-a", "leaseDurationSeconds": 15, "renewTime": renewed}}))
}

fn speaker(node: &str, ready: bool, tag: &str) -> Pod {
    from(
        json!({"metadata": {"name": format!("speaker-{node}"), "namespace": "ferrolb-system"},
        "spec": {"nodeName": node, "containers": [{"name": "speaker", "image": format!("ghcr.io/ferrolb/speaker:{tag}")}]},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"name": "speaker", "image": "", "imageID": "", "ready": ready, "restartCount": 2}]}}),
    )
}

fn node(name: &str) -> Node {
    from(json!({"metadata": {"name": name}}))
}

fn pool(name: &str, ready: &str) -> VIPPool {
    from(
        json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": name},
        "spec": {"addresses": ["192.0.2.0/28"]},
        "status": {"used": "1", "available": "15", "conditions": [{"type": "Ready", "status": ready,
            "reason": "R", "message": "m", "lastTransitionTime": NOW}]}}),
    )
}

fn service(name: &str, class: Option<&str>, ip: Option<&str>) -> Service {
    let ingress: Vec<Value> = ip.into_iter().map(|ip| json!({"ip": ip})).collect();
    from(json!({"metadata": {"name": name, "namespace": "web"},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": class, "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": ingress},
            "conditions": [{"type": "ferrolb.io/Allocated", "status": "False", "reason": "PoolExhausted",
                "message": "m", "lastTransitionTime": NOW}]}}))
}

fn announcement(node: &str) -> ServiceAnnouncement {
    from(
        json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "ServiceAnnouncement",
        "metadata": {"name": "web", "namespace": "web"}, "spec": {"serviceName": "web"},
        "status": {"announcements": [{"ip": "192.0.2.1", "kind": "LoadBalancerIP", "node": node, "interfaces": ["eth0"]}]}}),
    )
}

fn healthy() -> Snapshot {
    Snapshot {
        lease: Some(lease("2026-12-03T11:59:55Z")),
        speakers: vec![
            speaker("node-a", true, "v0.1.0"),
            speaker("node-b", true, "v0.1.0"),
        ],
        nodes: vec![node("node-a"), node("node-b")],
        pools: vec![pool("lan", "True")],
        services: vec![service("web", None, Some("192.0.2.1"))],
        announcements: vec![announcement("node-b")],
        ..Snapshot::default()
    }
}

#[test]
fn a_healthy_install_has_no_problem() {
    let s = status(&healthy(), now(), DefaultClass::Claimed);
    assert_eq!(s.problems, Vec::<String>::new());
    assert!(s.leader.contains("controller-a"), "{}", s.leader);
    assert_eq!(s.speakers.len(), 2);
    assert_eq!(s.speakers[1].announcing, 1);
    assert_eq!(s.speakers[0].version, "v0.1.0");
    assert_eq!(s.speakers[0].restarts, 2);
    insta::assert_snapshot!(text(&s));
}

#[test]
fn each_problem_is_named_with_what_to_do() {
    let mut snap = healthy();
    snap.lease = Some(lease("2026-12-03T11:58:00Z"));
    snap.speakers = vec![speaker("node-a", false, "v0.1.0")];
    snap.pools = vec![pool("lan", "False")];
    snap.services.push(service("pending", None, None));
    snap.services
        .push(service("theirs", Some("other.io/lb"), None));
    let s = status(&snap, now(), DefaultClass::Claimed);
    let all = s.problems.join("\n");
    for expected in [
        "controller leader controller-a is stale (Lease renewed 120s ago",
        "speaker speaker-node-a on node-a is not ready",
        "node node-b runs no speaker",
        "pool lan is not Ready",
        "1 Service(s) without an address: `kubectl ferrolb why",
    ] {
        assert!(all.contains(expected), "{expected:?} not in:\n{all}");
    }
    assert_eq!(s.pending, ["web/pending (PoolExhausted)"]);
    insta::assert_snapshot!(text(&s));
}

#[test]
fn classless_services_count_only_when_ferrolb_is_the_default_class() {
    let mut snap = healthy();
    snap.services.push(service("pending", None, None));
    let s = status(&snap, now(), DefaultClass::NotClaimed);
    assert!(s.pending.is_empty(), "{:?}", s.pending);
    snap.services
        .push(service("ours", Some("ferrolb.io/lb"), None));
    let s = status(&snap, now(), DefaultClass::NotClaimed);
    assert_eq!(s.pending, ["web/ours (PoolExhausted)"]);
}

#[test]
fn mixed_speaker_versions_and_no_pool_are_problems() {
    let mut snap = healthy();
    snap.speakers[1] = speaker("node-b", true, "v0.2.0");
    snap.pools.clear();
    let s = status(&snap, now(), DefaultClass::Claimed);
    let all = s.problems.join("\n");
    assert!(
        all.contains("speakers run different versions (v0.1.0, v0.2.0)"),
        "{all}"
    );
    assert!(all.contains("no VIPPool"), "{all}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["speakers"][1]["version"], "v0.2.0");
}

/// `node`'s `/debug/state`: it sees `live` alive and answers for `ips`.
fn state(node: &str, live: &[&str], ips: &[&str]) -> crate::speakers::answers::SpeakerState {
    let nodes: serde_json::Map<String, Value> = ["node-a", "node-b"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                json!({"alive": live.contains(n), "interfaces": ["eth0"]}),
            )
        })
        .collect();
    from(json!({"desired": {"node": node, "announce": {"eth0": ips}},
        "observed": {"gossip": {"local": node, "nodes": nodes}}}))
}

#[test]
fn gossip_partitions_and_split_brains_are_problems() {
    let mut snap = healthy();
    let both = ["node-a", "node-b"];
    snap.speaker_states = [
        ("node-a".to_string(), Ok(state("node-a", &both, &[]))),
        (
            "node-b".to_string(),
            Ok(state("node-b", &both, &["192.0.2.1"])),
        ),
    ]
    .into();
    let s = status(&snap, now(), DefaultClass::Claimed);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.speakers[0].gossip, "sees 2/2 alive");

    snap.speaker_states.insert(
        "node-a".into(),
        Ok(state("node-a", &["node-a"], &["192.0.2.1"])),
    );
    let s = status(&snap, now(), DefaultClass::Claimed);
    let text = s.problems.join("\n");
    assert!(
        text.contains(
            "the speakers' gossip views differ (node-a sees node-a; node-b sees node-a,node-b)"
        ),
        "{text}"
    );
    assert!(
        text.contains("split brain: node-a and node-b all answer for 192.0.2.1"),
        "{text}"
    );

    snap.speaker_states.insert(
        "node-a".into(),
        Err("GET /debug/state of 192.0.2.11:7473: HTTP 403".into()),
    );
    let s = status(&snap, now(), DefaultClass::Claimed);
    assert!(
        s.speakers[0].gossip.contains("HTTP 403"),
        "{:?}",
        s.speakers[0]
    );
}
