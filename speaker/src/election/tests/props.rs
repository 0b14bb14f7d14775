//! Property tests: agreement, validity, stability under churn, spread, co-location.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::super::elect::{CONFLICT_REASON_PREFIX, elect};
use super::super::model::{EndpointView, L2Policy, NodeView, VipInput};
use super::fixtures::*;
use ferrolb_adapter::selector::Selector;
use ferrolb_core::TrafficPolicy;

const NAMES: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "fox", "golf", "hotel",
];

fn arb_node(name: &'static str) -> impl Strategy<Value = NodeView> {
    (
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.9),
        any::<bool>(),
        0..10u8,
    )
        .prop_map(move |(ready, excluded, alive, zone_a, iface_kind)| {
            let mut n = node(name);
            n.ready = ready;
            n.excluded = excluded;
            n.speaker_alive = alive;
            n.labels = labels(&[("zone", if zone_a { "a" } else { "b" })]);
            match iface_kind {
                0 => n.interfaces[0].up = false,
                1 => n.interfaces.push(iface("eth1", &["10.9.0.1/16"])),
                _ => {}
            }
            n
        })
}

fn arb_nodes() -> impl Strategy<Value = Vec<NodeView>> {
    prop::sample::subsequence(NAMES.to_vec(), 1..=NAMES.len())
        .prop_flat_map(|names| names.into_iter().map(arb_node).collect::<Vec<_>>())
}

fn arb_policies() -> impl Strategy<Value = Vec<L2Policy>> {
    let one = (0..3u8, any::<bool>(), any::<bool>()).prop_map(|(zone, red, ext)| {
        let mut p = policy("p", if red { &["blue", "red"] } else { &["blue"] });
        p.external_ips = ext;
        if zone > 0 {
            let z = if zone == 1 { "a" } else { "b" };
            p.node_selector = Some(Selector {
                match_labels: labels(&[("zone", z)]),
                ..Default::default()
            });
        }
        p
    });
    prop::collection::vec(one, 1..=3).prop_map(|mut ps| {
        ps.iter_mut()
            .enumerate()
            .for_each(|(i, p)| p.name = format!("p{i}"));
        ps
    })
}

fn arb_endpoint() -> impl Strategy<Value = EndpointView> {
    (
        prop::option::weighted(0.9, prop::sample::select(NAMES.to_vec())),
        0..4u8,
    )
        .prop_map(|(node, state)| {
            let mut e = match node {
                Some(n) => ready_on(n),
                None => EndpointView {
                    node: None,
                    ready: true,
                    serving: true,
                    terminating: false,
                },
            };
            if state == 0 {
                e.ready = false;
                e.terminating = true;
            }
            e
        })
}

/// VIPs on few IPs so that sharing is common; services are distinct per (index).
fn arb_vips() -> impl Strategy<Value = Vec<VipInput>> {
    let one = (
        0..6u8,
        any::<bool>(),
        0..5u8,
        prop::collection::vec(arb_endpoint(), 0..4),
    );
    prop::collection::vec(one, 1..12).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (host, is_local, pool, endpoints))| {
                let mut v = vip(&format!("s{i}"), &format!("10.0.0.{host}"));
                v.pool = Some(if pool == 0 { "red" } else { "blue" }.into());
                v.etp = if is_local {
                    TrafficPolicy::Local
                } else {
                    TrafficPolicy::Cluster
                };
                v.endpoints = endpoints;
                v
            })
            .collect()
    })
}

fn winners(e: &super::super::output::Election) -> BTreeMap<IpAddr, Option<String>> {
    e.per_ip
        .iter()
        .map(|(ip, d)| (*ip, d.winner.clone()))
        .collect()
}

proptest! {

    /// (1) Every speaker, whatever the order of its inputs, computes the same election.
    #[test]
    fn order_of_inputs_does_not_matter(
        (nodes, shuffled) in arb_nodes().prop_flat_map(|n| (Just(n.clone()), Just(n).prop_shuffle())),
        (policies, shuffled_policies) in arb_policies().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        (vips, shuffled_vips) in arb_vips().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        prop_assert_eq!(elect(&nodes, &policies, &vips), elect(&shuffled, &shuffled_policies, &shuffled_vips));
    }

    /// (2) A winner is always a fit candidate with interfaces to answer on.
    #[test]
    fn winner_is_a_fit_candidate(nodes in arb_nodes(), policies in arb_policies(), vips in arb_vips()) {
        let e = elect(&nodes, &policies, &vips);
        for d in e.per_ip.values() {
            if let Some(w) = &d.winner {
                prop_assert!(d.candidates.contains(w));
                prop_assert!(!d.interfaces.is_empty());
                let n = nodes.iter().find(|n| &n.name == w).unwrap();
                prop_assert!(n.ready && !n.excluded && n.speaker_alive);
            } else {
                prop_assert!(d.interfaces.is_empty());
            }
        }
    }

    /// (3a) Removing a node never changes the winner of an IP it does not win. A silent IP
    /// can only start being announced when it was silent through a sharing conflict that the
    /// removal dissolves (the Service pinned to the removed node can no longer be served).
    #[test]
    fn removing_a_non_winner_changes_nothing(
        nodes in arb_nodes(), policies in arb_policies(), vips in arb_vips(), pick in any::<prop::sample::Index>(),
    ) {
        let before = elect(&nodes, &policies, &vips);
        let gone = &nodes[pick.index(nodes.len())].name;
        let rest: Vec<NodeView> = nodes.iter().filter(|n| &n.name != gone).cloned().collect();
        let after = elect(&rest, &policies, &vips);
        for (ip, d) in &before.per_ip {
            let now = &after.per_ip[ip].winner;
            match &d.winner {
                Some(w) if w != gone => prop_assert_eq!(now, &d.winner, "ip {}", ip),
                Some(_) => {}
                None => prop_assert!(
                    now.is_none() || d.reason.starts_with(CONFLICT_REASON_PREFIX),
                    "silent ip {} now won by {:?}; before: {}", ip, now, d.reason
                ),
            }
        }
    }

    /// (3b) Adding a node only moves IPs to it (or, for Local Services sharing an IP, can
    /// surface a sharing conflict that silences the IP).
    #[test]
    fn adding_a_node_only_moves_ips_it_wins(
        nodes in arb_nodes(), policies in arb_policies(), vips in arb_vips(), extra in arb_node("zulu"),
    ) {
        let before = winners(&elect(&nodes, &policies, &vips));
        let mut more = nodes.clone();
        more.push(extra);
        let after = elect(&more, &policies, &vips);
        for (ip, d) in &after.per_ip {
            if d.winner != before[ip] {
                let ok = d.winner.as_deref() == Some("zulu") || d.reason.starts_with(CONFLICT_REASON_PREFIX);
                prop_assert!(ok, "ip {} moved from {:?} to {:?}: {}", ip, before[ip], d.winner, d.reason);
            }
        }
    }

    /// (3c) Same as 3b for Cluster-only Services: the winner is unchanged or is the new node.
    #[test]
    fn adding_a_node_cluster_only(nodes in arb_nodes(), policies in arb_policies(), vips in arb_vips()) {
        let vips: Vec<VipInput> = vips.into_iter().map(|mut v| { v.etp = TrafficPolicy::Cluster; v }).collect();
        let before = winners(&elect(&nodes, &policies, &vips));
        let mut more = nodes.clone();
        more.push(node("zulu"));
        for (ip, w) in winners(&elect(&more, &policies, &vips)) {
            prop_assert!(w == before[&ip] || w.as_deref() == Some("zulu"));
        }
    }

    /// (5) Services sharing an IP are co-located: the joint winner is a candidate of every
    /// sharing Service on its own, and for Cluster Services it is exactly the winner each would
    /// get alone (the hash is keyed by IP, not by Service).
    #[test]
    fn sharing_services_are_co_located(nodes in arb_nodes(), policies in arb_policies(), vips in arb_vips()) {
        let joint = elect(&nodes, &policies, &vips);
        for v in &vips {
            let alone = &elect(&nodes, &policies, std::slice::from_ref(v)).per_ip[&v.ip];
            let together = &joint.per_ip[&v.ip];
            prop_assert!(together.services.contains(&v.service));
            if let (Some(w), Some(_)) = (&together.winner, &alone.winner) {
                prop_assert!(alone.candidates.contains(w));
            }
        }
        let cluster: Vec<VipInput> = vips.iter().cloned().map(|mut v| { v.etp = TrafficPolicy::Cluster; v.pool = Some("blue".into()); v }).collect();
        let joint = elect(&nodes, &policies, &cluster);
        for v in &cluster {
            let alone = elect(&nodes, &policies, std::slice::from_ref(v));
            if alone.winner(v.ip).is_some() {
                prop_assert_eq!(alone.winner(v.ip), joint.winner(v.ip));
            }
        }
    }
}

/// SplitMix64: a fixed-seed generator so the spread test is deterministic.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// (4) With 3 nodes and 3000 random IPs, every node wins 25–42% of them.
#[test]
fn load_spreads_evenly() {
    let mut seed = 0x5eed_u64;
    let vips: Vec<VipInput> = (0..3000)
        .map(|i| {
            let addr = Ipv4Addr::from(splitmix(&mut seed) as u32);
            vip(&format!("s{i}"), &addr.to_string())
        })
        .collect();
    let unique = vips
        .iter()
        .map(|v| v.ip)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let nodes = vec![node("node-a"), node("node-b"), node("node-c")];
    let e = elect(&nodes, &[policy("p", &["blue"])], &vips);
    assert_eq!(e.per_ip.len(), unique);
    for n in &nodes {
        let share = e.for_node(&n.name).len() as f64 / unique as f64;
        assert!(
            (0.25..=0.42).contains(&share),
            "{} wins {:.1}%",
            n.name,
            share * 100.0
        );
    }
}
