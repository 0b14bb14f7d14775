//! One test per failure class of issue 20's Proof list that steps 1–4 can see, and a healthy
//! Service.

use std::sync::Arc;

use serde_json::{Value, json};

use super::render::text;
use super::*;

pub(super) fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

pub(super) fn now() -> jiff::Timestamp {
    "2026-01-01T00:00:10Z".parse().unwrap()
}

fn service(annotations: Value, condition: (&str, &str, &str)) -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "shop", "generation": 1, "labels": {"app": "web"},
            "annotations": annotations},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": "ferrolb.io/lb", "ipFamilies": ["IPv4"],
            "externalTrafficPolicy": "Cluster", "ports": [{"port": 80, "protocol": "TCP"}]},
        "status": {
            "loadBalancer": {"ingress": if condition.0 == "True" { json!([{"ip": "192.0.2.10"}]) } else { json!([]) }},
            "conditions": [{"type": "ferrolb.io/Allocated", "status": condition.0, "reason": condition.1,
                "message": condition.2, "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]
        }
    })
}

fn node(name: &str, labels: Value) -> Arc<k8s_openapi::api::core::v1::Node> {
    Arc::new(from(json!({"metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})))
}

fn speaker(node: &str, ready: bool) -> k8s_openapi::api::core::v1::Pod {
    from(
        json!({"metadata": {"name": format!("speaker-{node}"), "namespace": "ferrolb-system"},
        "spec": {"nodeName": node, "containers": []},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}),
    )
}

fn slice(endpoints: &[(&str, bool)]) -> Arc<ferrolb_adapter::slice::NodeSlice> {
    let eps: Vec<Value> = endpoints
        .iter()
        .enumerate()
        .map(|(i, (n, ready))| {
            json!({"addresses": [format!("10.0.0.{}", i + 1)], "nodeName": n,
            "conditions": {"ready": ready, "serving": ready, "terminating": false}})
        })
        .collect();
    Arc::new(
        from::<k8s_openapi::api::discovery::v1::EndpointSlice>(
            json!({"metadata": {"name": "web-1", "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
            "endpoints": eps, "ports": [{"port": 8080, "protocol": "TCP"}]}),
        )
        .into(),
    )
}

fn pool(name: &str, allocation: Value, used: &str, available: &str) -> Arc<ferrolb_api::VIPPool> {
    Arc::new(from(
        json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
        "metadata": {"name": name}, "spec": {"addresses": ["192.0.2.0/28"], "serviceAllocation": allocation},
        "status": {"ipv4": {"total": "16", "used": used, "available": available}}}),
    ))
}

fn l2(pools: &[&str], node_selector: Value) -> Arc<ferrolb_api::L2AnnouncementPolicy> {
    Arc::new(from(
        json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
        "metadata": {"name": "lan"}, "spec": {"ipPools": pools, "nodeSelector": node_selector}}),
    ))
}

/// A healthy Service: allocated from pool `lan`, endpoints on a and b, announced by the
/// election's winner.
pub(super) fn healthy() -> Snapshot {
    let mut snap = Snapshot {
        service: from(service(
            json!({"ferrolb.io/allocated-from": "lan"}),
            ("True", "Allocated", "192.0.2.10 from pool lan"),
        )),
        namespace_labels: [("team".to_string(), "shop".to_string())].into(),
        slices: vec![slice(&[("a", true), ("b", true)])],
        pools: vec![pool("lan", Value::Null, "1", "15")],
        l2: vec![l2(&["lan"], Value::Null)],
        nodes: vec![
            node("a", json!({})),
            node("b", json!({})),
            node("c", json!({})),
        ],
        lease: Some(from(json!({"metadata": {"name": "ferrolb-controller"},
            "spec": {"holderIdentity": "ctrl-0", "leaseDurationSeconds": 15,
                "renewTime": "2026-01-01T00:00:05.000000Z"}}))),
        speakers: vec![speaker("a", true), speaker("b", true), speaker("c", true)],
        ..Snapshot::default()
    };
    let expected = expected_winner(&snap);
    snap.announcement = Some(from(
        json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "ServiceAnnouncement",
        "metadata": {"name": "web", "namespace": "shop"}, "spec": {"serviceName": "web"},
        "status": {"announcements": [{"ip": "192.0.2.10", "kind": "LoadBalancerIP", "node": expected,
            "interfaces": ["eth0"], "since": "2026-01-01T00:00:01Z", "reason": "highest score"}]}}),
    ));
    snap
}

pub(super) fn expected_winner(snap: &Snapshot) -> String {
    let step = election::check(snap);
    let line = step
        .evidence
        .iter()
        .find(|e| e.contains("expected"))
        .unwrap();
    line.split("expected ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string()
}

fn not_allocated(reason: &str, message: &str, annotations: Value) -> Snapshot {
    Snapshot {
        service: from(service(annotations, ("False", reason, message))),
        announcement: None,
        ..healthy()
    }
}

/// The first failed step: its name and fix.
pub(super) fn first_failure(snap: &Snapshot) -> (String, String) {
    let report = diagnose(snap, now());
    assert!(!report.served, "{}", text(&report));
    let step = report
        .steps
        .iter()
        .find(|s| s.outcome == Outcome::Failed)
        .unwrap();
    (step.name.clone(), step.fix.clone().unwrap())
}

#[test]
fn healthy_service_is_served() {
    let report = diagnose(&healthy(), now());
    assert!(report.served, "{}", text(&report));
    assert!(report.steps.iter().all(|s| s.outcome != Outcome::Failed));
    insta::assert_snapshot!("healthy", text(&report));
}

#[test]
fn pool_exhausted() {
    let mut snap = not_allocated("PoolExhausted", "no free address", json!({}));
    snap.pools = vec![pool("lan", Value::Null, "16", "0")];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ALLOCATION);
    assert!(
        fix.contains("pool lan is exhausted (16/16 addresses in use)"),
        "{fix}"
    );
    assert!(fix.contains("add addresses to VIPPool lan"), "{fix}");
    insta::assert_snapshot!("pool_exhausted", text(&diagnose(&snap, now())));
}

#[test]
fn no_pool_selects_the_namespace() {
    let mut snap = not_allocated("NoEligiblePool", "no pool", json!({}));
    snap.pools = vec![pool(
        "lan",
        json!({"namespaceSelector": {"matchLabels": {"team": "ops"}}}),
        "0",
        "16",
    )];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ALLOCATION);
    assert!(fix.contains("no VIPPool selects namespace shop"), "{fix}");
}

#[test]
fn a_pool_selecting_the_namespace_is_eligible() {
    let mut snap = not_allocated("PoolExhausted", "no free address", json!({}));
    snap.pools = vec![pool(
        "lan",
        json!({"namespaceSelector": {"matchLabels": {"team": "shop"}}}),
        "16",
        "0",
    )];
    let (_, fix) = first_failure(&snap);
    assert!(fix.contains("exhausted"), "{fix}");
}

#[test]
fn requested_address_outside_every_pool() {
    let snap = not_allocated(
        "RequestRefused",
        "refused",
        json!({"ferrolb.io/load-balancer-ips": "198.51.100.7"}),
    );
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ALLOCATION);
    assert!(
        fix.contains("requested address 198.51.100.7 is outside every VIPPool"),
        "{fix}"
    );
}

#[test]
fn sharing_key_conflict() {
    let snap = not_allocated(
        "SharingConflict",
        "key k is used by shop/api with port 80",
        json!({"ferrolb.io/sharing-key": "k"}),
    );
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ALLOCATION);
    assert!(fix.contains("sharing key conflict"), "{fix}");
}

#[test]
fn no_l2_announcement_covers_the_pool() {
    let mut snap = healthy();
    snap.l2 = vec![l2(&["other"], Value::Null)];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(
        fix.contains("create an L2AnnouncementPolicy listing pool lan"),
        "{fix}"
    );
}

#[test]
fn node_selector_matches_no_node() {
    let mut snap = healthy();
    snap.l2 = vec![l2(&["lan"], json!({"matchLabels": {"role": "edge"}}))];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(fix.contains("nodeSelector matches no node"), "{fix}");
    insta::assert_snapshot!("node_selector", text(&diagnose(&snap, now())));
}

fn local(mut snap: Snapshot) -> Snapshot {
    let mut svc = snap.service.clone();
    if let Some(spec) = svc.spec.as_mut() {
        spec.external_traffic_policy = Some("Local".into());
    }
    snap.service = svc;
    snap
}

#[test]
fn etp_local_without_ready_endpoint() {
    let mut snap = local(healthy());
    snap.slices = vec![slice(&[("a", false), ("b", false)])];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ENDPOINTS);
    assert!(fix.contains("eTP=Local with no ready endpoint"), "{fix}");
}

#[test]
fn every_node_with_an_endpoint_excluded() {
    let mut snap = local(healthy());
    let excluded = json!({"node.kubernetes.io/exclude-from-external-load-balancers": ""});
    snap.nodes = vec![
        node("a", excluded.clone()),
        node("b", excluded),
        node("c", json!({})),
    ];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(
        fix.contains("every node with a local endpoint is excluded by label"),
        "{fix}"
    );
}

#[test]
fn speaker_dead_on_every_eligible_node() {
    let mut snap = healthy();
    snap.speakers = vec![speaker("a", false), speaker("b", false)];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(
        fix.contains("speaker is not ready on any eligible node"),
        "{fix}"
    );
}

#[test]
fn speaker_dead_on_the_only_node_the_policy_admits() {
    let mut snap = healthy();
    snap.l2 = vec![l2(&["lan"], json!({"matchLabels": {"announce": "yes"}}))];
    snap.nodes = vec![
        node("a", json!({})),
        node("b", json!({})),
        node("c", json!({"announce": "yes"})),
    ];
    snap.speakers = vec![speaker("a", true), speaker("b", true), speaker("c", false)];
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(
        fix.contains("speaker is not ready on any eligible node"),
        "{fix}"
    );
}

#[test]
fn external_ip_refused_by_policy() {
    let mut snap = healthy();
    let mut svc = snap.service.clone();
    if let Some(spec) = svc.spec.as_mut() {
        spec.external_ips = Some(vec!["203.0.113.5".into()]);
    }
    if let Some(cs) = svc.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        cs.push(from(
            json!({"type": "ferrolb.io/ExternalIPsAllowed", "status": "False",
            "reason": "ExternalIPRefused", "message": "203.0.113.5: no ExternalIPPolicy allows it",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}),
        ));
    }
    snap.service = svc;
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_EXTERNAL_IPS);
    assert!(fix.contains("refused by policy"), "{fix}");
}

#[test]
fn stale_lease_is_named_when_nothing_is_allocated() {
    let mut snap = not_allocated("PoolExhausted", "x", json!({}));
    snap.service.status = None;
    snap.lease = None;
    let (_, fix) = first_failure(&snap);
    assert!(fix.contains("no controller Lease"), "{fix}");
}

#[test]
fn report_serializes_for_json_output() {
    let v = serde_json::to_value(diagnose(&healthy(), now())).unwrap();
    assert_eq!(v["served"], json!(true));
    assert_eq!(v["steps"][0]["outcome"], json!("passed"));
}

#[test]
fn announcement_disagreeing_with_the_election_fails() {
    let mut snap = healthy();
    let expected = expected_winner(&Snapshot {
        announcement: None,
        ..snap.clone()
    });
    let other = ["a", "b", "c"]
        .into_iter()
        .find(|n| *n != expected)
        .unwrap();
    if let Some(a) = snap.announcement.as_mut().and_then(|a| a.status.as_mut()) {
        a.announcements[0].node = other.to_string();
    }
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(fix.contains("differs from the election"), "{fix}");
}

#[test]
fn stale_lease_is_named() {
    let mut snap = not_allocated("", "", json!({}));
    snap.service.status = None;
    snap.lease = Some(from(json!({"metadata": {"name": "ferrolb-controller"},
        "spec": {"holderIdentity": "ctrl-0", "leaseDurationSeconds": 5,
            "renewTime": "2026-01-01T00:00:00.000000Z"}})));
    let (_, fix) = first_failure(&snap);
    assert!(
        fix.contains("controller leader ctrl-0 is stale (Lease renewed 10s ago"),
        "{fix}"
    );
}

#[test]
fn a_dual_stack_pod_is_one_endpoint() {
    let mut snap = healthy();
    let dual: k8s_openapi::api::discovery::v1::EndpointSlice = from(json!({
        "metadata": {"name": "web-2", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv6", "ports": [{"port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["2001:db8::1"], "nodeName": "a",
            "conditions": {"ready": true, "serving": true, "terminating": false}}]}));
    snap.slices.push(Arc::new(dual.into()));
    let step = endpoints::check(&snap);
    assert!(
        step.evidence
            .contains(&"a: 1 ready, 0 serving-terminating, 0 terminating".to_string()),
        "{:?}",
        step.evidence
    );
}

/// `healthy()` made an edge Service: allocated from pool `edge` (labelled for the edge), no
/// ServiceAnnouncement, the edge's condition `status`/`reason`.
fn edge_service(status: &str, reason: &str) -> Snapshot {
    let mut snap = healthy();
    snap.announcement = None;
    snap.pools = vec![Arc::new(from(json!({
        "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
        "metadata": {"name": "edge", "labels": {"ferrolb.io/mode": "edge"}},
        "spec": {"addresses": ["192.0.2.0/28"]},
        "status": {"ipv4": {"total": "16", "used": "1", "available": "15"}}})))];
    let svc = &mut snap.service;
    svc.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("ferrolb.io/allocated-from".into(), "edge".into());
    if let Some(cs) = svc.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        cs.push(from(
            json!({"type": "ferrolb.io/EdgeServing", "status": status, "reason": reason,
            "message": "node-a healthy", "lastTransitionTime": "2026-01-01T00:00:00Z"}),
        ));
    }
    snap
}

#[test]
fn an_edge_service_is_judged_by_the_edges_condition() {
    let report = diagnose(&edge_service("True", "Serving"), now());
    assert!(report.served, "{}", text(&report));
    let health = report.steps.iter().find(|s| s.name == STEP_HEALTH).unwrap();
    assert_eq!(health.outcome, Outcome::Passed, "{}", text(&report));

    let (step, fix) = first_failure(&edge_service("False", "NoHealthyNodes"));
    assert_eq!(step, STEP_HEALTH);
    assert!(
        fix.starts_with("no candidate node passes the edge's health probe"),
        "{fix}"
    );
}

#[test]
fn an_unreachable_webhook_is_said_without_failing_the_service() {
    let mut snap = healthy();
    snap.webhook = Some(Err("the apiserver admitted the probe".into()));
    let report = diagnose(&snap, now());
    assert!(report.served, "{}", text(&report));
    let step = report
        .steps
        .iter()
        .find(|s| s.name == STEP_ALLOCATION)
        .unwrap();
    assert!(
        step.evidence
            .iter()
            .any(|e| e.starts_with("webhook NOT reachable: the apiserver admitted the probe")),
        "{:?}",
        step.evidence
    );
}
