//! The rule builder's input, sharing, and the debug document.

use ferrolb_core::SourceRanges;
use serde_json::json;

use super::fixtures::{NODES, World, ip, lb_json, merge, programmed, slice_json};
use crate::ruleset::{self, Backend};
use ferrolb_core::TrafficPolicy;

#[test]
fn named_target_port_resolves_per_endpoint_through_the_slice_ports() {
    let mut svc = lb_json("dns", &["198.51.100.230"], "blue");
    merge(
        &mut svc,
        json!({"spec": {"ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": "dns-udp", "nodePort": 30053}]}}),
    );
    let mut slice = slice_json("dns", &[("192.0.2.10", "node-a", true, false)]);
    // EndpointSlices name ports after the Service port and carry the resolved number.
    merge(
        &mut slice,
        json!({"ports": [{"name": "dns", "protocol": "UDP", "port": 5353}]}),
    );
    let mut w = World::new();
    w.services.push(svc);
    w.slices.push(slice);
    let d = w.on("node-b");
    let input = &d.rules.input.services[0];
    assert_eq!(
        input.ports[0].target,
        ferrolb_core::TargetPort::Named("dns-udp".into())
    );
    assert_eq!(input.ports[0].node_port, Some(30053));
    let built = ruleset::build(&d.rules.input);
    let backends: Vec<Backend> = built.udp_backends().values().flatten().copied().collect();
    assert_eq!(
        backends,
        [Backend {
            ip: ip("192.0.2.10"),
            port: 5353
        }]
    );
}

#[test]
fn service_fields_reach_the_rule_input() {
    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut svc,
        json!({"spec": {
            "externalTrafficPolicy": "Local",
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
            "loadBalancerSourceRanges": ["203.0.113.0/24", " 198.51.100.7 "],
        }}),
    );
    let mut w = World::new();
    w.services.push(svc);
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    let d = w.on("node-a");
    let s = &d.rules.input.services[0];
    assert_eq!(s.etp, TrafficPolicy::Local);
    assert_eq!(s.affinity, Some(600));
    let ranges: Vec<String> = s
        .source_ranges
        .networks()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ranges, ["198.51.100.7/32", "203.0.113.0/24"], "sorted");
    assert_eq!(s.endpoints.len(), 1);
    assert_eq!(d.rules.input.node_name, "node-a");
    assert_eq!(d.rules.input.node_ips, [ip("198.51.100.11")]);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

// The edge's rule too (ferrolb_core::SourceRanges): a bad entry is dropped and reported.
#[test]
fn an_unparsable_source_range_is_dropped_and_reported() {
    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut svc,
        json!({"spec": {"loadBalancerSourceRanges": ["203.0.113.0/24", "office"]}}),
    );
    let mut w = World::new();
    w.services.push(svc);
    let d = w.on("node-a");
    assert_eq!(programmed(&d, "web"), Some(vec![ip("198.51.100.200")]));
    let s = &d.rules.input.services[0];
    assert_eq!(
        s.source_ranges,
        SourceRanges::Only(vec!["203.0.113.0/24".parse().unwrap()])
    );
    assert!(d.warnings[0].contains("\"office\""), "{:?}", d.warnings);
}

#[test]
fn source_ranges_with_no_valid_entry_deny_everyone() {
    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut svc,
        json!({"spec": {"loadBalancerSourceRanges": ["office", "lab"]}}),
    );
    let mut w = World::new();
    w.services.push(svc);
    let d = w.on("node-a");
    let s = &d.rules.input.services[0];
    assert_eq!(
        s.source_ranges,
        SourceRanges::Only(vec![]),
        "never \"no restriction\""
    );
    assert!(s.source_ranges.restricts());
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
}

#[test]
fn services_sharing_an_ip_are_announced_together_from_one_node() {
    let mut w = World::new();
    let mut dns = lb_json("dns", &["198.51.100.240"], "blue");
    merge(
        &mut dns,
        json!({"spec": {"ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53}]}}),
    );
    w.services.push(lb_json("web", &["198.51.100.240"], "blue"));
    w.services.push(dns);
    for s in w.services.iter_mut() {
        merge(
            s,
            json!({"metadata": {"annotations": {"ferrolb.io/sharing-key": "k"}}}),
        );
    }
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    w.slices
        .push(slice_json("dns", &[("192.0.2.70", "node-b", true, false)]));
    let announcers = w.announcers("198.51.100.240");
    assert_eq!(announcers.len(), 1);
    let d = w.on(announcers[0]);
    assert_eq!(d.announcements.len(), 2);
    for plan in &d.announcements {
        assert_eq!(plan.announced.len(), 1, "{}", plan.service);
        assert!(
            plan.announced[0]
                .reason
                .contains("common to 2 sharing Services")
        );
    }
    for node in NODES.iter().filter(|n| **n != announcers[0]) {
        let other = w.on(node);
        assert!(other.announcements.iter().all(|p| {
            p.elsewhere
                .iter()
                .map(|e| (e.ip, e.node.as_str()))
                .eq([(ip("198.51.100.240"), announcers[0])])
        }));
        assert_eq!(
            ruleset::build(&other.rules.input).warnings(),
            [],
            "ports differ: no conflict"
        );
    }
}

#[test]
fn the_printed_state_and_status_carry_the_decisions() {
    let mut w = World::new();
    w.services.push(lb_json("web", &["198.51.100.200"], "blue"));
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    let winner = w.announcers("198.51.100.200")[0];
    let d = w.on(winner);
    let doc = serde_json::to_value(&d).unwrap();
    assert_eq!(doc["node"], winner);
    assert_eq!(doc["announce"]["eth0"], json!(["198.51.100.200"]));
    assert_eq!(
        doc["announcements"][0]["announced"][0]["kind"],
        "LoadBalancerIP"
    );
    assert_eq!(
        doc["rules"]["input"]["services"][0]["ports"][0]["nodePort"],
        30080
    );
    assert_eq!(doc["election"]["perIp"]["198.51.100.200"]["winner"], winner);
    let status = d.announcements[0].status(winner, &Default::default());
    assert_eq!(status.announcements[0].node, winner);
    assert_eq!(status.announcements[0].ip, "198.51.100.200");
    assert!(status.silent.is_empty());
}

#[test]
fn the_ruleset_is_built_from_the_input_only_with_the_dataplane_on() {
    let mut w = World::new();
    w.services.push(lb_json("web", &["198.51.100.200"], "blue"));
    let snapshot = w.snapshot();
    let mut local = w.local("node-a");
    let whole = crate::nodestate::desired(&snapshot, &local);
    let built = whole.rules.ruleset.clone().expect("dataplane on: built");
    assert_eq!(*built, ruleset::build(&whole.rules.input));
    let mut before = crate::nodestate::desired_before_rules(&snapshot, &local);
    assert_eq!(before.rules.ruleset, None);
    before.build_rules();
    assert_eq!(before, whole, "the loop's two phases give the same value");
    local.dataplane = false;
    let off = crate::nodestate::desired(&snapshot, &local);
    assert_eq!(off.rules.ruleset, None);
    assert_eq!(off.rules.input, whole.rules.input);
}

/// `allocateLoadBalancerNodePorts: false`: the ports have no nodePort. The VIP is still
/// programmed; no NodePort entry appears, and nothing is warned about.
#[test]
fn a_load_balancer_without_node_ports_is_served_on_its_vip_only() {
    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut svc,
        json!({"spec": {
            "allocateLoadBalancerNodePorts": false,
            "ports": [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        }}),
    );
    let mut w = World::new();
    w.services.push(svc);
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    for node in NODES {
        let d = w.on(node);
        assert!(d.warnings.is_empty(), "{node}: {:?}", d.warnings);
        let input = &d.rules.input.services[0];
        assert_eq!(input.vips, [ip("198.51.100.200")], "{node}");
        assert_eq!(input.ports[0].node_port, None, "{node}");
        let built = ruleset::build(&d.rules.input);
        assert!(
            built.warnings().is_empty(),
            "{node}: {:?}",
            built.warnings()
        );
        let entries = |set: &str| {
            built
                .set(set)
                .map(|s| s.elements.clone())
                .unwrap_or_default()
        };
        assert_eq!(entries("service_ips4").len(), 1, "{node}");
        assert_eq!(
            entries("service_ips4"),
            ["198.51.100.200 . tcp . 80 : goto spread4_tcp_1"],
            "{node}"
        );
        assert_eq!(
            entries("endpoints4_tcp"),
            ["198.51.100.200 . 80 . 0 : 192.0.2.10 . 8080"],
            "{node}"
        );
        assert!(entries("node_ports4").is_empty(), "{node}");
        assert!(built.set("node_port_endpoints4_tcp").is_none(), "{node}");
        assert!(
            built
                .chains()
                .iter()
                .all(|chain| !chain.name.starts_with("node_port_spread")),
            "{node}"
        );
        assert!(entries("no_endpoint_node_ports4").is_empty(), "{node}");
        let script = built.to_nft_script();
        assert!(script.contains("198.51.100.200 . tcp . 80"), "{node}");
        assert!(!script.contains("30080"), "{node}");
    }
}
