//! One test per delivery rule, asserting on the built chains and maps.

use super::super::input::{EndpointPort, NodeInput};
use super::super::names;
use super::super::{Ruleset, build};
use super::fixtures::{self, NODE, ip, ready, service, tcp, terminating};
use ferrolb_core::{Protocol, ServiceKey, TargetPort, TrafficPolicy};
use std::sync::Arc;

pub fn port_id(name: &str, protocol: Protocol, port: u16) -> String {
    names::service_port_id(&ServiceKey::new("default", name), protocol, port)
}

pub fn rules(ruleset: &Ruleset, chain: &str) -> Vec<String> {
    ruleset
        .chain(chain)
        .unwrap_or_else(|| panic!("no chain {chain}"))
        .rules
        .clone()
}

pub fn elements(ruleset: &Ruleset, set: &str) -> Vec<String> {
    ruleset.set(set).unwrap().elements.clone()
}

/// The ruleset of `input`, the port id of `default/web` 80/TCP and that port's IPv4 entry
/// chain `svc4_<id>`.
fn web(input: &NodeInput) -> (Ruleset, String, Vec<String>) {
    let ruleset = build(input);
    let id = port_id("web", Protocol::Tcp, 80);
    let entry = rules(&ruleset, &format!("svc4_{id}"));
    (ruleset, id, entry)
}

/// `default/web` (`etp`) with a terminating endpoint on this node and a ready one on node-b.
fn terminating_here_ready_elsewhere(etp: TrafficPolicy) -> NodeInput {
    let mut web = service(
        "web",
        &["192.0.2.10"],
        vec![tcp(80, 8080)],
        vec![
            terminating("10.244.1.5", NODE),
            ready("10.244.2.7", "node-b"),
        ],
    );
    web.etp = etp;
    fixtures::node(vec![web])
}

/// The DNAT of TCP to `address:port` that ends a dispatch rule.
fn to(address: &str, port: u16) -> String {
    match ip(address) {
        std::net::IpAddr::V4(_) => format!("meta l4proto tcp dnat ip to {address}:{port}"),
        std::net::IpAddr::V6(_) => format!("meta l4proto tcp dnat ip6 to [{address}]:{port}"),
    }
}

const MARK: &str = "meta mark set meta mark | 0x00004000";

/// Neither a rule of the entry chain DNATs to `address` nor is it a hairpin pair.
fn not_dispatched_to(ruleset: &Ruleset, entry: &[String], address: &str) {
    assert!(
        !entry.iter().any(|rule| rule.contains(address)),
        "{entry:?}"
    );
    assert!(
        elements(ruleset, "hairpin4")
            .iter()
            .all(|e| !e.contains(address))
    );
}

#[test]
fn cluster_masquerades_and_spreads_over_all_ready_endpoints() {
    let ruleset = build(&fixtures::cluster_tcp());
    let id = port_id("web", Protocol::Tcp, 80);
    let entry = format!("svc4_{id}");
    assert_eq!(
        elements(&ruleset, "service_ips4"),
        [format!("192.0.2.10 . tcp . 80 : goto {entry}")]
    );
    // Marked for masquerade in `services`, by its VIP tuple, not in its own chain.
    assert_eq!(
        elements(&ruleset, "masquerade_ips4"),
        ["192.0.2.10 . tcp . 80"]
    );
    assert_eq!(
        rules(&ruleset, "services")[0],
        format!("ip daddr . meta l4proto . th dport @masquerade_ips4 {MARK}")
    );
    let chain = rules(&ruleset, &entry);
    assert!(!chain.iter().any(|rule| rule.contains("mark")), "{chain:?}");
    // A cascade: 1/3, then 1/2 of the rest, then the last one.
    assert_eq!(chain.len(), 3, "{chain:?}");
    for (address, index) in [("10.244.1.5", 0), ("10.244.2.7", 1), ("10.244.3.9", 2)] {
        let target = to(address, 8080);
        let expected = match index {
            0 => format!("numgen random mod 3 == 0 {target}"),
            1 => format!("numgen random mod 2 == 0 {target}"),
            _ => target,
        };
        assert_eq!(chain[index], expected, "{chain:?}");
    }
    assert!(
        !ruleset.chains().iter().any(|c| c.name.starts_with("ep")),
        "no chain per endpoint"
    );
    assert_eq!(
        rules(&ruleset, "nat_postrouting")[0],
        "meta mark & 0x00004000 != 0 meta mark set meta mark ^ 0x00004000 masquerade fully-random"
    );
}

#[test]
fn local_keeps_the_client_address_and_uses_only_local_endpoints() {
    let (ruleset, id, entry) = web(&fixtures::local_policy());
    assert_eq!(
        entry,
        [
            format!("fib saddr type local goto clu4_{id}"),
            to("10.244.1.5", 8080),
        ]
    );
    // Traffic from the node itself: every endpoint, masqueraded.
    let cluster = rules(&ruleset, &format!("clu4_{id}"));
    assert_eq!(cluster[0], MARK);
    assert!(cluster[1].starts_with("numgen random mod 3"), "{cluster:?}");
}

#[test]
fn local_without_a_local_endpoint_drops_external_traffic_but_serves_the_node() {
    let ruleset = build(&fixtures::local_without_local_endpoints());
    let id = port_id("web", Protocol::Tcp, 80);
    assert_eq!(
        rules(&ruleset, &format!("svc4_{id}")),
        [
            format!("fib saddr type local goto clu4_{id}"),
            "drop".to_string()
        ]
    );
    assert_eq!(
        rules(&ruleset, &format!("clu4_{id}"))[1],
        to("10.244.2.7", 8080)
    );
    assert!(elements(&ruleset, "no_endpoint_ips4").is_empty());
}

#[test]
fn hairpin_traffic_of_every_endpoint_is_masqueraded() {
    let ruleset = build(&fixtures::dual_stack());
    assert_eq!(elements(&ruleset, "hairpin4"), ["10.244.1.5 . 10.244.1.5"]);
    assert_eq!(
        elements(&ruleset, "hairpin6"),
        ["fd00:244::5 . fd00:244::5", "fd00:244::7 . fd00:244::7"]
    );
    assert_eq!(
        rules(&ruleset, "nat_postrouting")[1..],
        [
            "ct status dnat ip saddr . ip daddr @hairpin4 masquerade fully-random",
            "ct status dnat ip6 saddr . ip6 daddr @hairpin6 masquerade fully-random"
        ]
    );
}

#[test]
fn named_ports_resolve_per_endpoint_and_skip_endpoints_without_them() {
    let (_, _, entry) = web(&fixtures::named_port());
    assert_eq!(
        entry[..],
        [
            format!("numgen random mod 2 == 0 {}", to("10.244.1.5", 8080)),
            to("10.244.2.7", 9090),
        ],
        "the endpoint without the port is skipped"
    );
}

#[test]
fn named_port_falls_back_to_the_service_port_name_and_checks_protocol() {
    let mut http = tcp(80, 0);
    http.name = Some("http".to_string());
    http.target = TargetPort::Named("web".to_string());
    let mut slice_style = ready("10.244.1.5", NODE);
    slice_style.ports = vec![EndpointPort {
        name: Some("http".to_string()),
        protocol: Protocol::Tcp,
        port: 8081,
    }];
    let mut wrong_protocol = ready("10.244.2.7", NODE);
    wrong_protocol.ports = vec![EndpointPort {
        name: Some("web".to_string()),
        protocol: Protocol::Udp,
        port: 8080,
    }];
    let input = fixtures::node(vec![service(
        "web",
        &["192.0.2.10"],
        vec![http],
        vec![slice_style, wrong_protocol],
    )]);
    let ruleset = build(&input);
    let id = port_id("web", Protocol::Tcp, 80);
    assert_eq!(
        rules(&ruleset, &format!("svc4_{id}"))[0],
        to("10.244.1.5", 8081)
    );
}

#[test]
fn udp_and_sctp_use_their_protocol_in_keys_and_dnat() {
    let cases = [
        (
            fixtures::udp(),
            "192.0.2.53 . udp . 53",
            ("dns", Protocol::Udp, 53),
        ),
        (
            fixtures::sctp(),
            "192.0.2.20 . sctp . 3868",
            ("signalling", Protocol::Sctp, 3868),
        ),
    ];
    let endpoints = [("10.244.2.7", 5353, "udp"), ("10.244.1.5", 3868, "sctp")];
    for ((input, key, (name, protocol, port)), (endpoint, target, l4)) in
        cases.into_iter().zip(endpoints)
    {
        let ruleset = build(&input);
        assert!(elements(&ruleset, "service_ips4")[0].starts_with(&format!("{key} : goto")));
        let id = port_id(name, protocol, port);
        assert_eq!(
            rules(&ruleset, &format!("svc4_{id}")).last().unwrap(),
            &format!("meta l4proto {l4} dnat ip to {endpoint}:{target}")
        );
    }
}

#[test]
fn ready_endpoints_win_over_terminating_ones() {
    let (ruleset, _, entry) = web(&terminating_here_ready_elsewhere(TrafficPolicy::Cluster));
    assert_eq!(entry[0], to("10.244.2.7", 8080));
    not_dispatched_to(&ruleset, &entry, "10.244.1.5");
}

#[test]
fn without_ready_endpoints_serving_terminating_ones_take_new_connections() {
    let (ruleset, _, entry) = web(&fixtures::terminating_fallback());
    assert!(entry[0].starts_with("numgen random mod 2"), "{entry:?}");
    // The third endpoint is terminating but no longer serving.
    not_dispatched_to(&ruleset, &entry, "10.244.3.9");
}

#[test]
fn local_fallback_to_terminating_is_computed_among_local_endpoints() {
    let (ruleset, id, entry) = web(&terminating_here_ready_elsewhere(TrafficPolicy::Local));
    assert_eq!(entry[1], to("10.244.1.5", 8080));
    assert_eq!(
        rules(&ruleset, &format!("clu4_{id}"))[1],
        to("10.244.2.7", 8080)
    );
}

#[test]
fn services_without_endpoints_reject_instead_of_dispatching() {
    for etp in [TrafficPolicy::Cluster, TrafficPolicy::Local] {
        let mut input = fixtures::no_endpoints();
        Arc::make_mut(&mut input.services[0]).etp = etp;
        let ruleset = build(&input);
        assert_eq!(
            elements(&ruleset, "no_endpoint_ips4"),
            ["192.0.2.10 . tcp . 80 : goto reject_traffic"]
        );
        assert_eq!(
            elements(&ruleset, "no_endpoint_node_ports4"),
            ["tcp . 30080 : goto reject_traffic"]
        );
        assert!(elements(&ruleset, "service_ips4").is_empty());
        assert!(elements(&ruleset, "node_ports4").is_empty());
        assert!(
            !ruleset
                .chains()
                .iter()
                .any(|chain| chain.name.starts_with("svc"))
        );
    }
    let ruleset = build(&fixtures::no_endpoints());
    assert_eq!(
        rules(&ruleset, "reject_traffic"),
        [
            "meta l4proto tcp reject with tcp reset",
            "reject with icmpx port-unreachable"
        ]
    );
    assert!(
        rules(&ruleset, "filter_input")
            .iter()
            .all(|rule| rule.contains("ct state new"))
    );
}

#[test]
fn source_ranges_drop_other_sources_of_vip_traffic_per_family() {
    let ruleset = build(&fixtures::source_ranges());
    let fw4 = names::firewall_chain(
        ferrolb_core::IpFamily::V4,
        &names::service_id(&ServiceKey::new("default", "web")),
    );
    assert_eq!(
        elements(&ruleset, "firewall_ips4"),
        [format!("192.0.2.10 . tcp . 443 : jump {fw4}")]
    );
    // 203.0.113.128/25 is inside 203.0.113.0/24: aggregated away.
    assert_eq!(
        rules(&ruleset, &fw4),
        ["ip saddr != { 198.51.100.7/32, 203.0.113.0/24 } drop"]
    );
    // Only IPv4 ranges given: every IPv6 source is outside them.
    let fw6 = fw4.replacen("fw4_", "fw6_", 1);
    assert_eq!(rules(&ruleset, &fw6), ["drop"]);
    assert_eq!(
        rules(&ruleset, "filter_prerouting"),
        [
            "ct state new ip daddr . meta l4proto . th dport vmap @firewall_ips4",
            "ct state new ip6 daddr . meta l4proto . th dport vmap @firewall_ips6"
        ]
    );
}

/// Entries given but none valid (`SourceRanges::Only([])`): every source is dropped in both
/// families, never "no restriction".
#[test]
fn source_ranges_with_no_valid_entry_drop_every_source() {
    let mut input = fixtures::source_ranges();
    Arc::make_mut(&mut input.services[0]).source_ranges =
        ferrolb_core::SourceRanges::parse(&["office"]).ranges;
    let ruleset = build(&input);
    let fw4 = names::firewall_chain(
        ferrolb_core::IpFamily::V4,
        &names::service_id(&ServiceKey::new("default", "web")),
    );
    let fw6 = fw4.replacen("fw4_", "fw6_", 1);
    assert_eq!(rules(&ruleset, &fw4), ["drop"]);
    assert_eq!(rules(&ruleset, &fw6), ["drop"]);
    assert_eq!(elements(&ruleset, "firewall_ips4").len(), 1);
    assert_eq!(elements(&ruleset, "firewall_ips6").len(), 1);
}

#[test]
fn source_ranges_do_not_restrict_node_ports_nor_unrestricted_services() {
    let mut input = fixtures::source_ranges();
    Arc::make_mut(&mut input.services[0]).ports[0].node_port = Some(30443);
    let mut open = (*fixtures::cluster_tcp().services.remove(0)).clone();
    open.key.name = "open".to_string();
    input.services.push(Arc::new(open));
    let ruleset = build(&input);
    assert_eq!(elements(&ruleset, "firewall_ips4").len(), 1);
    assert_eq!(elements(&ruleset, "node_ports4").len(), 1);
}

#[test]
fn affinity_remembers_clients_per_endpoint_and_hashes_new_ones() {
    let (ruleset, id, entry) = web(&fixtures::affinity());
    assert_eq!(entry.len(), 6, "{entry:?}");
    let set = names::affinity_set(&id, &ip("10.244.1.5"), 8080);
    // Each rule remembers (or refreshes) the client for the endpoint it DNATs to.
    let first = format!("update @{set} {{ ip saddr }} {}", to("10.244.1.5", 8080));
    assert_eq!(entry[0], format!("ip saddr @{set} {first}"));
    // Unknown clients: a hash cascade, another seed per step.
    assert_eq!(
        entry[3],
        format!("jhash ip saddr mod 3 seed 0x0 == 0 {first}")
    );
    assert!(entry[4].starts_with("jhash ip saddr mod 2 seed 0x1 == 0 update @aff4_"));
    assert!(entry[5].starts_with("update @aff4_"), "{entry:?}");
    let dynamic = ruleset.set(&set).unwrap();
    assert_eq!(
        dynamic.kind,
        super::super::SetKind::Dynamic {
            timeout_secs: 10_800,
            size: super::super::AFFINITY_SET_SIZE
        }
    );
    assert_eq!(
        ruleset.stats().map_elements,
        1 + 1 + 3,
        "dynamic sets are not counted (one VIP, its masquerade tuple, three hairpin pairs)"
    );
}

#[test]
fn dual_stack_vips_use_endpoints_of_their_own_family() {
    let ruleset = build(&fixtures::dual_stack());
    let id = port_id("web", Protocol::Tcp, 80);
    assert_eq!(
        rules(&ruleset, &format!("svc4_{id}"))[0],
        to("10.244.1.5", 8080)
    );
    let v6 = rules(&ruleset, &format!("svc6_{id}"));
    assert!(v6[0].starts_with("numgen random mod 2"), "{v6:?}");
    assert!(!v6[0].contains("10_244"), "{v6:?}");
    assert_eq!(
        elements(&ruleset, "service_ips6"),
        [format!("2001:db8::10 . tcp . 80 : goto svc6_{id}")]
    );
}

#[test]
fn node_ports_match_the_node_ips_when_given() {
    let ruleset = build(&fixtures::node_port());
    assert_eq!(elements(&ruleset, "node_ips4"), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(elements(&ruleset, "node_ips6"), ["2001:db8:1::1"]);
    let services = rules(&ruleset, "services");
    assert_eq!(
        services[4],
        format!("ip daddr @node_ips4 meta l4proto . th dport @masquerade_node_ports4 {MARK}")
    );
    assert_eq!(
        services[6],
        "ip daddr @node_ips4 meta l4proto . th dport vmap @node_ports4"
    );
    let local_id =
        names::service_port_id(&ServiceKey::new("default", "web-local"), Protocol::Tcp, 80);
    assert!(
        elements(&ruleset, "node_ports4").contains(&format!("tcp . 30081 : goto svc4_{local_id}"))
    );
    // IPv4-only Services open no IPv6 NodePort.
    assert!(elements(&ruleset, "node_ports6").is_empty());
    // Only the Cluster Service's NodePort is masqueraded.
    assert_eq!(
        elements(&ruleset, "masquerade_node_ports4"),
        ["tcp . 30080"]
    );
}

#[test]
fn node_ports_match_every_local_non_loopback_address_by_default() {
    let ruleset = build(&fixtures::node_port_any_local_address());
    assert!(ruleset.set("node_ips4").is_none());
    assert_eq!(
        rules(&ruleset, "services")[6],
        "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @node_ports4"
    );
    assert_eq!(elements(&ruleset, "node_ports4").len(), 1);
}

#[test]
fn node_and_pod_originated_traffic_goes_through_the_same_dispatch() {
    let ruleset = build(&fixtures::cluster_tcp());
    assert_eq!(rules(&ruleset, "nat_prerouting"), ["jump services"]);
    assert_eq!(rules(&ruleset, "nat_output"), ["jump services"]);
    let output = rules(&ruleset, "filter_output");
    assert!(output.iter().any(|rule| rule.ends_with("@firewall_ips4")));
    assert!(
        output
            .iter()
            .any(|rule| rule.ends_with("@no_endpoint_ips6"))
    );
}
