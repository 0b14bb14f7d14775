//! One test per fixed rule, IPv4 and IPv6, with the exact message; rule order and ids.

use super::*;

fn assert_refused(addr: &str, rule: Rule, message: &str) {
    assert_eq!(refused(addr), (rule, message.to_string()), "for {addr:?}");
}

#[test]
fn malformed_v4_and_v6() {
    let ex = "write a single IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::10";
    assert_refused(
        "not-an-ip",
        Rule::Malformed,
        &format!("externalIP \"not-an-ip\" refused: it is not an IPv4 or IPv6 address; {ex}"),
    );
    assert_refused(
        "",
        Rule::Malformed,
        &format!("externalIP \"\" refused: it is empty; {ex}"),
    );
    assert_refused(
        " 1.2.3.4",
        Rule::Malformed,
        "externalIP \" 1.2.3.4\" refused: it has leading or trailing whitespace; write it as 1.2.3.4",
    );
    assert_refused(
        "1.2.3.0/24",
        Rule::Malformed,
        "externalIP \"1.2.3.0/24\" refused: it is a CIDR range, but an externalIP is a single \
         address; list each address on its own, e.g. 1.2.3.0",
    );
    assert_refused(
        "2001:db8::/64",
        Rule::Malformed,
        "externalIP \"2001:db8::/64\" refused: it is a CIDR range, but an externalIP is a single \
         address; list each address on its own, e.g. 2001:db8::",
    );
    assert_refused(
        "[2001:db8::1]:443",
        Rule::Malformed,
        "externalIP \"[2001:db8::1]:443\" refused: it includes a port; write only the address \
         2001:db8::1 and put the port in spec.ports",
    );
    let v = judge_with("nope", &allow_all(), None);
    assert_eq!((v.address.as_str(), v.ip), ("nope", None));
}

#[test]
fn unspecified_v4_and_v6() {
    let tail = "externalIPs must be a specific unicast address";
    assert_refused(
        "0.0.0.0",
        Rule::Unspecified,
        &format!("externalIP 0.0.0.0 refused: it is the unspecified address 0.0.0.0; {tail}"),
    );
    assert_refused(
        "::",
        Rule::Unspecified,
        &format!("externalIP :: refused: it is the unspecified address ::; {tail}"),
    );
}

#[test]
fn loopback_v4_v6_and_mapped() {
    let tail = "externalIPs must be reachable from outside the node";
    assert_refused(
        "127.1.2.3",
        Rule::Loopback,
        &format!("externalIP 127.1.2.3 refused: it is a loopback address (127.0.0.0/8); {tail}"),
    );
    assert_refused(
        "::1",
        Rule::Loopback,
        &format!("externalIP ::1 refused: it is a loopback address (::1); {tail}"),
    );
    assert_refused(
        "::ffff:127.0.0.1",
        Rule::Loopback,
        &format!(
            "externalIP ::ffff:127.0.0.1 (the IPv4-mapped form of 127.0.0.1) refused: \
             it is a loopback address (127.0.0.0/8); {tail}"
        ),
    );
    // The IPv4-compatible (not mapped) form is a different IPv6 address: not loopback.
    assert!(judge_with("::127.0.0.1", &allow_all(), None).is_allowed());
}

#[test]
fn link_local_v4_and_v6() {
    let tail = "valid only on one network segment; externalIPs may never be link-local addresses";
    assert_refused(
        "169.254.169.254",
        Rule::LinkLocal,
        &format!(
            "externalIP 169.254.169.254 refused: it is a link-local address (169.254.0.0/16), {tail}"
        ),
    );
    assert_refused(
        "fe80::abcd",
        Rule::LinkLocal,
        &format!("externalIP fe80::abcd refused: it is a link-local address (fe80::/10), {tail}"),
    );
    assert!(
        judge_with("fec0::1", &allow_all(), None).is_allowed(),
        "fec0 is not fe80::/10"
    );
}

#[test]
fn multicast_v4_and_v6() {
    let tail = "externalIPs must be unicast addresses";
    assert_refused(
        "239.255.255.250",
        Rule::Multicast,
        &format!(
            "externalIP 239.255.255.250 refused: it is a multicast address (224.0.0.0/4); {tail}"
        ),
    );
    assert_refused(
        "ff05::1:3",
        Rule::Multicast,
        &format!("externalIP ff05::1:3 refused: it is a multicast address (ff00::/8); {tail}"),
    );
}

#[test]
fn broadcast_v4_and_mapped() {
    let tail = "it is the IPv4 limited broadcast address 255.255.255.255; externalIPs must be \
                unicast addresses";
    assert_refused(
        "255.255.255.255",
        Rule::Broadcast,
        &format!("externalIP 255.255.255.255 refused: {tail}"),
    );
    assert_refused(
        "::ffff:255.255.255.255",
        Rule::Broadcast,
        &format!(
            "externalIP ::ffff:255.255.255.255 (the IPv4-mapped form of 255.255.255.255) \
             refused: {tail}"
        ),
    );
    // IPv6 has no broadcast; the all-ones address is multicast.
    assert_eq!(
        refused("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").0,
        Rule::Multicast
    );
}

#[test]
fn node_address_v4_v6_mapped_and_shared() {
    let tail = "(CVE-2020-8554); externalIPs may never be a node's address";
    assert_refused(
        "198.51.100.11",
        Rule::NodeAddress,
        &format!("externalIP 198.51.100.11 refused: it is node node-a's address {tail}"),
    );
    assert_refused(
        "2001:db8:1:0:0::11",
        Rule::NodeAddress,
        &format!("externalIP 2001:db8:1:0:0::11 refused: it is node node-v6's address {tail}"),
    );
    assert_refused(
        "::ffff:198.51.100.11",
        Rule::NodeAddress,
        &format!(
            "externalIP ::ffff:198.51.100.11 (the IPv4-mapped form of 198.51.100.11) refused: \
             it is node node-a's address {tail}"
        ),
    );
    // Two nodes with one address (VIP or misconfiguration), and a node address given in
    // mapped form in the facts: both protected, names sorted.
    let mut f = facts();
    f.node_addresses
        .push(("node-0".into(), ip("::ffff:198.51.100.11")));
    let r = review(&service(&["198.51.100.11"]), None, &allow_all(), &f);
    assert_eq!(
        r.verdicts[0].refusal(),
        Some(
            format!(
                "externalIP 198.51.100.11 refused: it is the address of nodes node-0, node-a {tail}"
            )
            .as_str()
        )
    );
}

#[test]
fn service_cidr_v4_and_v6() {
    assert_refused(
        "10.100.0.1",
        Rule::ServiceCidr,
        "externalIP 10.100.0.1 refused: it is inside the Service ClusterIP range 10.96.0.0/12; \
         externalIPs may never overlap ClusterIPs, pick an address outside 10.96.0.0/12",
    );
    assert_refused(
        "fd00:10:96::1:2",
        Rule::ServiceCidr,
        "externalIP fd00:10:96::1:2 refused: it is inside the Service ClusterIP range \
         fd00:10:96::/108; externalIPs may never overlap ClusterIPs, pick an address outside \
         fd00:10:96::/108",
    );
    assert!(
        judge_with("10.112.0.0", &allow_all(), None).is_allowed(),
        "just past /12"
    );
}

#[test]
fn vippool_v4_and_v6() {
    let tail = "whose addresses ferrolb assigns itself; use a Service of type LoadBalancer to \
                get an address from that pool instead";
    assert_refused(
        "192.0.2.127",
        Rule::IpPool,
        &format!(
            "externalIP 192.0.2.127 refused: it is inside VIPPool pool-a (range \
             192.0.2.0-192.0.2.127), {tail}"
        ),
    );
    assert_refused(
        "2001:db8:2::1",
        Rule::IpPool,
        &format!(
            "externalIP 2001:db8:2::1 refused: it is inside VIPPool pool-v6 (range \
             2001:db8:2::-2001:db8:2::ffff), {tail}"
        ),
    );
    assert!(
        judge_with("192.0.2.128", &allow_all(), None).is_allowed(),
        "just past pool"
    );
}

#[test]
fn claimed_by_other_namespace_v4_and_v6() {
    let tail = "in another namespace; an address may be used by one namespace only, pick \
                another address";
    assert_refused(
        "203.0.113.50",
        Rule::ClaimedByOtherNamespace,
        &format!(
            "externalIP 203.0.113.50 refused: it is already the externalIP of Service \
             other/web {tail}"
        ),
    );
    assert_refused(
        "2001:db8:3::51",
        Rule::ClaimedByOtherNamespace,
        &format!(
            "externalIP 2001:db8:3::51 refused: it is already the LoadBalancer IP of Service \
             other/lb6 {tail}"
        ),
    );
}

#[test]
fn same_namespace_and_own_claims_are_not_conflicts() {
    for addr in ["203.0.113.60", "203.0.113.61", "203.0.113.62"] {
        assert!(judge_with(addr, &allow_all(), None).is_allowed(), "{addr}");
    }
}

#[test]
fn fixed_rules_are_checked_in_order() {
    let mut f = facts();
    // 10.96.0.5 is a node, inside the ClusterIP range, in a pool and claimed elsewhere.
    f.node_addresses.push(("node-x".into(), ip("10.96.0.5")));
    f.pools
        .push(("pool-x".into(), vec![ip("10.96.0.0")..=ip("10.96.0.10")]));
    f.claims
        .push(claim("other", "x", "10.96.0.5", ClaimKind::ExternalIP));
    let rule = |f: &ClusterFacts| {
        review(&service(&["10.96.0.5"]), None, &allow_all(), f).verdicts[0].rule()
    };
    assert_eq!(rule(&f), Some(Rule::NodeAddress));
    f.node_addresses.retain(|(n, _)| n != "node-x");
    assert_eq!(rule(&f), Some(Rule::ServiceCidr));
    f.service_cidrs.clear();
    assert_eq!(rule(&f), Some(Rule::IpPool));
    f.pools.clear();
    assert_eq!(rule(&f), Some(Rule::ClaimedByOtherNamespace));
    f.claims.clear();
    assert_eq!(rule(&f), None);
    assert_eq!(rule(&ClusterFacts::default()), None);
}

#[test]
fn rule_ids_are_stable_and_distinct() {
    let ids: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        ids,
        [
            "malformed",
            "unspecified",
            "loopback",
            "link-local",
            "multicast",
            "broadcast",
            "node-address",
            "service-cidr",
            "vippool",
            "claimed-by-other-namespace",
            "no-policy",
            "not-allowed-by-policy",
        ]
    );
    assert_eq!(Rule::IpPool.to_string(), "vippool");
}

#[test]
fn mixed_family_pool_range_protects_nothing_and_is_reported() {
    let mut f = ClusterFacts::default();
    // IpAddr orders every IPv4 below every IPv6: a naive `start <= ip <= end` would
    // make this range swallow 203.0.113.9 and 2001:db8::1.
    f.pools
        .push(("mixed".into(), vec![ip("192.0.2.1")..=ip("2001:db8::ffff")]));
    let r = review(
        &service(&["203.0.113.9", "2001:db8::1"]),
        None,
        &allow_all(),
        &f,
    );
    assert!(r.allowed(), "{:?}", r.verdicts);
    assert_eq!(
        r.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        [
            "VIPPool mixed: range 192.0.2.1-2001:db8::ffff is empty or mixes IPv4 and IPv6, so it \
          protects nothing; write the lower address first, both of one family"
        ]
    );
}
