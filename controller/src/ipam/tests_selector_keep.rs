//! A pool whose `serviceAllocation` selector is invalid keeps its holders but makes no new
//! allocation (neither automatic nor requested) until the selector is fixed.

use super::tests_support::*;
use super::*;
use ferrolb_adapter::selector::{Selector, SelectorOperator, SelectorRequirement};
use ferrolb_core::Protocol;

fn valid() -> Selector {
    Selector {
        match_labels: labels(&[("app", "web")]),
        ..Selector::default()
    }
}

/// `Exists` with values: invalid (Kubernetes would reject it).
fn invalid() -> Selector {
    Selector {
        match_expressions: vec![SelectorRequirement {
            key: "app".into(),
            operator: SelectorOperator::Exists,
            values: vec!["web".into()],
        }],
        ..Selector::default()
    }
}

fn sel(service: Selector) -> Pool {
    let mut p = pool("sel", 0, &["192.0.2.0/30"]);
    p.allocation = Some(ServiceAllocation {
        service_selector: Some(service),
        ..ServiceAllocation::default()
    });
    p
}

fn web(name: &str, created: i64) -> ServiceRequest {
    let mut s = svc("a", name, created);
    s.labels = labels(&[("app", "web")]);
    s
}

fn holding(mut s: ServiceRequest, addr: &str) -> ServiceRequest {
    s.current = vec![ip(addr)];
    s
}

/// The holder's address stays, unchanged, while the pool's selector is `broken`.
fn assert_holder_kept(broken: Selector) {
    let services = [web("holder", 1)];
    let first = plan(&[sel(valid())], &services);
    assert_eq!(ips(&first, "a", "holder"), vec![ip("192.0.2.0")]);
    let stable = feed_back(&services, &first);
    let plan = plan(&[sel(broken)], &stable);
    assert!(!plan.pools["sel"].selector_problems.is_empty());
    assert_eq!(ips(&plan, "a", "holder"), vec![ip("192.0.2.0")]);
    assert_eq!(change(&plan, "a", "holder"), Change::Unchanged);
    let usage = plan.pools["sel"].ipv4;
    assert_eq!((usage.used, usage.available), (1, 0), "no new allocation");
}

#[test]
fn holder_keeps_its_address_across_an_invalid_selector_edit() {
    assert_holder_kept(invalid());
}

#[test]
fn holder_keeps_its_address_when_the_operator_was_unknown() {
    // The shell stands in `Selector::nothing()` for a selector it could not convert.
    assert_holder_kept(Selector::nothing());
}

#[test]
fn holder_keeps_its_address_when_the_namespace_selector_breaks() {
    let mut p = sel(valid());
    let services = [holding(web("holder", 1), "192.0.2.1")];
    if let Some(alloc) = p.allocation.as_mut() {
        alloc.namespace_selector = Some(invalid());
    }
    let plan = plan(&[p], &services);
    assert_eq!(ips(&plan, "a", "holder"), vec![ip("192.0.2.1")]);
    assert_eq!(change(&plan, "a", "holder"), Change::Unchanged);
}

#[test]
fn fixing_the_selector_changes_nothing_for_the_holder() {
    let services = [holding(web("holder", 1), "192.0.2.2")];
    let broken = plan(&[sel(invalid())], &services);
    assert_eq!(ips(&broken, "a", "holder"), vec![ip("192.0.2.2")]);
    let fixed = plan(&[sel(valid())], &feed_back(&services, &broken));
    assert!(fixed.pools["sel"].selector_problems.is_empty());
    assert_eq!(ips(&fixed, "a", "holder"), vec![ip("192.0.2.2")]);
    assert_eq!(change(&fixed, "a", "holder"), Change::Unchanged);
    assert_eq!(fixed.pools["sel"].ipv4.available, 3);
}

#[test]
fn a_new_service_gets_nothing_from_that_pool() {
    let services = [holding(web("holder", 1), "192.0.2.0"), web("new", 2)];
    let plan = plan(&[sel(invalid())], &services);
    assert_eq!(ips(&plan, "a", "holder"), vec![ip("192.0.2.0")]);
    let (reason, message, keep) = failure(&plan, "a", "new");
    assert_eq!(reason, FailureReason::NoEligiblePool);
    assert!(keep.is_empty());
    assert!(
        message.contains("pool \"sel\"") && message.contains("invalid serviceAllocation selector"),
        "{message}"
    );
}

#[test]
fn a_new_service_goes_to_another_pool_instead() {
    let mut preferred = sel(invalid());
    if let Some(alloc) = preferred.allocation.as_mut() {
        alloc.priority = Some(0);
    }
    let pools = [preferred, pool("other", 1, &["198.51.100.0/30"])];
    let services = [holding(web("holder", 1), "192.0.2.1"), web("new", 2)];
    let plan = plan(&pools, &services);
    assert_eq!(ips(&plan, "a", "holder"), vec![ip("192.0.2.1")]);
    assert_eq!(ips(&plan, "a", "new"), vec![ip("198.51.100.0")]);
}

#[test]
fn explicit_requests_are_refused_naming_the_selector_problem() {
    let mut by_addr = web("by-addr", 2);
    by_addr.requested_ips = vec![ip("192.0.2.3")];
    let mut by_pool = web("by-pool", 3);
    by_pool.requested_pool = Some("sel".into());
    let services = [holding(web("holder", 1), "192.0.2.0"), by_addr, by_pool];
    let plan = plan(&[sel(invalid())], &services);
    assert_eq!(ips(&plan, "a", "holder"), vec![ip("192.0.2.0")]);
    for name in ["by-addr", "by-pool"] {
        let (reason, message, keep) = failure(&plan, "a", name);
        assert_eq!(reason, FailureReason::RequestRefused, "{name}: {message}");
        assert!(keep.is_empty());
        assert!(
            message.contains("pool \"sel\"")
                && message.contains("serviceAllocation.serviceSelector: matchExpressions entry 0")
                && message.contains("fix the selector"),
            "{name}: {message}"
        );
    }
}

#[test]
fn a_holder_whose_request_it_already_holds_stays_allocated() {
    let mut by_addr = holding(web("by-addr", 1), "192.0.2.1");
    by_addr.requested_ips = vec![ip("192.0.2.1")];
    let mut by_pool = holding(web("by-pool", 2), "192.0.2.2");
    by_pool.requested_pool = Some("sel".into());
    let plan = plan(&[sel(invalid())], &[by_addr, by_pool]);
    assert_eq!(change(&plan, "a", "by-addr"), Change::Unchanged);
    assert_eq!(ips(&plan, "a", "by-addr"), vec![ip("192.0.2.1")]);
    assert_eq!(change(&plan, "a", "by-pool"), Change::Unchanged);
    assert_eq!(ips(&plan, "a", "by-pool"), vec![ip("192.0.2.2")]);
}

#[test]
fn a_holder_asking_to_move_within_the_pool_is_refused_and_keeps() {
    let mut mover = holding(web("mover", 1), "192.0.2.1");
    mover.requested_ips = vec![ip("192.0.2.2")];
    let plan = plan(&[sel(invalid())], &[mover]);
    let (reason, message, keep) = failure(&plan, "a", "mover");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(message.contains("fix the selector"), "{message}");
    assert_eq!(keep, vec![ip("192.0.2.1")]);
}

#[test]
fn joining_a_sharing_group_in_that_pool_is_a_new_allocation() {
    let shared = |mut s: ServiceRequest, port: u16| {
        s.sharing_key = Some("k".into());
        s.ports = vec![(Protocol::Tcp, port)];
        s
    };
    let services = [
        shared(holding(web("first", 1), "192.0.2.0"), 80),
        shared(web("second", 2), 443),
    ];
    let plan = plan(&[sel(invalid())], &services);
    assert_eq!(ips(&plan, "a", "first"), vec![ip("192.0.2.0")]);
    let (reason, message, keep) = failure(&plan, "a", "second");
    assert_eq!(reason, FailureReason::SharingConflict);
    assert!(
        message.contains("invalid serviceAllocation selector"),
        "{message}"
    );
    assert!(keep.is_empty());
}

#[test]
fn the_other_keep_rules_still_apply() {
    // Valid parts of the allocation still count: a namespace the pool does not list loses it.
    let mut elsewhere = sel(invalid());
    if let Some(alloc) = elsewhere.allocation.as_mut() {
        alloc.namespaces = vec!["b".into()];
    }
    let services = [holding(web("holder", 1), "192.0.2.1")];
    let (reason, _, keep) = failure(&plan(&[elsewhere], &services), "a", "holder");
    assert_eq!((reason, keep), (FailureReason::NoEligiblePool, vec![]));

    // Outside the pool, of an unwanted family, or reserved: given up.
    let outside = [holding(web("holder", 1), "203.0.113.1")];
    let (_, _, keep) = failure(&plan(&[sel(invalid())], &outside), "a", "holder");
    assert!(keep.is_empty());
    let v6 = [holding(web("holder", 1), "2001:db8::1")];
    let mut v6_pool = sel(invalid());
    v6_pool.addresses.push("2001:db8::/126".into());
    let (_, _, keep) = failure(&plan(&[v6_pool], &v6), "a", "holder");
    assert!(keep.is_empty());
    let reserved = Reserved::from([(ip("192.0.2.1"), "address of node n".to_string())]);
    let (_, _, keep) = failure(
        &plan_with(&[sel(invalid())], &services, &reserved),
        "a",
        "holder",
    );
    assert!(keep.is_empty());

    // Disputed: the older of two incompatible holders keeps it.
    let both = [
        holding(web("old", 1), "192.0.2.1"),
        holding(web("young", 2), "192.0.2.1"),
    ];
    let plan = plan(&[sel(invalid())], &both);
    assert_eq!(ips(&plan, "a", "old"), vec![ip("192.0.2.1")]);
    let (_, _, keep) = failure(&plan, "a", "young");
    assert!(keep.is_empty());
}
