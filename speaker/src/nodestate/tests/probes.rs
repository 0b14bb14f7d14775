//! The addresses `/debug/probe` and `/debug/rules` accept, and where each node probes them.

use std::collections::BTreeSet;

use super::fixtures::{NODES, World, ip, lb_json, slice_json};

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn world() -> World {
    let mut w = World::new();
    w.services.push(lb_json("web", &["198.51.100.200"], "blue"));
    // Pool `red` has no L2AnnouncementPolicy: nobody announces this one.
    w.services.push(lb_json("dark", &["203.0.113.7"], "red"));
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    w.slices
        .push(slice_json("dark", &[("192.0.2.11", "node-a", true, false)]));
    w
}

#[test]
fn every_node_probes_a_covered_address_on_the_interfaces_its_policies_select() {
    let w = world();
    let announcer = w.announcers("198.51.100.200")[0];
    for node in NODES {
        let d = w.on(node);
        let on = d.probes.on(ip("198.51.100.200")).unwrap();
        assert_eq!(on.interfaces, names(&["eth0"]), "{node}");
        assert_eq!(on.announced, node == announcer, "{node}");
        assert_eq!(d.probes.node, node);
    }
}

#[test]
fn an_uncovered_address_is_known_and_probed_where_the_node_announces() {
    let w = world();
    let announcer = w.announcers("198.51.100.200")[0];
    for node in NODES {
        let on = w.on(node).probes.on(ip("203.0.113.7")).unwrap();
        assert!(!on.announced);
        let expected = if node == announcer {
            names(&["eth0"])
        } else {
            names(&[])
        };
        assert_eq!(on.interfaces, expected, "{node}");
    }
}

#[test]
fn addresses_of_no_service_are_unknown() {
    let d = world().on("node-a");
    let known: Vec<_> = d.probes.addresses().into_iter().collect();
    assert_eq!(known, [ip("198.51.100.200"), ip("203.0.113.7")]);
    assert_eq!(d.probes.on(ip("198.51.100.201")), None);
}
