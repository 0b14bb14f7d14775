//! Properties of [`desired`] over random Services and Nodes.

use proptest::prelude::*;
use serde_json::json;

use super::super::*;
use super::fixtures::*;

proptest! {
    /// Whatever the Services and Nodes: frontends are unique and sorted, lie in an edge pool,
    /// belong to edge Services, and their candidates are eligible nodes of their family.
    #[test]
    fn invariants(
        svcs in proptest::collection::vec((0u8..4, 145u8..165, proptest::option::of(0u8..3), any::<bool>(), any::<bool>()), 0..12),
        nodes in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()), 0..6),
    ) {
        let mut snap = lab();
        snap.nodes = nodes.iter().enumerate().map(|(i, (ready, excluded, v4, v6))| {
            let mut addrs = vec![];
            let a4 = format!("198.51.100.{}", 11 + i);
            let a6 = format!("2001:db8:100::{}", 11 + i);
            if *v4 { addrs.push(("InternalIP", a4.as_str())); }
            if *v6 { addrs.push(("InternalIP", a6.as_str())); }
            let labels = if *excluded { json!({"node.kubernetes.io/exclude-from-external-load-balancers": "true"}) } else { json!({}) };
            node(&format!("n{i}"), *ready, &addrs, labels)
        }).collect();
        snap.services = svcs.iter().enumerate().map(|(i, (kind, last, port, v6, owned))| {
            let addr = if *v6 { format!("2001:db8:100::{last:x}") } else { format!("198.51.100.{last}") };
            let pool = ["edge", "lan", "missing", "edge,lan"][*kind as usize];
            let mut s = service(&format!("s{i}"), &[addr.as_str()], pool);
            if let Some(p) = port { s["spec"]["ports"][0]["port"] = json!(80 + *p as i32); }
            if !owned { s["metadata"]["managedFields"] = json!([]); }
            svc(s)
        }).collect();
        let d = desired(&snap, OPTS);
        let pools = Pools::new(&snap.pools);
        let views = nodes::views(&snap.nodes);
        for pair in d.frontends.windows(2) {
            prop_assert!(pair[0].id() < pair[1].id());
        }
        for f in &d.frontends {
            prop_assert!(d.edge_ranges.contains(f.ip));
            prop_assert!(pools.containing(f.ip).iter().any(|p| pools.is_edge(p)));
            prop_assert!(d.services.contains_key(&f.service));
            for c in &f.candidates {
                let n = views.iter().find(|n| n.name == c.node).unwrap();
                prop_assert!(n.eligible());
                prop_assert_eq!(c.ip.is_ipv4(), f.ip.is_ipv4());
            }
        }
    }
}

proptest! {
    // A conflict needs two Services on one edge address, one of them no edge Service and
    // winning it: rare among random Services, so more cases than the default 256 (with the
    // edge-address test taken out of `may_concern`, 3 runs of 3 failed).
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// A Service that does not concern the edge ([`may_concern`]) changes no frontend, no
    /// edge Service's frontends and nothing to release whether it is there or not: the edge's
    /// stores may leave its changes unseen until the next pass.
    #[test]
    fn a_service_that_does_not_concern_the_edge_changes_no_frontend(
        // Few addresses, half of them in the edge pool: Services often claim the same one.
        svcs in proptest::collection::vec((0u8..4, 148u8..154, any::<bool>(), any::<bool>(), any::<bool>()), 1..10),
    ) {
        let mut snap = lab();
        snap.services = svcs.iter().enumerate().map(|(i, (kind, last, v6, owned, edge))| {
            let addr = if *v6 { format!("2001:db8:100::{last:x}") } else { format!("198.51.100.{last}") };
            let pool = ["edge", "lan", "missing", "edge,lan"][*kind as usize];
            let mut s = service(&format!("s{i}"), &[addr.as_str()], pool);
            if !owned { s["metadata"]["managedFields"] = json!([]); }
            if !edge { s["metadata"]["annotations"] = json!({"ferrolb.io/allocated-from": pool}); }
            svc(s)
        }).collect();
        let with = desired(&snap, OPTS);
        let frontends = |d: &Desired| -> Vec<(ServiceKey, Vec<FrontendId>)> {
            d.services.iter().map(|(k, o)| (k.clone(), o.frontends.clone())).collect()
        };
        for i in 0..snap.services.len() {
            if may_concern(&snap.services[i], &snap.pools) {
                continue;
            }
            let mut without = snap.clone();
            without.services.remove(i);
            let without = desired(&without, OPTS);
            prop_assert_eq!(&with.frontends, &without.frontends);
            prop_assert_eq!(&with.release, &without.release);
            prop_assert_eq!(frontends(&with), frontends(&without));
        }
    }
}
