//! Planner rules about pools: choice and order, flags, overlaps, usage, invalid entries.

use super::tests_support::*;
use super::*;
use ferrolb_adapter::selector::Selector;
use ferrolb_core::{AddressError, FamilyPolicy, IpFamily};

fn allocation(priority: Option<i32>, namespaces: &[&str]) -> ServiceAllocation {
    ServiceAllocation {
        priority,
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        ..ServiceAllocation::default()
    }
}

fn first_pool(plan: &Plan, ns: &str, name: &str) -> String {
    match outcome(plan, ns, name) {
        ServiceOutcome::Allocated { pool, .. } => pool.clone(),
        other => panic!("not allocated: {other:?}"),
    }
}

#[test]
fn lowest_free_address_of_the_only_pool() {
    let pools = [pool("lan", 0, &["10.0.0.10-10.0.0.12"])];
    let services = [svc("a", "one", 1), svc("a", "two", 2)];
    let plan = plan(&pools, &services);
    assert_eq!(ips(&plan, "a", "one"), vec![ip("10.0.0.10")]);
    assert_eq!(ips(&plan, "a", "two"), vec![ip("10.0.0.11")]);
    assert_eq!(change(&plan, "a", "one"), Change::New);
    assert_eq!(first_pool(&plan, "a", "two"), "lan");
}

#[test]
fn matching_allocation_first_then_priority_then_none_then_plain() {
    let mut plain = pool("plain", 0, &["10.0.0.0/30"]);
    plain.allocation = None;
    let mut no_prio = pool("no-prio", 1, &["10.0.1.0/30"]);
    no_prio.allocation = Some(allocation(None, &[]));
    let mut prio5 = pool("prio5", 2, &["10.0.2.0/30"]);
    prio5.allocation = Some(allocation(Some(5), &[]));
    let mut prio1 = pool("prio1", 3, &["10.0.3.1"]);
    prio1.allocation = Some(allocation(Some(1), &[]));
    let pools = [plain, no_prio, prio5, prio1];
    let services: Vec<_> = (0..7).map(|n| svc("a", &format!("s{n}"), n)).collect();
    let plan = plan(&pools, &services);
    let got: Vec<String> = (0..7)
        .map(|n| first_pool(&plan, "a", &format!("s{n}")))
        .collect();
    let want = [
        "prio1", "prio5", "prio5", "prio5", "prio5", "no-prio", "no-prio",
    ];
    assert_eq!(got, want);
}

#[test]
fn non_matching_allocation_is_never_used() {
    let mut other = pool("other-ns", 0, &["10.0.0.0/24"]);
    other.allocation = Some(allocation(Some(0), &["b"]));
    let plan1 = plan(&[other.clone()], &[svc("a", "web", 1)]);
    let (reason, message, keep) = failure(&plan1, "a", "web");
    assert_eq!(reason, FailureReason::NoEligiblePool);
    assert!(
        message.contains("do not select it in serviceAllocation"),
        "{message}"
    );
    assert!(keep.is_empty());
    let plan2 = plan(&[other], &[svc("b", "web", 1)]);
    assert_eq!(ips(&plan2, "b", "web"), vec![ip("10.0.0.0")]);
}

#[test]
fn every_given_allocation_criterion_must_match() {
    let mut p = pool("sel", 0, &["10.0.0.1"]);
    p.allocation = Some(ServiceAllocation {
        priority: None,
        namespaces: vec!["a".into()],
        namespace_selector: Some(Selector {
            match_labels: labels(&[("env", "prod")]),
            ..Selector::default()
        }),
        service_selector: Some(Selector {
            match_labels: labels(&[("app", "web")]),
            ..Selector::default()
        }),
    });
    let mut good = svc("a", "good", 1);
    good.namespace_labels = labels(&[("env", "prod")]);
    good.labels = labels(&[("app", "web")]);
    let mut wrong_ns_labels = good.clone();
    wrong_ns_labels.key = key("a", "ns-labels");
    wrong_ns_labels.namespace_labels = labels(&[("env", "dev")]);
    let mut wrong_svc_labels = good.clone();
    wrong_svc_labels.key = key("a", "svc-labels");
    wrong_svc_labels.labels.clear();
    let mut wrong_ns = good.clone();
    wrong_ns.key = key("b", "other-ns");
    let services = [wrong_ns_labels, wrong_svc_labels, wrong_ns, good];
    let plan = plan(&[p], &services);
    assert_eq!(ips(&plan, "a", "good"), vec![ip("10.0.0.1")]);
    for (ns, name) in [("a", "ns-labels"), ("a", "svc-labels"), ("b", "other-ns")] {
        assert_eq!(
            failure(&plan, ns, name).0,
            FailureReason::NoEligiblePool,
            "{ns}/{name}"
        );
    }
}

#[test]
fn ties_break_by_creation_order_then_name() {
    let pools = [
        pool("zeta", 0, &["10.0.0.1"]),
        pool("alpha", 0, &["10.0.0.2"]),
        pool("old", -5, &["10.0.0.3"]),
    ];
    let plan1 = plan(&pools, &[svc("a", "s", 1)]);
    assert_eq!(first_pool(&plan1, "a", "s"), "old");
    let plan2 = plan(&pools[..2], &[svc("a", "s", 1)]);
    assert_eq!(first_pool(&plan2, "a", "s"), "alpha");
}

#[test]
fn auto_assign_false_serves_only_explicit_requests() {
    let mut manual = pool("manual", 0, &["10.0.9.0/30"]);
    manual.auto_assign = false;
    let pools = [manual, pool("auto", 1, &["10.0.0.0/30"])];
    let mut by_pool = svc("a", "by-pool", 1);
    by_pool.requested_pool = Some("manual".into());
    let mut by_ip = svc("a", "by-ip", 2);
    by_ip.requested_ips = vec![ip("10.0.9.3")];
    let services = [svc("a", "plain", 0), by_pool, by_ip];
    let plan = plan(&pools, &services);
    assert_eq!(ips(&plan, "a", "plain"), vec![ip("10.0.0.0")]);
    assert_eq!(ips(&plan, "a", "by-pool"), vec![ip("10.0.9.0")]);
    assert_eq!(ips(&plan, "a", "by-ip"), vec![ip("10.0.9.3")]);
    let only_manual = plan_only_manual();
    assert!(only_manual.contains("autoAssign false"), "{only_manual}");
}

fn plan_only_manual() -> String {
    let mut manual = pool("manual", 0, &["10.0.9.0/30"]);
    manual.auto_assign = false;
    let plan = plan(&[manual], &[svc("a", "plain", 0)]);
    let (reason, message, _) = failure(&plan, "a", "plain");
    assert_eq!(reason, FailureReason::NoEligiblePool);
    message
}

#[test]
fn disabled_pool_keeps_existing_but_allocates_nothing_new() {
    let mut off = pool("off", 0, &["10.0.0.0/30"]);
    off.disabled = true;
    let mut existing = svc("a", "existing", 1);
    existing.current = vec![ip("10.0.0.2")];
    let services = [existing, svc("a", "new", 2)];
    let plan = plan(&[off.clone()], &services);
    assert_eq!(ips(&plan, "a", "existing"), vec![ip("10.0.0.2")]);
    assert_eq!(change(&plan, "a", "existing"), Change::Unchanged);
    let (reason, message, _) = failure(&plan, "a", "new");
    assert_eq!(reason, FailureReason::NoEligiblePool);
    assert!(message.contains("\"off\" is disabled"), "{message}");
    assert_eq!(plan.pools["off"].ipv4.available, 0);
    let mut by_ip = svc("a", "by-ip", 3);
    by_ip.requested_ips = vec![ip("10.0.0.1")];
    let plan = super::plan(&[off], &[by_ip]);
    let (reason, message, _) = failure(&plan, "a", "by-ip");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(message.contains("disabled"), "{message}");
}

#[test]
fn avoid_buggy_ips_skips_dot_zero_and_dot_255() {
    let mut p = pool("p", 0, &["10.0.0.255-10.0.1.1"]);
    p.avoid_buggy_ips = true;
    let services = [svc("a", "one", 1), svc("a", "two", 2)];
    let plan1 = plan(&[p.clone()], &services);
    assert_eq!(ips(&plan1, "a", "one"), vec![ip("10.0.1.1")]);
    assert_eq!(failure(&plan1, "a", "two").0, FailureReason::PoolExhausted);
    assert_eq!(
        plan1.pools["p"].ipv4,
        FamilyUsage {
            total: 3,
            used: 1,
            available: 0
        }
    );
    let mut asks = svc("a", "asks", 1);
    asks.requested_ips = vec![ip("10.0.1.0")];
    let plan2 = plan(&[p], &[asks]);
    let (reason, message, _) = failure(&plan2, "a", "asks");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(message.contains("avoidBuggyIPs"), "{message}");
}

#[test]
fn exhausted_pool_says_what_to_do() {
    let pools = [pool("lan-pool", 0, &["10.0.0.1"])];
    let plan = plan(&pools, &[svc("a", "one", 1), svc("a", "two", 2)]);
    let (reason, message, keep) = failure(&plan, "a", "two");
    assert_eq!(reason, FailureReason::PoolExhausted);
    assert!(
        message.contains("lan-pool (IPv4) has no free address; add addresses"),
        "{message}"
    );
    assert!(keep.is_empty());
}

#[test]
fn overlapping_pools_younger_never_allocates_the_overlap() {
    let pools = [
        pool("young", 2, &["10.0.0.0/30"]),
        pool("old", 1, &["10.0.0.2-10.0.0.3"]),
    ];
    let mut in_overlap = svc("a", "kept", 0);
    in_overlap.current = vec![ip("10.0.0.3")];
    in_overlap.requested_pool = Some("young".into());
    let mut young_only: Vec<_> = (1..=3).map(|n| svc("a", &format!("y{n}"), n)).collect();
    for s in &mut young_only {
        s.requested_pool = Some("young".into());
    }
    let mut services = vec![in_overlap];
    services.extend(young_only);
    let plan = plan(&pools, &services);
    assert_eq!(
        ips(&plan, "a", "kept"),
        vec![ip("10.0.0.3")],
        "existing allocation does not move"
    );
    assert_eq!(ips(&plan, "a", "y1"), vec![ip("10.0.0.0")]);
    assert_eq!(ips(&plan, "a", "y2"), vec![ip("10.0.0.1")]);
    assert_eq!(failure(&plan, "a", "y3").0, FailureReason::PoolExhausted);
    let conflicts: Vec<_> = plan.conflicts().collect();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (
            conflicts[0].pool.as_str(),
            conflicts[0].overlaps_with.as_str()
        ),
        ("young", "old")
    );
    assert!(
        conflicts[0]
            .to_string()
            .contains("remove them from one of the pools")
    );
    assert!(plan.pools["old"].conflicts.is_empty());
}

#[test]
fn usage_counts_large_pools_without_overflow() {
    let pools = [
        pool("v4", 0, &["192.0.2.0/24"]),
        pool("v6", 1, &["2001:db8::/64"]),
        pool("all", 2, &["::/0"]),
    ];
    let services: Vec<_> = (0..3)
        .map(|n| {
            let mut s = svc("a", &format!("s{n}"), n);
            s.families = vec![IpFamily::V6];
            s
        })
        .collect();
    let plan = plan(&pools, &services);
    assert_eq!(ips(&plan, "a", "s2"), vec![ip("2001:db8::2")]);
    let v4 = plan.pools["v4"].ipv4;
    assert_eq!(
        v4,
        FamilyUsage {
            total: 256,
            used: 0,
            available: 256
        }
    );
    let v6 = plan.pools["v6"].ipv6;
    assert_eq!(
        v6,
        FamilyUsage {
            total: 1 << 64,
            used: 3,
            available: (1 << 64) - 3
        }
    );
    let all = plan.pools["all"].ipv6;
    assert_eq!((all.total, all.used), (u128::MAX, 3));
    assert_eq!(
        all.available,
        u128::MAX - (1 << 64) + 1,
        "2^128 - 2^64: the /64 belongs to the older pool"
    );
    assert_eq!(
        plan.pools["all"].family(IpFamily::V4),
        &FamilyUsage::default()
    );
}

#[test]
fn bad_entry_is_reported_and_good_entries_still_serve() {
    let pools = [pool(
        "p",
        0,
        &["10.0.0.1", "10.0.0.300", "10.0.0.9-10.0.0.2"],
    )];
    let mut keeper = svc("a", "keeper", 0);
    keeper.current = vec![ip("10.0.0.5")];
    let plan = plan(&pools, &[keeper, svc("a", "new", 1)]);
    assert_eq!(ips(&plan, "a", "new"), vec![ip("10.0.0.1")]);
    assert_eq!(
        ips(&plan, "a", "keeper"),
        vec![ip("10.0.0.5")],
        "may have been covered by the bad entry"
    );
    let invalid = &plan.pools["p"].invalid_entries;
    assert_eq!(invalid.len(), 2);
    assert!(matches!(
        invalid[1].error,
        AddressError::StartAfterEnd { .. }
    ));
    assert_eq!(invalid[0].entry, "10.0.0.300");
}

#[test]
fn input_order_does_not_matter() {
    let pools = vec![
        pool("b", 1, &["10.0.0.0/29"]),
        pool("a", 1, &["10.0.1.0/29", "2001:db8::/120"]),
    ];
    let mut services: Vec<_> = (0..6)
        .map(|n| {
            dual(
                svc("x", &format!("s{n}"), n % 3),
                FamilyPolicy::PreferDualStack,
            )
        })
        .collect();
    services[2].current = vec![ip("10.0.0.5")];
    let plan1 = plan(&pools, &services);
    let mut pools_rev = pools.clone();
    pools_rev.reverse();
    services.reverse();
    assert_eq!(plan(&pools_rev, &services), plan1);
}

#[test]
fn edge_services_and_edge_pools_pair_only_with_each_other() {
    let mut edge = pool("edge", 5, &["10.0.5.0/30"]);
    edge.edge = true;
    let pools = [edge, pool("lan", 0, &["10.0.0.0/30"])];
    let mut at_edge = svc("a", "at-edge", 1);
    at_edge.edge = true;
    let plan1 = plan(&pools, &[svc("a", "plain", 0), at_edge.clone()]);
    assert_eq!(ips(&plan1, "a", "plain"), vec![ip("10.0.0.0")]);
    assert_eq!(ips(&plan1, "a", "at-edge"), vec![ip("10.0.5.0")]);

    // Asking across modes is refused with the reason and the fix.
    let mut wrong_pool = svc("a", "wrong-pool", 2);
    wrong_pool.requested_pool = Some("edge".into());
    let mut wrong_ip = at_edge.clone();
    wrong_ip.key.name = "wrong-ip".into();
    wrong_ip.requested_ips = vec![ip("10.0.0.3")];
    let plan2 = plan(&pools, &[wrong_pool, wrong_ip]);
    let (reason, message, _) = failure(&plan2, "a", "wrong-pool");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(
        message.contains("is an edge pool") && message.contains("ferrolb.io/mode: edge"),
        "{message}"
    );
    let (_, message, _) = failure(&plan2, "a", "wrong-ip");
    assert!(
        message.contains("10.0.0.3") && message.contains("not an edge pool"),
        "{message}"
    );

    // Only LAN pools: an edge Service gets nothing, and is told why.
    let plan3 = plan(&pools[1..], &[at_edge]);
    let (reason, message, _) = failure(&plan3, "a", "at-edge");
    assert_eq!(reason, FailureReason::NoEligiblePool);
    assert!(
        message.contains("is served by the edge") && message.contains("are not edge pools"),
        "{message}"
    );
}
