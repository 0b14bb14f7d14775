//! Example cluster and input tables, shared by the unit tests and by the later admission
//! test against a real apiserver (which recreates [`example_cluster`] as objects and
//! submits each row's externalIP as a one-entry `spec.externalIPs` of Service
//! `tenant-a/web`, created by user `alice`).
//!
//! Plain data. Messages are written out in full so that a change of wording shows up as
//! a failing test. Addresses come from the documentation ranges (192.0.2.0/24,
//! 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20) plus ClusterIP ranges.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::model::{Claim, ClaimKind, ClusterFacts, Policy, ServiceRef, UserInfo};
use super::verdict::Rule;
use ferrolb_adapter::selector::{Selector, SelectorOperator, SelectorRequirement};

/// The cluster every table row is judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleCluster {
    /// Service `tenant-a/web` (namespace labels `team=a`), with no externalIPs yet.
    pub service: ServiceRef,
    /// User `alice`, groups `tenant-a-devs` and `system:authenticated`.
    pub requester: UserInfo,
    /// `tenant-a-public` (namespaces `team=a`), `ops-reserved` (group `ops` only) and
    /// `lab-anything` (namespaces `env In [lab]`, everything).
    pub policies: Vec<Policy>,
    /// Nodes node-a/b/c, ClusterIP ranges, pools pool-a/pool-v6, and claims.
    pub facts: ClusterFacts,
}

impl ExampleCluster {
    /// The example Service with `external_ips` as its `spec.externalIPs`.
    pub fn service_with(&self, external_ips: &[&str]) -> ServiceRef {
        ServiceRef {
            external_ips: external_ips.iter().map(|s| s.to_string()).collect(),
            ..self.service.clone()
        }
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn claim(namespace: &str, name: &str, addr: &str, kind: ClaimKind) -> Claim {
    let (namespace, name, ip) = (namespace.to_string(), name.to_string(), ip(addr));
    Claim {
        namespace,
        name,
        ip,
        kind,
    }
}

/// Builds the example cluster (see [`ExampleCluster`] for what it holds).
pub fn example_cluster() -> ExampleCluster {
    let labels: BTreeMap<String, String> =
        [("team", "a"), ("kubernetes.io/metadata.name", "tenant-a")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let team_a = Selector {
        match_labels: [("team".to_string(), "a".to_string())]
            .into_iter()
            .collect(),
        match_expressions: vec![],
    };
    let lab = Selector {
        match_labels: BTreeMap::new(),
        match_expressions: vec![SelectorRequirement {
            key: "env".into(),
            operator: SelectorOperator::In,
            values: strings(&["lab"]),
        }],
    };
    // tenant-a-public also lists node, pool and ClusterIP ranges on purpose: the fixed
    // rules must win over any policy.
    let policies = vec![
        Policy {
            name: "tenant-a-public".into(),
            allowed_cidrs: strings(&[
                "203.0.113.0/25",
                "198.51.100.0/24",
                "192.0.2.0/24",
                "10.96.0.0/16",
                "2001:db8:1::/64",
                "2001:db8:2::/64",
                "2001:db8:3::/64",
                "fd00:10:96::/112",
            ]),
            namespace_selector: Some(team_a),
            ..Policy::default()
        },
        Policy {
            name: "ops-reserved".into(),
            allowed_cidrs: strings(&["203.0.113.128/25"]),
            allowed_groups: strings(&["ops"]),
            ..Policy::default()
        },
        Policy {
            name: "lab-anything".into(),
            allowed_cidrs: strings(&["0.0.0.0/0", "::/0"]),
            namespace_selector: Some(lab),
            ..Policy::default()
        },
    ];
    let facts = ClusterFacts {
        node_addresses: vec![
            ("node-a".into(), ip("198.51.100.11")),
            ("node-b".into(), ip("198.51.100.12")),
            ("node-b".into(), ip("2001:db8:1::12")),
            ("node-c".into(), ip("2001:db8:1::13")),
        ],
        service_cidrs: strings(&["10.96.0.0/16", "fd00:10:96::/112"]),
        pools: vec![
            ("pool-a".into(), vec![ip("192.0.2.0")..=ip("192.0.2.63")]),
            (
                "pool-v6".into(),
                vec![ip("2001:db8:2::")..=ip("2001:db8:2::ff")],
            ),
        ],
        claims: vec![
            claim("other-ns", "web", "203.0.113.50", ClaimKind::ExternalIP),
            claim("other-ns", "lb", "203.0.113.51", ClaimKind::LoadBalancerIP),
            claim("other-ns", "web6", "2001:db8:3::50", ClaimKind::ExternalIP),
            claim("tenant-a", "sibling", "203.0.113.60", ClaimKind::ExternalIP),
            claim("tenant-a", "web", "203.0.113.61", ClaimKind::ExternalIP),
        ],
    };
    ExampleCluster {
        service: ServiceRef {
            namespace: "tenant-a".into(),
            name: "web".into(),
            namespace_labels: labels,
            external_ips: vec![],
        },
        requester: UserInfo {
            username: "alice".into(),
            groups: strings(&["tenant-a-devs", "system:authenticated"]),
        },
        policies,
        facts,
    }
}

/// One refused input of the example cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// The single `spec.externalIPs` entry, exactly as submitted.
    pub external_ip: &'static str,
    /// The rule expected to refuse it.
    pub rule: Rule,
    /// The expected refusal sentence (the admission message is this plus a period).
    pub message: String,
    /// True when the apiserver's own validation (`ValidateNonSpecialIP`, IP syntax, and since
    /// Kubernetes 1.33 IPv4-mapped IPv6) may refuse it before any webhook runs, with its own
    /// wording; the admission test must then accept either message.
    pub apiserver_may_reject_first: bool,
}

const EXAMPLE: &str = "write a single IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::10";
const NODE: &str = "(CVE-2020-8554); externalIPs may never be a node's address";
const UNICAST: &str = "externalIPs must be unicast addresses";
const LOOPBACK: &str = "externalIPs must be reachable from outside the node";
const LINK_LOCAL: &str =
    "valid only on one network segment; externalIPs may never be link-local addresses";
const CLAIMED: &str = "in another namespace; an address may be used by one namespace only, \
                       pick another address";
const POOL: &str = "whose addresses ferrolb assigns itself; use a Service of type LoadBalancer \
                    to get an address from that pool instead";

/// At least 30 refused inputs with their rule and exact message; every rule except
/// `no-policy` (which needs a cluster without policies) appears, IPv4 and IPv6.
pub fn bad_input_table() -> Vec<BadInput> {
    use Rule::*;
    let row = |external_ip, rule, message: String, early| BadInput {
        external_ip,
        rule,
        message: format!("externalIP {message}"),
        apiserver_may_reject_first: early,
    };
    let not_allowed = |a: &str| {
        format!(
            "{a} refused: it is not in the allowedCIDRs of any ExternalIPPolicy that applies to \
             namespace tenant-a and user \"alice\" (applying: tenant-a-public); to allow it, \
             add {a} to the allowedCIDRs of an ExternalIPPolicy that applies to them"
        )
    };
    let mapped = |w: &str, v4: &str| format!("{w} (the IPv4-mapped form of {v4}) refused:");
    vec![
        row("not-an-ip", Malformed, format!("\"not-an-ip\" refused: it is not an IPv4 or IPv6 address; {EXAMPLE}"), true),
        row("", Malformed, format!("\"\" refused: it is empty; {EXAMPLE}"), true),
        row("   ", Malformed, format!("\"   \" refused: it is only whitespace; {EXAMPLE}"), true),
        row(" 203.0.113.10", Malformed, "\" 203.0.113.10\" refused: it has leading or trailing whitespace; write it as 203.0.113.10".into(), true),
        row("203.0.113.10\n", Malformed, "\"203.0.113.10\\n\" refused: it has leading or trailing whitespace; write it as 203.0.113.10".into(), true),
        row("203.0.113.0/25", Malformed, "\"203.0.113.0/25\" refused: it is a CIDR range, but an externalIP is a single address; list each address on its own, e.g. 203.0.113.0".into(), true),
        row("2001:db8:3::10/128", Malformed, "\"2001:db8:3::10/128\" refused: it is a CIDR range, but an externalIP is a single address; list each address on its own, e.g. 2001:db8:3::10".into(), true),
        row("203.0.113.10:80", Malformed, "\"203.0.113.10:80\" refused: it includes a port; write only the address 203.0.113.10 and put the port in spec.ports".into(), true),
        row("[2001:db8:3::10]", Malformed, "\"[2001:db8:3::10]\" refused: it is wrapped in brackets; write it as 2001:db8:3::10".into(), true),
        row("2001:db8:3::10%eth0", Malformed, "\"2001:db8:3::10%eth0\" refused: it carries an IPv6 zone index, which externalIPs do not take; write it as 2001:db8:3::10".into(), true),
        row("010.96.0.1", Malformed, "\"010.96.0.1\" refused: an octet has a leading zero, which some software reads as octal and some as decimal; write it without leading zeros (read as decimal it is 10.96.0.1)".into(), true),
        row("203.0.113", Malformed, format!("\"203.0.113\" refused: it is not an IPv4 or IPv6 address; {EXAMPLE}"), true),
        row("203.0.113.256", Malformed, format!("\"203.0.113.256\" refused: it is not an IPv4 or IPv6 address; {EXAMPLE}"), true),
        row("2001:db8:::1", Malformed, format!("\"2001:db8:::1\" refused: it is not an IPv4 or IPv6 address; {EXAMPLE}"), true),
        row("0.0.0.0", Unspecified, "0.0.0.0 refused: it is the unspecified address 0.0.0.0; externalIPs must be a specific unicast address".into(), true),
        row("::", Unspecified, ":: refused: it is the unspecified address ::; externalIPs must be a specific unicast address".into(), true),
        row("::ffff:0.0.0.0", Unspecified, format!("{} it is the unspecified address 0.0.0.0; externalIPs must be a specific unicast address", mapped("::ffff:0.0.0.0", "0.0.0.0")), true),
        row("127.0.0.1", Loopback, format!("127.0.0.1 refused: it is a loopback address (127.0.0.0/8); {LOOPBACK}"), true),
        row("127.255.0.9", Loopback, format!("127.255.0.9 refused: it is a loopback address (127.0.0.0/8); {LOOPBACK}"), true),
        row("::1", Loopback, format!("::1 refused: it is a loopback address (::1); {LOOPBACK}"), true),
        row("::ffff:127.0.0.1", Loopback, format!("{} it is a loopback address (127.0.0.0/8); {LOOPBACK}", mapped("::ffff:127.0.0.1", "127.0.0.1")), true),
        row("169.254.169.254", LinkLocal, format!("169.254.169.254 refused: it is a link-local address (169.254.0.0/16), {LINK_LOCAL}"), true),
        row("fe80::1", LinkLocal, format!("fe80::1 refused: it is a link-local address (fe80::/10), {LINK_LOCAL}"), true),
        row("febf::1", LinkLocal, format!("febf::1 refused: it is a link-local address (fe80::/10), {LINK_LOCAL}"), true),
        row("::ffff:169.254.1.1", LinkLocal, format!("{} it is a link-local address (169.254.0.0/16), {LINK_LOCAL}", mapped("::ffff:169.254.1.1", "169.254.1.1")), true),
        row("224.0.0.1", Multicast, format!("224.0.0.1 refused: it is a multicast address (224.0.0.0/4); {UNICAST}"), true),
        row("239.1.2.3", Multicast, format!("239.1.2.3 refused: it is a multicast address (224.0.0.0/4); {UNICAST}"), false),
        row("ff02::1", Multicast, format!("ff02::1 refused: it is a multicast address (ff00::/8); {UNICAST}"), true),
        row("ff0e::1", Multicast, format!("ff0e::1 refused: it is a multicast address (ff00::/8); {UNICAST}"), false),
        row("::ffff:239.1.2.3", Multicast, format!("{} it is a multicast address (224.0.0.0/4); {UNICAST}", mapped("::ffff:239.1.2.3", "239.1.2.3")), true),
        row("255.255.255.255", Broadcast, format!("255.255.255.255 refused: it is the IPv4 limited broadcast address 255.255.255.255; {UNICAST}"), false),
        row("::ffff:255.255.255.255", Broadcast, format!("{} it is the IPv4 limited broadcast address 255.255.255.255; {UNICAST}", mapped("::ffff:255.255.255.255", "255.255.255.255")), true),
        row("198.51.100.11", NodeAddress, format!("198.51.100.11 refused: it is node node-a's address {NODE}"), false),
        row("::ffff:198.51.100.11", NodeAddress, format!("{} it is node node-a's address {NODE}", mapped("::ffff:198.51.100.11", "198.51.100.11")), true),
        row("::ffff:c633:640c", NodeAddress, format!("{} it is node node-b's address {NODE}", mapped("::ffff:c633:640c", "198.51.100.12")), true),
        row("2001:db8:1::12", NodeAddress, format!("2001:db8:1::12 refused: it is node node-b's address {NODE}"), false),
        row("2001:db8:1:0::13", NodeAddress, format!("2001:db8:1:0::13 refused: it is node node-c's address {NODE}"), false),
        row("10.96.0.10", ServiceCidr, "10.96.0.10 refused: it is inside the Service ClusterIP range 10.96.0.0/16; externalIPs may never overlap ClusterIPs, pick an address outside 10.96.0.0/16".into(), false),
        row("fd00:10:96::a", ServiceCidr, "fd00:10:96::a refused: it is inside the Service ClusterIP range fd00:10:96::/112; externalIPs may never overlap ClusterIPs, pick an address outside fd00:10:96::/112".into(), false),
        row("192.0.2.10", IpPool, format!("192.0.2.10 refused: it is inside VIPPool pool-a (range 192.0.2.0-192.0.2.63), {POOL}"), false),
        row("2001:db8:2::10", IpPool, format!("2001:db8:2::10 refused: it is inside VIPPool pool-v6 (range 2001:db8:2::-2001:db8:2::ff), {POOL}"), false),
        row("203.0.113.50", ClaimedByOtherNamespace, format!("203.0.113.50 refused: it is already the externalIP of Service other-ns/web {CLAIMED}"), false),
        row("203.0.113.51", ClaimedByOtherNamespace, format!("203.0.113.51 refused: it is already the LoadBalancer IP of Service other-ns/lb {CLAIMED}"), false),
        row("2001:db8:3::50", ClaimedByOtherNamespace, format!("2001:db8:3::50 refused: it is already the externalIP of Service other-ns/web6 {CLAIMED}"), false),
        row("203.0.113.200", NotAllowedByPolicy, not_allowed("203.0.113.200"), false),
        row("3fff::1", NotAllowedByPolicy, not_allowed("3fff::1"), false),
        row("240.0.0.1", NotAllowedByPolicy, not_allowed("240.0.0.1"), false),
    ]
}

/// Inputs the example cluster allows, with the allowing policy's name.
pub fn good_input_table() -> Vec<(&'static str, &'static str)> {
    vec![
        ("203.0.113.10", "tenant-a-public"),
        ("2001:db8:3::10", "tenant-a-public"),
        ("::ffff:203.0.113.10", "tenant-a-public"),
        ("198.51.100.20", "tenant-a-public"),
        ("192.0.2.100", "tenant-a-public"),
        ("203.0.113.60", "tenant-a-public"),
        ("203.0.113.61", "tenant-a-public"),
    ]
}
