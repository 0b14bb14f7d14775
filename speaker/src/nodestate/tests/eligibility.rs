//! Who may announce: endpoints, externalTrafficPolicy, exclusion label, live speakers.

use serde_json::json;

use super::fixtures::{NODES, World, ip, lb_json, merge, programmed, silent_reason, slice_json};

const VIP: &str = "198.51.100.210";

fn local_world(endpoints: &[(&str, &str, bool, bool)]) -> World {
    let mut svc = lb_json("web", &[VIP], "blue");
    merge(
        &mut svc,
        json!({"spec": {"externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}}),
    );
    let mut w = World::new();
    w.services.push(svc);
    w.slices.push(slice_json("web", endpoints));
    w
}

#[test]
fn local_policy_announces_from_the_node_with_the_ready_endpoint() {
    // Every node but node-b has only a not-ready or terminating endpoint.
    let w = local_world(&[
        ("192.0.2.10", "node-a", false, false),
        ("192.0.2.70", "node-b", true, false),
        ("192.0.2.130", "node-c", false, true),
    ]);
    assert_eq!(w.announcers(VIP), ["node-b"]);
    let key = |d: &super::super::NodeDesired| d.health.services.values().next().copied().unwrap();
    let b = key(&w.on("node-b"));
    assert_eq!(
        (b.local_ready_endpoints, b.health_check_node_port),
        (1, Some(32000))
    );
    assert_eq!(key(&w.on("node-a")).local_ready_endpoints, 0);
    assert_eq!(
        key(&w.on("node-c")).local_ready_endpoints,
        0,
        "terminating is not ready"
    );
    for node in NODES {
        assert_eq!(
            programmed(&w.on(node), "web"),
            Some(vec![ip(VIP)]),
            "{node}"
        );
    }
}

#[test]
fn local_policy_without_an_eligible_local_endpoint_is_silent() {
    let mut w = local_world(&[("192.0.2.10", "node-a", true, false)]);
    merge(
        &mut w.nodes[0],
        json!({"metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": ""}}}),
    );
    assert!(w.announcers(VIP).is_empty());
    let why = silent_reason(&w.on("node-b"), VIP).unwrap();
    assert!(why.contains("externalTrafficPolicy Local"), "{why}");
}

#[test]
fn cluster_policy_health_is_not_reported() {
    let mut w = World::new();
    w.services.push(lb_json("web", &[VIP], "blue"));
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    assert!(w.on("node-a").health.services.is_empty());
}

#[test]
fn no_ready_endpoint_anywhere_is_silent_everywhere() {
    let mut w = World::new();
    w.services.push(lb_json("web", &[VIP], "blue"));
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", false, false)]));
    assert!(w.announcers(VIP).is_empty());
    w.slices.clear();
    assert!(w.announcers(VIP).is_empty());
    let d = w.on("node-a");
    assert_eq!(silent_reason(&d, VIP).unwrap(), "no ready endpoints");
    assert_eq!(d.announcements[0].silent.len(), 1);
    assert_eq!(
        programmed(&d, "web"),
        Some(vec![ip(VIP)]),
        "rules reject until endpoints come"
    );
}

fn cluster_world() -> World {
    let mut w = World::new();
    w.services.push(lb_json("web", &[VIP], "blue"));
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    w
}

#[test]
fn excluded_nodes_never_announce() {
    let mut w = cluster_world();
    for i in [0, 2] {
        merge(
            &mut w.nodes[i],
            json!({"metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": "true"}}}),
        );
    }
    assert_eq!(w.announcers(VIP), ["node-b"]);
    merge(
        &mut w.nodes[1],
        json!({"metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": "x"}}}),
    );
    assert!(w.announcers(VIP).is_empty());
    let why = silent_reason(&w.on("node-a"), VIP).unwrap();
    assert!(
        why.contains("3 excluded from external load balancers"),
        "{why}"
    );
}

#[test]
fn not_ready_nodes_never_announce() {
    let mut w = cluster_world();
    for i in [1, 2] {
        merge(
            &mut w.nodes[i],
            json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        );
    }
    assert_eq!(w.announcers(VIP), ["node-a"]);
}

#[test]
fn dead_speakers_never_announce_and_all_dead_is_silent() {
    let mut w = cluster_world();
    let winner = w.announcers(VIP)[0];
    w.live.remove(winner);
    let next = w.announcers(VIP);
    assert_eq!(next.len(), 1);
    assert_ne!(
        next[0], winner,
        "the dead node's own state does not keep the VIP either"
    );
    w.live.clear();
    assert!(w.announcers(VIP).is_empty());
    let why = silent_reason(&w.on("node-a"), VIP).unwrap();
    assert!(why.contains("speaker not alive"), "{why}");
}

#[test]
fn every_node_computes_the_same_election_whatever_the_object_order() {
    let mut w = cluster_world();
    for i in 0..8 {
        w.services.push(lb_json(
            &format!("s{i}"),
            &[&format!("198.51.100.{}", 220 + i)],
            "blue",
        ));
        w.slices.push(slice_json(
            &format!("s{i}"),
            &[("192.0.2.11", "node-c", true, false)],
        ));
    }
    let reference = w.on("node-a").election;
    let mut reversed = w.clone();
    reversed.services.reverse();
    reversed.slices.reverse();
    reversed.nodes.reverse();
    for node in NODES {
        assert_eq!(reversed.on(node).election, reference, "{node}");
    }
    let total: usize = NODES
        .iter()
        .map(|n| w.on(n).announce.values().map(|s| s.len()).sum::<usize>())
        .sum();
    assert_eq!(total, 9, "each VIP announced exactly once");
}

#[test]
fn healthz_facts_read_presence_deletion_and_taint_like_kube_proxy() {
    use crate::nodestate::nodes::{TAINT_TO_BE_DELETED, node_health};
    let health = |patch: serde_json::Value| {
        let mut w = World::new();
        merge(&mut w.nodes[0], patch);
        node_health(&w.snapshot().objects.nodes, "node-a")
    };
    let plain = health(json!({}));
    assert_eq!(
        (plain.known, plain.deleting, plain.excluded),
        (true, false, None)
    );
    // kube-proxy's nodeEligible ignores the exclusion label (the election honours it).
    let labelled = health(json!({"metadata": {"labels": {LABEL: ""}}}));
    assert_eq!(labelled.excluded, None);
    let tainted =
        health(json!({"spec": {"taints": [{"key": TAINT_TO_BE_DELETED, "effect": "NoSchedule"}]}}));
    assert!(tainted.excluded.unwrap().contains(TAINT_TO_BE_DELETED));
    let deleting = health(
        json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["x"]}}),
    );
    assert!(deleting.deleting);
    let gone = node_health(&World::new().snapshot().objects.nodes, "gone");
    assert!(!gone.known);
    assert_eq!(gone, Default::default());
}

#[test]
fn node_eligibility_says_why_a_node_cannot_announce() {
    let mut w = World::new();
    merge(
        &mut w.nodes[1],
        json!({"metadata": {"labels": {LABEL: ""}}}),
    );
    w.live.remove("node-c");
    let nodes = w.on("node-a").election.nodes;
    assert!(nodes["node-a"].eligible && nodes["node-a"].reasons.is_empty());
    assert_eq!(nodes["node-a"].interfaces.default, ["eth0"]);
    assert!(!nodes["node-b"].eligible);
    assert!(
        nodes["node-b"].reasons[0].contains(LABEL),
        "{:?}",
        nodes["node-b"]
    );
    assert_eq!(nodes["node-c"].reasons, ["speaker not alive (gossip)"]);
}

const LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
