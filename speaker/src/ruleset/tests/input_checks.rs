//! Bad or awkward input: conflicts, duplicates, odd names, input order.

use super::super::input::NodeInput;
use super::super::names::{self, sanitize};
use super::super::{RulesetWarning, build};
use super::fixtures::{self, ip, service, tcp};
use super::rules::elements;
use ferrolb_core::{Protocol, ServiceKey};
use std::sync::Arc;

#[test]
fn the_first_service_keeps_a_contested_vip_and_the_other_is_warned() {
    let mut input = fixtures::cluster_tcp();
    let mut other = (*input.services[0]).clone();
    other.key.name = "aaa".into();
    other.endpoints = vec![fixtures::ready("10.244.9.9", "node-b")];
    input.services.push(Arc::new(other));
    let ruleset = build(&input);
    assert_eq!(
        elements(&ruleset, "service_ips4"),
        ["192.0.2.10 . tcp . 80 : goto spread4_tcp_1"]
    );
    // Only default/aaa's endpoint: none of default/web's.
    assert_eq!(
        elements(&ruleset, "endpoints4_tcp"),
        ["192.0.2.10 . 80 . 0 : 10.244.9.9 . 8080"]
    );
    assert_eq!(elements(&ruleset, "hairpin4"), ["10.244.9.9 . 10.244.9.9"]);
    let warning = &ruleset.warnings()[0];
    assert_eq!(
        warning,
        &RulesetWarning::VipConflict {
            service: ServiceKey::new("default", "web"),
            owner: ServiceKey::new("default", "aaa"),
            vip: ip("192.0.2.10"),
            protocol: Protocol::Tcp,
            port: 80,
        }
    );
    let text = warning.to_string();
    assert!(
        text.contains("192.0.2.10") && text.contains("default/aaa"),
        "{text}"
    );
}

#[test]
fn contested_node_ports_duplicates_and_port_zero_are_warned_and_skipped() {
    let mut input = fixtures::node_port();
    Arc::make_mut(&mut input.services[1]).ports[0].node_port = Some(30080);
    let mut twice = (*input.services[0]).clone();
    twice.vips = vec![ip("192.0.2.99")];
    input.services.push(Arc::new(twice));
    Arc::make_mut(&mut input.services[0])
        .ports
        .push(tcp(80, 9999));
    Arc::make_mut(&mut input.services[0]).ports.push(tcp(0, 1));
    let ruleset = build(&input);
    let warnings = ruleset.warnings();
    assert!(warnings.iter().any(|w| matches!(
        w,
        RulesetWarning::NodePortConflict {
            node_port: 30080,
            ..
        }
    )));
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, RulesetWarning::DuplicateService { .. }))
    );
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, RulesetWarning::DuplicatePort { port: 80, .. }))
    );
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, RulesetWarning::ZeroPort { .. }))
    );
    assert_eq!(elements(&ruleset, "node_ports4").len(), 1);
    assert!(!ruleset.to_nft_script().contains("192.0.2.99"));
    assert!(!ruleset.to_nft_script().contains(":9999"));
}

#[test]
fn zero_affinity_timeout_disables_affinity_with_a_warning() {
    let mut input = fixtures::affinity();
    Arc::make_mut(&mut input.services[0]).affinity = Some(0);
    let ruleset = build(&input);
    assert!(matches!(
        ruleset.warnings(),
        [RulesetWarning::ZeroAffinityTimeout { .. }]
    ));
    assert!(!ruleset.to_nft_script().contains("jhash"));
    assert!(
        ruleset
            .sets()
            .iter()
            .all(|set| !set.name.starts_with("aff"))
    );
}

#[test]
fn output_does_not_depend_on_input_order() {
    let mut input = fixtures::node_port();
    input
        .services
        .extend(fixtures::dual_stack().services.into_iter().map(|mut s| {
            let m = Arc::make_mut(&mut s);
            m.key.name = "dual".into();
            m.ports[0].port = 81;
            s
        }));
    let expected = build(&input).to_nft_script();
    input.services.reverse();
    for service in &mut input.services {
        let service = Arc::make_mut(service);
        service.endpoints.reverse();
        service.vips.reverse();
        service.ports.reverse();
    }
    input.node_ips.reverse();
    assert_eq!(build(&input).to_nft_script(), expected);
}

#[test]
fn names_are_sanitised_bounded_and_still_distinct() {
    assert_eq!(sanitize("Kube-System.x y"), "kube-system_x_y");
    let long = "a".repeat(63);
    let key = ServiceKey::new(long.clone(), long.clone());
    let id = names::service_port_id(&key, Protocol::Tcp, 65535);
    assert!(id.len() < 80, "{id}");
    let affinity = names::affinity_set(&id, &ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535);
    assert!(affinity.len() < 256, "{affinity}");
    // Same readable part, different identity: the hash tells them apart.
    let longer = ServiceKey::new(long.clone(), format!("{long}b"));
    assert_ne!(id, names::service_port_id(&longer, Protocol::Tcp, 65535));
    let dots = ServiceKey::new("a.b", "c");
    let underscore = ServiceKey::new("a_b", "c");
    assert_ne!(
        names::service_port_id(&dots, Protocol::Tcp, 1),
        names::service_port_id(&underscore, Protocol::Tcp, 1)
    );
}

#[test]
fn hostile_names_cannot_inject_rules_through_comments_or_names() {
    let script = build(&hostile_input()).to_nft_script();
    assert!(
        !script
            .lines()
            .any(|line| line.trim_start().starts_with("chain x")),
        "{script}"
    );
    assert!(
        !script.lines().any(|line| line.starts_with("flush")),
        "{script}"
    );
}

/// A node and a Service whose names try to close a comment and add rules (nft accepts the
/// script: `nft_check::hostile_names_script_passes_nft_check`).
pub(super) fn hostile_input() -> NodeInput {
    let mut web = service(
        "web",
        &["192.0.2.10"],
        vec![tcp(80, 8080)],
        vec![fixtures::ready("10.244.1.5", "x")],
    );
    web.key.namespace = "evil\n\tchain x { drop; }\n#".into();
    let mut input = fixtures::node(vec![web]);
    input.node_name = "node\nflush ruleset".to_string();
    input
}

#[test]
fn stats_count_services_rules_and_elements() {
    let ruleset = build(&fixtures::dual_stack());
    let stats = ruleset.stats();
    assert_eq!(stats.services, 1);
    assert_eq!(stats.service_ports, 1);
    // A VIP per family, its masquerade tuple per family, one IPv4 and two IPv6 hairpin pairs,
    // one IPv4 and two IPv6 endpoints.
    assert_eq!(stats.map_elements, 2 + 2 + 3 + 3);
    let rules: usize = ruleset.chains().iter().map(|chain| chain.rules.len()).sum();
    assert_eq!(stats.rules, rules);
    assert_eq!(stats.chains, ruleset.chains().len());
    // A Service with neither VIP nor NodePort produces nothing.
    let mut input = fixtures::cluster_tcp();
    Arc::make_mut(&mut input.services[0]).vips.clear();
    let empty = build(&input);
    assert_eq!((empty.stats().services, empty.stats().map_elements), (0, 0));
}
