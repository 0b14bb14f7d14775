//! One test per delivery rule, asserting on the built chains and maps.

use super::super::input::{EndpointPort, NodeInput};
use super::super::names::{self, NftFamily, NftProtocol};
use super::super::{LOCAL_INDEX_OFFSET, Ruleset, build};
use super::fixtures::{self, NODE, ip, ready, service, tcp, terminating};
use ferrolb_core::{IpFamily, Protocol, ServiceKey, TargetPort, TrafficPolicy};
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
    ruleset
        .set(set)
        .unwrap_or_else(|| panic!("no set {set}"))
        .elements
        .clone()
}

/// How one Service port reaches its endpoints at one address (or NodePort) without ClientIP
/// affinity: the shared chain its dispatch element goes to, and its elements in the endpoint
/// map that chain reads.
#[derive(Debug)]
pub struct Spread {
    /// The dispatch element's chain, e.g. `spread4_tcp_3`.
    pub chain: String,
    /// Cluster-wide endpoints (`address . port`), by index from 0.
    pub cluster: Vec<String>,
    /// This node's endpoints (`externalTrafficPolicy: Local`), by index from
    /// [`LOCAL_INDEX_OFFSET`].
    pub local: Vec<String>,
}

/// The spread of `vip` `protocol`/`port`: its `service_ipsN` element and its elements of
/// `endpointsN_PROTOCOL` (keys `vip . port . index`).
pub fn vip_spread(ruleset: &Ruleset, vip: &str, protocol: Protocol, port: u16) -> Spread {
    let family = IpFamily::of(ip(vip)).digit();
    let l4 = protocol.nft_name();
    spread(
        ruleset,
        &format!("service_ips{family}"),
        &format!("{vip} . {l4} . {port}"),
        &format!("endpoints{family}_{l4}"),
        &format!("{vip} . {port}"),
    )
}

/// The spread of NodePort `node_port` in `family`: its `node_portsN` element and its elements of
/// `node_port_endpointsN_PROTOCOL` (keys `node_port . index`).
pub fn node_port_spread(
    ruleset: &Ruleset,
    family: IpFamily,
    protocol: Protocol,
    node_port: u16,
) -> Spread {
    let (family, l4) = (family.digit(), protocol.nft_name());
    spread(
        ruleset,
        &format!("node_ports{family}"),
        &format!("{l4} . {node_port}"),
        &format!("node_port_endpoints{family}_{l4}"),
        &node_port.to_string(),
    )
}

/// The chain of `key` in verdict map `dispatch`, and the endpoints of the elements of `map`
/// whose key starts with `prefix`; their indexes must count up without a gap.
fn spread(ruleset: &Ruleset, dispatch: &str, key: &str, map: &str, prefix: &str) -> Spread {
    let verdict = format!("{key} : goto ");
    let chain = elements(ruleset, dispatch)
        .iter()
        .find_map(|element| element.strip_prefix(&verdict).map(str::to_string))
        .unwrap_or_else(|| panic!("no {key} in {dispatch}: {:?}", ruleset.set(dispatch)));
    let prefix = format!("{prefix} . ");
    let all = elements(ruleset, map);
    let (mut cluster, mut local) = (Vec::new(), Vec::new());
    for element in &all {
        let Some(rest) = element.strip_prefix(&prefix) else {
            continue;
        };
        let (index, endpoint) = rest.split_once(" : ").unwrap();
        let index: u32 = index.parse().unwrap();
        let (list, first) = if index < LOCAL_INDEX_OFFSET {
            (&mut cluster, 0)
        } else {
            (&mut local, LOCAL_INDEX_OFFSET)
        };
        assert_eq!(
            index - first,
            u32::try_from(list.len()).unwrap(),
            "indexes of {prefix}… in {map} count from {first} without a gap: {all:?}"
        );
        list.push(endpoint.to_string());
    }
    Spread {
        chain,
        cluster,
        local,
    }
}

/// An endpoint as an endpoint map's data: `address . port`.
pub fn at(address: &str, port: u16) -> String {
    format!("{address} . {port}")
}

/// The rule of a spread chain that DNATs to one of `count` endpoints of `map` (indexes from
/// `offset`), keyed like a VIP's (`daddr . dport`).
fn spread_dnat(family: IpFamily, protocol: Protocol, count: usize, offset: u32) -> String {
    let (payload, l4) = (family.payload(), protocol.nft_name());
    let offset = if offset == 0 {
        String::new()
    } else {
        format!(" offset {offset}")
    };
    format!(
        "meta l4proto {l4} dnat {payload} to {payload} daddr . {l4} dport . numgen random mod {count}{offset} map @endpoints{}_{l4}",
        family.digit()
    )
}

/// The ruleset of `input`, the port id of `default/web` 80/TCP and that port's IPv4 entry
/// chain `svc4_<id>` (ClientIP affinity only: the others have no chain of their own).
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

/// The DNAT of TCP to `address:port` that ends a rule of an affinity chain.
fn to(address: &str, port: u16) -> String {
    match ip(address) {
        std::net::IpAddr::V4(_) => format!("meta l4proto tcp dnat ip to {address}:{port}"),
        std::net::IpAddr::V6(_) => format!("meta l4proto tcp dnat ip6 to [{address}]:{port}"),
    }
}

const MARK: &str = "meta mark set meta mark | 0x00004000";

/// No endpoint map element, no rule DNATs to `address`, nor is it a hairpin pair.
fn not_dispatched_to(ruleset: &Ruleset, address: &str) {
    let endpoint_maps: Vec<_> = ruleset
        .sets()
        .iter()
        .filter(|set| {
            set.name.starts_with("endpoints") || set.name.starts_with("node_port_endpoints")
        })
        .collect();
    assert!(!endpoint_maps.is_empty());
    for map in endpoint_maps {
        assert!(
            map.elements.iter().all(|e| !e.contains(address)),
            "{}: {:?}",
            map.name,
            map.elements
        );
    }
    for chain in ruleset.chains() {
        assert!(
            chain.rules.iter().all(|rule| !rule.contains(address)),
            "{chain:?}"
        );
    }
    assert!(
        elements(ruleset, "hairpin4")
            .iter()
            .all(|e| !e.contains(address))
    );
}

#[test]
fn cluster_masquerades_and_spreads_over_all_ready_endpoints() {
    let ruleset = build(&fixtures::cluster_tcp());
    assert_eq!(
        elements(&ruleset, "service_ips4"),
        ["192.0.2.10 . tcp . 80 : goto spread4_tcp_3"]
    );
    // Marked for masquerade in `services`, by its VIP tuple, not in the chain it goes to.
    assert_eq!(
        elements(&ruleset, "masquerade_ips4"),
        ["192.0.2.10 . tcp . 80"]
    );
    assert_eq!(
        rules(&ruleset, "services")[0],
        format!("ip daddr . meta l4proto . th dport @masquerade_ips4 {MARK}")
    );
    // One of the three endpoints at random, read from the endpoint map by VIP, port and index.
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(spread.chain, "spread4_tcp_3");
    assert_eq!(
        spread.cluster,
        [
            at("10.244.1.5", 8080),
            at("10.244.2.7", 8080),
            at("10.244.3.9", 8080)
        ]
    );
    assert!(spread.local.is_empty(), "{spread:?}");
    assert_eq!(
        rules(&ruleset, "spread4_tcp_3"),
        [spread_dnat(IpFamily::V4, Protocol::Tcp, 3, 0)]
    );
    assert_eq!(elements(&ruleset, "endpoints4_tcp").len(), 3);
    assert!(
        !ruleset
            .chains()
            .iter()
            .any(|c| ["ep", "svc", "clu"].iter().any(|p| c.name.starts_with(p))),
        "no chain per endpoint nor per Service: {:?}",
        ruleset.chains()
    );
    assert_eq!(
        rules(&ruleset, "nat_postrouting")[0],
        "meta mark & 0x00004000 != 0 meta mark set meta mark ^ 0x00004000 masquerade fully-random"
    );
}

#[test]
fn local_keeps_the_client_address_and_uses_only_local_endpoints() {
    let ruleset = build(&fixtures::local_policy());
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(spread.chain, "spread4_tcp_3_local1");
    assert_eq!(spread.local, [at("10.244.1.5", 8080)]);
    // Traffic from the node itself: every endpoint, masqueraded.
    assert_eq!(spread.cluster.len(), 3, "{spread:?}");
    assert_eq!(
        rules(&ruleset, &spread.chain),
        [
            format!(
                "fib saddr type local {MARK} {}",
                spread_dnat(IpFamily::V4, Protocol::Tcp, 3, 0)
            ),
            spread_dnat(IpFamily::V4, Protocol::Tcp, 1, LOCAL_INDEX_OFFSET),
        ]
    );
    // Other traffic keeps its client address: not marked in `services`.
    assert!(elements(&ruleset, "masquerade_ips4").is_empty());
}

#[test]
fn local_without_a_local_endpoint_drops_external_traffic_but_serves_the_node() {
    let ruleset = build(&fixtures::local_without_local_endpoints());
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(spread.chain, "spread4_tcp_1_local0");
    assert_eq!(spread.cluster, [at("10.244.2.7", 8080)]);
    assert!(spread.local.is_empty(), "{spread:?}");
    assert_eq!(
        rules(&ruleset, &spread.chain),
        [
            format!(
                "fib saddr type local {MARK} {}",
                spread_dnat(IpFamily::V4, Protocol::Tcp, 1, 0)
            ),
            "drop".to_string()
        ]
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
    let ruleset = build(&fixtures::named_port());
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(
        spread.cluster,
        [at("10.244.1.5", 8080), at("10.244.2.7", 9090)],
        "the endpoint without the port is skipped"
    );
    assert_eq!(spread.chain, "spread4_tcp_2");
    not_dispatched_to(&ruleset, "10.244.3.9");
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
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(spread.cluster, [at("10.244.1.5", 8081)]);
    assert_eq!(spread.chain, "spread4_tcp_1");
}

#[test]
fn udp_and_sctp_use_their_protocol_in_keys_and_dnat() {
    let cases = [
        (
            fixtures::udp(),
            ("192.0.2.53", Protocol::Udp, 53),
            vec![at("10.244.1.5", 5353), at("10.244.2.7", 5353)],
        ),
        (
            fixtures::sctp(),
            ("192.0.2.20", Protocol::Sctp, 3868),
            vec![at("10.244.1.5", 3868)],
        ),
    ];
    for (input, (vip, protocol, port), endpoints) in cases {
        let ruleset = build(&input);
        let l4 = protocol.nft_name();
        let count = endpoints.len();
        assert_eq!(
            elements(&ruleset, "service_ips4"),
            [format!("{vip} . {l4} . {port} : goto spread4_{l4}_{count}")]
        );
        let spread = vip_spread(&ruleset, vip, protocol, port);
        assert_eq!(spread.cluster, endpoints);
        assert_eq!(
            rules(&ruleset, &spread.chain),
            [format!(
                "meta l4proto {l4} dnat ip to ip daddr . {l4} dport . numgen random mod {count} map @endpoints4_{l4}"
            )]
        );
        assert!(
            ruleset.set("endpoints4_tcp").is_none(),
            "maps only when used"
        );
    }
}

#[test]
fn ready_endpoints_win_over_terminating_ones() {
    let ruleset = build(&terminating_here_ready_elsewhere(TrafficPolicy::Cluster));
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(spread.cluster, [at("10.244.2.7", 8080)]);
    assert_eq!(spread.chain, "spread4_tcp_1");
    not_dispatched_to(&ruleset, "10.244.1.5");
}

#[test]
fn without_ready_endpoints_serving_terminating_ones_take_new_connections() {
    let ruleset = build(&fixtures::terminating_fallback());
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(
        spread.cluster,
        [at("10.244.1.5", 8080), at("10.244.2.7", 8080)]
    );
    assert_eq!(spread.chain, "spread4_tcp_2");
    // The third endpoint is terminating but no longer serving.
    not_dispatched_to(&ruleset, "10.244.3.9");
}

#[test]
fn local_fallback_to_terminating_is_computed_among_local_endpoints() {
    let ruleset = build(&terminating_here_ready_elsewhere(TrafficPolicy::Local));
    let spread = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    // This node has only a terminating endpoint: it serves external traffic; the node's own
    // traffic goes to the ready endpoints of the cluster.
    assert_eq!(spread.local, [at("10.244.1.5", 8080)]);
    assert_eq!(spread.cluster, [at("10.244.2.7", 8080)]);
    assert_eq!(spread.chain, "spread4_tcp_1_local1");
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
                .any(|chain| chain.name.starts_with("svc") || chain.name.contains("spread")),
            "{:?}",
            ruleset.chains()
        );
        assert!(
            !ruleset
                .sets()
                .iter()
                .any(|set| set.name.contains("endpoints")),
            "{:?}",
            ruleset.sets()
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
    open.key.name = "open".into();
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
    // ClientIP affinity keeps a chain per Service port (its affinity sets): no shared spread
    // chain, no endpoint map.
    assert_eq!(
        elements(&ruleset, "service_ips4"),
        [format!("192.0.2.10 . tcp . 80 : goto svc4_{id}")]
    );
    assert!(
        !ruleset.chains().iter().any(|c| c.name.contains("spread")),
        "{:?}",
        ruleset.chains()
    );
    assert!(ruleset.set("endpoints4_tcp").is_none());
    assert_eq!(
        ruleset.stats().map_elements,
        1 + 1 + 3,
        "dynamic sets are not counted (one VIP, its masquerade tuple, three hairpin pairs)"
    );
}

#[test]
fn dual_stack_vips_use_endpoints_of_their_own_family() {
    let ruleset = build(&fixtures::dual_stack());
    let v4 = vip_spread(&ruleset, "192.0.2.10", Protocol::Tcp, 80);
    assert_eq!(v4.cluster, [at("10.244.1.5", 8080)]);
    assert_eq!(v4.chain, "spread4_tcp_1");
    let v6 = vip_spread(&ruleset, "2001:db8::10", Protocol::Tcp, 80);
    assert_eq!(
        v6.cluster,
        [at("fd00:244::5", 8080), at("fd00:244::7", 8080)]
    );
    assert_eq!(
        elements(&ruleset, "service_ips6"),
        ["2001:db8::10 . tcp . 80 : goto spread6_tcp_2"]
    );
    assert_eq!(
        rules(&ruleset, "spread6_tcp_2"),
        [spread_dnat(IpFamily::V6, Protocol::Tcp, 2, 0)]
    );
    assert!(
        elements(&ruleset, "endpoints6_tcp")
            .iter()
            .all(|e| !e.contains("10.244")),
        "{:?}",
        elements(&ruleset, "endpoints6_tcp")
    );
    assert!(
        elements(&ruleset, "endpoints4_tcp")
            .iter()
            .all(|e| !e.contains("fd00")),
        "{:?}",
        elements(&ruleset, "endpoints4_tcp")
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
    let three = [
        at("10.244.1.5", 8080),
        at("10.244.2.7", 8080),
        at("10.244.3.9", 8080),
    ];
    let cluster = node_port_spread(&ruleset, IpFamily::V4, Protocol::Tcp, 30080);
    assert_eq!(cluster.chain, "node_port_spread4_tcp_3");
    assert_eq!(cluster.cluster, three);
    assert!(cluster.local.is_empty(), "{cluster:?}");
    let local = node_port_spread(&ruleset, IpFamily::V4, Protocol::Tcp, 30081);
    assert_eq!(local.chain, "node_port_spread4_tcp_3_local1");
    assert_eq!(local.cluster, three);
    assert_eq!(local.local, [at("10.244.1.5", 8080)]);
    // Keyed by the NodePort: whatever the node address the packet was sent to.
    assert_eq!(
        rules(&ruleset, "node_port_spread4_tcp_3"),
        [
            "meta l4proto tcp dnat ip to tcp dport . numgen random mod 3 map @node_port_endpoints4_tcp"
        ]
    );
    // IPv4-only Services open no IPv6 NodePort.
    assert!(elements(&ruleset, "node_ports6").is_empty());
    assert!(ruleset.set("node_port_endpoints6_tcp").is_none());
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
    let spread = node_port_spread(&ruleset, IpFamily::V4, Protocol::Tcp, 30080);
    assert_eq!(spread.cluster, [at("10.244.1.5", 8080)]);
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
