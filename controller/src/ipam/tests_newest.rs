//! [`plan_newest`] against the whole plan: Services planned on a settled base get what the
//! whole plan gives them, the base's Services keep their outcomes, the pools' usage is the
//! same, and so is the base the two leave.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use super::tests_props::{a_service, address, snapshot};
use super::tests_support::*;
use super::*;

/// Cases whose snapshot settled at once (a base to plan on), and of those the cases whose
/// newest Services were planned on it.
static BASES: AtomicUsize = AtomicUsize::new(0);
static PLANNED: AtomicUsize = AtomicUsize::new(0);
/// Cases whose whole plan left a base of its older Services.
static SPLIT: AtomicUsize = AtomicUsize::new(0);

/// How the newest Services are made.
#[derive(Debug, Clone, Copy)]
enum Newcomers {
    /// Holding nothing, without a sharing key or a requested address: always planned on the
    /// base.
    Plain,
    /// As generated, but without a sharing key: planned on the base unless one holds or
    /// requests an address of the base.
    Holding,
    /// As generated.
    Any,
}

fn newcomers() -> impl Strategy<Value = Newcomers> {
    prop_oneof![
        Just(Newcomers::Plain),
        Just(Newcomers::Holding),
        Just(Newcomers::Any)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    // Run by the test below, which counts its cases.
    fn newest_on_a_base_equal_the_whole_plan(
        (pools, services) in snapshot(),
        generated in vec(a_service(), 1..4),
        how in newcomers(),
        reserved_ip in option::of(address()),
    ) {
        let reserved: Reserved = reserved_ip
            .into_iter()
            .map(|ip| (ip, "address of node n".to_string()))
            .collect();
        // The base: the snapshot's Services that get all they ask for, holding their plan's
        // addresses (which mostly settles at once).
        let first = plan_with(&pools, &services, &reserved);
        let complete: Vec<ServiceRequest> = services
            .into_iter()
            .filter(|s| matches!(
                first.services.get(&s.key),
                Some(ServiceOutcome::Allocated { missing, .. }) if missing.is_empty()
            ))
            .collect();
        let stable = feed_back(&complete, &plan_with(&pools, &complete, &reserved));
        let stable_refs: Vec<&ServiceRequest> = stable.iter().collect();
        let (base_plan, settled) = plan_with_base(&pools, &stable_refs, &reserved);
        let Some(SettledPart { base, .. }) = settled.filter(|s| s.newer.is_empty()) else {
            return Ok(());
        };
        BASES.fetch_add(1, Ordering::Relaxed);
        let mut newest = Vec::new();
        for (i, mut s) in generated.into_iter().enumerate() {
            // Newer than every Service of the snapshot (created at 0..8), in reverse order.
            s.key.name = format!("new{i}").into();
            s.uid = format!("uid-new{i}");
            s.creation_order = (100 - i as i64, s.uid.clone());
            if matches!(how, Newcomers::Plain | Newcomers::Holding) {
                s.sharing_key = None;
            }
            if matches!(how, Newcomers::Plain) {
                s.requested_ips.clear();
                s.current.clear();
            }
            newest.push(s);
        }
        let all: Vec<ServiceRequest> = stable.iter().chain(&newest).cloned().collect();
        let all_refs: Vec<&ServiceRequest> = all.iter().collect();
        let (whole, whole_base) = plan_with_base(&pools, &all_refs, &reserved);
        let newest_refs: Vec<&ServiceRequest> = newest.iter().collect();
        // Where the whole plan leaves a base of its older Services, it is the base of a plan
        // of those alone, which settles whole.
        if let Some(part) = &whole_base
            && !part.newer.is_empty()
        {
            let older: Vec<&ServiceRequest> = all_refs
                .iter()
                .copied()
                .filter(|s| !part.newer.contains(&s.key))
                .collect();
            let alone = plan_with_base(&pools, &older, &reserved).1;
            prop_assert_eq!(
                alone,
                Some(SettledPart { base: part.base.clone(), newer: Vec::new() })
            );
            SPLIT.fetch_add(1, Ordering::Relaxed);
        }
        match plan_newest(&pools, &reserved, &base, &newest_refs) {
            Some(planned) => {
                PLANNED.fetch_add(1, Ordering::Relaxed);
                let mut combined = base_plan;
                combined.services.extend(planned.services);
                combined.pools = planned.pools;
                prop_assert_eq!(&combined, &whole);
                let whole_settled = whole_base.filter(|p| p.newer.is_empty()).map(|p| p.base);
                prop_assert_eq!(planned.base, whole_settled);
            }
            None => prop_assert!(
                !matches!(how, Newcomers::Plain),
                "Services holding nothing, without a sharing key or a requested address, were \
                 not planned on the base"
            ),
        }
    }
}

/// The newest Services planned on a settled base get what the whole plan gives them (the
/// property above), over cases of which most give a base and many are planned on it.
#[test]
fn the_newest_planned_on_a_settled_base_get_what_the_whole_plan_gives() {
    newest_on_a_base_equal_the_whole_plan();
    let (bases, planned) = (
        BASES.load(Ordering::Relaxed),
        PLANNED.load(Ordering::Relaxed),
    );
    assert!(
        bases > 2048 * 3 / 4,
        "only {bases} of 2048 snapshots settled at once"
    );
    assert!(
        planned > bases / 2,
        "only {planned} of {bases} planned on the base"
    );
    let split = SPLIT.load(Ordering::Relaxed);
    assert!(
        split > bases / 4,
        "only {split} of {bases} whole plans left their older part"
    );
}

/// Two newer Services of one key are not planned on the base, even when created at different
/// times (they are then not neighbours in the planner's order).
#[test]
fn two_newer_services_of_one_key_are_not_planned_on_the_base() {
    let pools = vec![pool("p0", 0, &["10.0.0.0/28"])];
    let (_, settled) = plan_with_base(&pools, &[], &Reserved::new());
    let base = settled.expect("an empty plan settles").base;
    let (a, b, c) = (svc("a", "x", 100), svc("a", "y", 101), svc("a", "x", 102));
    assert!(plan_newest(&pools, &Reserved::new(), &base, &[&a, &b]).is_some());
    assert!(plan_newest(&pools, &Reserved::new(), &base, &[&a, &b, &c]).is_none());
}
