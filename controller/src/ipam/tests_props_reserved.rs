//! Property tests with reserved addresses, over the snapshots of `tests_props`.

use ferrolb_core::parse_address;
use std::collections::BTreeSet;
use std::net::IpAddr;

use proptest::collection::vec;
use proptest::prelude::*;

use super::tests_props::{
    address, allocated_ips, assert_kept, check_invariants, settled, snapshot,
};
use super::tests_support::*;
use super::*;

fn reservations() -> impl Strategy<Value = Reserved> {
    vec(address(), 0..5).prop_map(|addrs| {
        addrs
            .into_iter()
            .enumerate()
            .map(|(n, ip)| (ip, format!("address of node node-{n}")))
            .collect()
    })
}

fn assert_none_given_out(plan: &Plan, reserved: &Reserved) {
    for (key, outcome) in &plan.services {
        for ip in outcome.held_ips() {
            assert!(!reserved.contains_key(ip), "{key} holds reserved {ip}");
        }
        if let ServiceOutcome::Allocated {
            change: Change::Moved { from, reason, .. },
            ..
        } = outcome
        {
            for ip in from.iter().filter(|ip| reserved.contains_key(ip)) {
                assert!(
                    reason.contains(&format!("{ip}: it is reserved ({})", reserved[ip])),
                    "{key}: {reason}"
                );
            }
        }
    }
}

/// Each pool lists exactly the reserved addresses its valid entries cover, ascending.
fn assert_pools_list_them(pools: &[Pool], plan: &Plan, reserved: &Reserved) {
    let mut seen = BTreeSet::new();
    for p in pools {
        if !seen.insert(&p.name) {
            continue;
        }
        let covered: Vec<IpAddr> = reserved
            .keys()
            .copied()
            .filter(|ip| {
                p.addresses
                    .iter()
                    .any(|a| parse_address(a).is_ok_and(|r| r.contains(*ip)))
            })
            .collect();
        assert_eq!(plan.pools[&p.name].reserved, covered, "pool {}", p.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_plan_gives_out_a_reserved_address(
        (pools, services) in snapshot(),
        reserved in reservations(),
    ) {
        let plan = plan_with(&pools, &services, &reserved);
        assert_none_given_out(&plan, &reserved);
        assert_pools_list_them(&pools, &plan, &reserved);
        check_invariants(&pools, &services, &plan);
    }

    #[test]
    fn feeding_back_with_reservations_reproduces_the_plan(
        (pools, services) in snapshot(),
        reserved in reservations(),
    ) {
        let first = plan_with(&pools, &services, &reserved);
        let fed = feed_back(&services, &first);
        let second = plan_with(&pools, &fed, &reserved);
        prop_assert_eq!(&second, &settled(&first));
        let third = plan_with(&pools, &feed_back(&fed, &second), &reserved);
        prop_assert_eq!(third, second);
    }

    #[test]
    fn reserving_moves_only_holders_of_reserved_addresses(
        (pools, services) in snapshot(),
        reserved in reservations(),
    ) {
        let stable = feed_back(&services, &plan(&pools, &services));
        let before: Vec<_> = allocated_ips(&plan(&pools, &stable))
            .into_iter()
            .filter(|(_, ips)| ips.iter().all(|ip| !reserved.contains_key(ip)))
            .collect();
        let after = plan_with(&pools, &stable, &reserved);
        assert_kept(&before, &after);
        assert_none_given_out(&after, &reserved);
    }
}
