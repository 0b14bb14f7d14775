//! Planned shutdown: elect_without and handover.

use super::super::elect::{elect, elect_without, handover};
use super::fixtures::*;

#[test]
fn handover_names_successors_for_the_leaving_nodes_ips_only() {
    let nodes = vec![node("n1"), node("n2"), node("n3")];
    let ps = [policy("p", &["blue"])];
    let vips: Vec<_> = (1..=60)
        .map(|i| vip(&format!("s{i}"), &format!("192.0.2.{i}")))
        .collect();
    let now = elect(&nodes, &ps, &vips);
    let leaving_ips: Vec<_> = now.for_node("n2").into_iter().map(|(ip, _)| ip).collect();
    assert!(!leaving_ips.is_empty());
    let h = handover(&nodes, &ps, &vips, "n2");
    assert_eq!(h.keys().copied().collect::<Vec<_>>(), leaving_ips);
    for d in h.values() {
        assert!(matches!(d.winner.as_deref(), Some("n1" | "n3")));
        assert!(!d.candidates.contains(&"n2".to_string()));
    }
    // Everyone else keeps their IPs.
    let after = elect_without(&nodes, &ps, &vips, "n2");
    for (ip, d) in &now.per_ip {
        if d.winner.as_deref() != Some("n2") {
            assert_eq!(after.per_ip[ip].winner, d.winner);
        }
    }
}

#[test]
fn elect_without_matches_what_peers_compute_after_gossip_marks_it_dead() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")];
    let ps = [policy("p", &["blue"])];
    let vips: Vec<_> = (1..=30)
        .map(|i| vip(&format!("s{i}"), &format!("192.0.2.{i}")))
        .collect();
    let planned = elect_without(&nodes, &ps, &vips, "n1");
    nodes[0].speaker_alive = false;
    let observed = elect(&nodes, &ps, &vips);
    for (ip, d) in &planned.per_ip {
        assert_eq!(observed.per_ip[ip].winner, d.winner);
        assert_eq!(observed.per_ip[ip].interfaces, d.interfaces);
    }
}

#[test]
fn last_node_leaving_silences_its_ips() {
    let nodes = vec![node("only")];
    let h = handover(
        &nodes,
        &[policy("p", &["blue"])],
        &[vip("a", "192.0.2.1")],
        "only",
    );
    assert_eq!(h[&ip("192.0.2.1")].winner, None);
}
