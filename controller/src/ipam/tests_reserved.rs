//! Reserved addresses (Node addresses): never allocated, holders move off them, requests for
//! them are refused, pools list them.

use super::tests_support::*;
use super::*;
use ferrolb_core::Protocol;

fn reserved(entries: &[(&str, &str)]) -> Reserved {
    entries
        .iter()
        .map(|(addr, why)| (ip(addr), why.to_string()))
        .collect()
}

fn node_a() -> Reserved {
    reserved(&[("10.0.0.0", "address of node node-a")])
}

fn with_current(mut s: ServiceRequest, addrs: &[&str]) -> ServiceRequest {
    s.current = addrs.iter().map(|a| ip(a)).collect();
    s
}

#[test]
fn reserved_address_is_skipped_and_listed_but_not_counted() {
    let pools = [pool("lan", 0, &["10.0.0.0/30"])];
    let services = [svc("a", "one", 1), svc("a", "two", 2)];
    let plan = plan_with(&pools, &services, &node_a());
    assert_eq!(ips(&plan, "a", "one"), vec![ip("10.0.0.1")]);
    assert_eq!(ips(&plan, "a", "two"), vec![ip("10.0.0.2")]);
    let usage = &plan.pools["lan"];
    assert_eq!(usage.reserved, vec![ip("10.0.0.0")]);
    assert_eq!((usage.ipv4.total, usage.ipv4.used), (4, 2));
    assert_eq!(usage.ipv4.available, 1, "only 10.0.0.3 is left");
}

#[test]
fn plan_is_plan_with_nothing_reserved() {
    let pools = [pool("lan", 0, &["10.0.0.0/30"])];
    let services = [
        svc("a", "one", 1),
        with_current(svc("a", "two", 2), &["10.0.0.3"]),
    ];
    let plain = plan(&pools, &services);
    assert_eq!(plain, plan_with(&pools, &services, &Reserved::new()));
    assert!(plain.pools["lan"].reserved.is_empty());
    assert_eq!(ips(&plain, "a", "one"), vec![ip("10.0.0.0")]);
}

#[test]
fn holder_of_a_reserved_address_moves_with_the_reason() {
    let pools = [pool("lan", 0, &["10.0.0.0/30"])];
    let services = [with_current(svc("a", "web", 1), &["10.0.0.0"])];
    let plan = plan_with(&pools, &services, &node_a());
    let Change::Moved { from, to, reason } = change(&plan, "a", "web") else {
        panic!("not moved: {:?}", outcome(&plan, "a", "web"));
    };
    assert_eq!((from, to), (vec![ip("10.0.0.0")], vec![ip("10.0.0.1")]));
    assert!(reason.starts_with("10.0.0.0: "), "{reason}");
    assert!(reason.contains("address of node node-a"), "{reason}");
    assert!(reason.contains("reserved"), "{reason}");
    let again = plan_with(&pools, &feed_back(&services, &plan), &node_a());
    assert_eq!(change(&again, "a", "web"), Change::Unchanged);
    assert_eq!(ips(&again, "a", "web"), vec![ip("10.0.0.1")]);
}

#[test]
fn holder_without_another_address_fails_without_keeping_it() {
    let pools = [pool("one", 0, &["10.0.0.0/32"])];
    let services = [with_current(svc("a", "web", 1), &["10.0.0.0"])];
    let plan = plan_with(&pools, &services, &node_a());
    let (reason, message, keep) = failure(&plan, "a", "web");
    assert_eq!(reason, FailureReason::PoolExhausted, "{message}");
    assert!(
        keep.is_empty(),
        "a reserved address is never kept: {keep:?}"
    );
    let usage = &plan.pools["one"];
    assert_eq!((usage.ipv4.used, usage.ipv4.available), (0, 0));
}

#[test]
fn request_for_a_reserved_address_is_refused_and_current_kept() {
    let pools = [pool("lan", 0, &["10.0.0.0/30"])];
    let mut s = with_current(svc("a", "web", 1), &["10.0.0.2"]);
    s.requested_ips = vec![ip("10.0.0.0")];
    let plan = plan_with(&pools, &[s], &node_a());
    let (reason, message, keep) = failure(&plan, "a", "web");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(message.contains("10.0.0.0"), "{message}");
    assert!(message.contains("address of node node-a"), "{message}");
    assert!(message.contains("request another address"), "{message}");
    assert_eq!(keep, vec![ip("10.0.0.2")]);
}

#[test]
fn request_for_a_reserved_address_held_now_is_refused_and_dropped() {
    let pools = [pool("lan", 0, &["10.0.0.0/30"])];
    let mut s = with_current(svc("a", "web", 1), &["10.0.0.0"]);
    s.requested_ips = vec![ip("10.0.0.0")];
    let plan = plan_with(&pools, &[s], &node_a());
    let (reason, _, keep) = failure(&plan, "a", "web");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(keep.is_empty());
}

#[test]
fn sharing_group_on_a_reserved_address_moves_together() {
    let pools = [pool("lan", 0, &["10.0.0.0/29"])];
    let group = |name: &str, created: i64, port: u16| {
        let mut s = with_current(svc("a", name, created), &["10.0.0.0"]);
        s.sharing_key = Some("k".into());
        s.ports = vec![(Protocol::Tcp, port)];
        s
    };
    let services = [group("http", 1, 80), group("https", 2, 443)];
    let plan = plan_with(&pools, &services, &node_a());
    assert_eq!(ips(&plan, "a", "http"), vec![ip("10.0.0.1")]);
    assert_eq!(ips(&plan, "a", "https"), vec![ip("10.0.0.1")]);
    assert!(matches!(change(&plan, "a", "https"), Change::Moved { .. }));
}

#[test]
fn usage_lists_only_covered_reserved_addresses_in_order() {
    let mut buggy = pool("buggy", 1, &["10.0.1.0/24", "2001:db8::/126"]);
    buggy.avoid_buggy_ips = true;
    let mut off = pool("off", 2, &["10.0.2.0/31"]);
    off.disabled = true;
    let pools = [buggy, off];
    let reserved = reserved(&[
        ("2001:db8::1", "address of node node-b"),
        ("10.0.1.255", "address of node node-a"),
        ("10.0.1.7", "address of node node-c"),
        ("10.0.2.1", "address of node node-d"),
        ("192.0.2.1", "address of node node-e"),
    ]);
    let plan = plan_with(&pools, &[], &reserved);
    let usage = &plan.pools["buggy"];
    assert_eq!(
        usage.reserved,
        vec![ip("10.0.1.7"), ip("10.0.1.255"), ip("2001:db8::1")]
    );
    assert_eq!(usage.ipv4.total, 256);
    assert_eq!(
        usage.ipv4.available,
        256 - 2 - 1,
        ".0/.255 skipped once, .7"
    );
    assert_eq!(usage.ipv6.available, 3);
    let off = &plan.pools["off"];
    assert_eq!(off.reserved, vec![ip("10.0.2.1")]);
    assert_eq!(off.ipv4.available, 0);
}

#[test]
fn overlapping_pools_both_list_a_shared_reserved_address() {
    let pools = [
        pool("old", 0, &["10.0.0.0/30"]),
        pool("young", 1, &["10.0.0.0/29"]),
    ];
    let plan = plan_with(&pools, &[], &node_a());
    assert_eq!(plan.pools["old"].reserved, vec![ip("10.0.0.0")]);
    assert_eq!(plan.pools["young"].reserved, vec![ip("10.0.0.0")]);
    assert_eq!(plan.pools["old"].ipv4.available, 3);
    assert_eq!(plan.pools["young"].ipv4.available, 4, "owns .4-.7 only");
}

#[test]
fn empty_reason_still_reads_well() {
    let pools = [pool("lan", 0, &["10.0.0.0/30"])];
    let mut s = svc("a", "web", 1);
    s.requested_ips = vec![ip("10.0.0.0")];
    let plan = plan_with(&pools, &[s], &reserved(&[("10.0.0.0", "")]));
    let (_, message, _) = failure(&plan, "a", "web");
    assert!(
        message.starts_with("requested address 10.0.0.0 is reserved and"),
        "{message}"
    );
}
