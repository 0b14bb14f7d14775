//! `/debug/rules`' reading of nft JSON: ferrolb's table as the kernel lists it (the ruleset
//! snapshots `local_policy`, `affinity` and `dual_stack` applied in a throwaway network
//! namespace, `nft -j list table inet ferrolb`), and kube-proxy's tables written from
//! kube-proxy v1.36.3's `proxier_test.go` expectations (`nft_json/kp4.nft, kp6.nft`,
//! listed the same way).

use std::net::IpAddr;

use ferrolb_core::Protocol;

use crate::dataplane::inspect::{PortRules, RuleTable, ports_for};

const LOCAL_POLICY: &str = include_str!("nft_json/local_policy.json");
const AFFINITY: &str = include_str!("nft_json/affinity.json");
const DUAL_STACK: &str = include_str!("nft_json/dual_stack.json");
const KUBE_PROXY_IP: &str = include_str!("nft_json/kp4.json");
const KUBE_PROXY_IP6: &str = include_str!("nft_json/kp6.json");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn port(protocol: Protocol, port: u16, endpoints: &[&str]) -> PortRules {
    PortRules {
        protocol,
        port,
        endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn ferrolb_cluster_spread_with_affinity_lists_every_endpoint() {
    let ports = ports_for(AFFINITY, RuleTable::Ferrolb, ip("192.0.2.10")).unwrap();
    let all = ["10.244.1.5:8080", "10.244.2.7:8080", "10.244.3.9:8080"];
    assert_eq!(ports, vec![port(Protocol::Tcp, 80, &all)]);
}

#[test]
fn ferrolb_local_policy_shows_what_outside_traffic_reaches() {
    // The node's own traffic (`fib saddr type local`) is spread over every endpoint; traffic
    // from outside only reaches the local one.
    let ports = ports_for(LOCAL_POLICY, RuleTable::Ferrolb, ip("192.0.2.10")).unwrap();
    assert_eq!(ports, vec![port(Protocol::Tcp, 80, &["10.244.1.5:8080"])]);
}

#[test]
fn ferrolb_ipv6_address_reads_the_ipv6_map() {
    let ports = ports_for(DUAL_STACK, RuleTable::Ferrolb, ip("2001:db8::10")).unwrap();
    let v6 = ["[fd00:244::5]:8080", "[fd00:244::7]:8080"];
    assert_eq!(ports, vec![port(Protocol::Tcp, 80, &v6)]);
}

#[test]
fn an_address_not_in_the_table_has_no_ports() {
    assert_eq!(
        ports_for(DUAL_STACK, RuleTable::Ferrolb, ip("198.51.100.1")).unwrap(),
        vec![]
    );
    assert!(ports_for("{}", RuleTable::Ferrolb, ip("198.51.100.1")).is_err());
}

#[test]
fn kube_proxy_numgen_dnat_map_through_the_external_chain() {
    let ports = ports_for(KUBE_PROXY_IP, RuleTable::KubeProxy, ip("198.51.100.33")).unwrap();
    assert_eq!(
        ports,
        vec![
            port(Protocol::Tcp, 80, &["192.0.2.4:80", "192.0.2.5:80"]),
            port(Protocol::Udp, 53, &["192.0.2.4:5353"]),
        ]
    );
}

#[test]
fn kube_proxy_affinity_endpoint_chains_and_commented_elements() {
    let ports = ports_for(KUBE_PROXY_IP, RuleTable::KubeProxy, ip("198.51.100.35")).unwrap();
    assert_eq!(ports, vec![port(Protocol::Tcp, 80, &["192.0.2.3:80"])]);
}

#[test]
fn kube_proxy_local_policy_skips_the_pod_and_node_short_circuits() {
    let ports = ports_for(KUBE_PROXY_IP, RuleTable::KubeProxy, ip("198.51.100.36")).unwrap();
    assert_eq!(ports, vec![port(Protocol::Tcp, 80, &["192.0.2.6:80"])]);
}

#[test]
fn kube_proxy_ipv6_endpoint_chain_names_and_dnat_maps() {
    let chain = ports_for(KUBE_PROXY_IP6, RuleTable::KubeProxy, ip("2001:db8:1::7")).unwrap();
    assert_eq!(chain, vec![port(Protocol::Tcp, 80, &["[2001:db8::5]:80"])]);
    let map = ports_for(KUBE_PROXY_IP6, RuleTable::KubeProxy, ip("2001:db8:1::8")).unwrap();
    assert_eq!(map, vec![port(Protocol::Tcp, 80, &["[2001:db8::6]:8080"])]);
}

#[test]
fn kube_proxy_endpoint_chain_name_alone_names_the_endpoint() {
    // An endpoint chain whose dnat rule is missing still names its endpoint.
    let json = r#"{"nftables":[
      {"map":{"family":"ip","name":"service-ips","table":"kube-proxy","elem":[
        [{"concat":["198.51.100.9","tcp",443]},{"goto":{"target":"service-A-ns/s/tcp/https"}}]]}},
      {"rule":{"family":"ip","table":"kube-proxy","chain":"service-A-ns/s/tcp/https","expr":[
        {"vmap":{"key":{"numgen":{"mode":"random","mod":1,"offset":0}},
                 "data":{"set":[[0,{"goto":{"target":"endpoint-B-ns/s/tcp/https__192.0.2.9/8443"}}]]}}}]}}
    ]}"#;
    let ports = ports_for(json, RuleTable::KubeProxy, ip("198.51.100.9")).unwrap();
    assert_eq!(ports, vec![port(Protocol::Tcp, 443, &["192.0.2.9:8443"])]);
}

#[test]
fn a_missing_table_is_absent_not_an_error() {
    use crate::dataplane::inspect::{kube_proxy_table, table_rules};
    let address = ip("2001:db8:1::7");
    let missing = table_rules(
        kube_proxy_table(address),
        None,
        RuleTable::KubeProxy,
        address,
    );
    let missing = missing.unwrap();
    assert_eq!(missing.table, "ip6 kube-proxy");
    assert!(!missing.present && missing.ports.is_empty());
    let json = serde_json::to_value(&missing).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"table": "ip6 kube-proxy", "present": false, "ports": []})
    );
    let present = table_rules(
        ("ip6", "kube-proxy"),
        Some(KUBE_PROXY_IP6),
        RuleTable::KubeProxy,
        address,
    );
    let present = serde_json::to_value(present.unwrap()).unwrap();
    assert_eq!(
        present,
        serde_json::json!({"table": "ip6 kube-proxy", "present": true,
            "ports": [{"protocol": "TCP", "port": 80, "endpoints": ["[2001:db8::5]:80"]}]})
    );
}
