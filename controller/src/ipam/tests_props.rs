//! Property tests over random pools, Services and churn. The address universe is tiny so that
//! exhaustion, overlaps, disputes and sharing happen often.

use ferrolb_adapter::selector::{Selector, SelectorOperator, SelectorRequirement};
use ferrolb_core::{FamilyPolicy, IpFamily, Protocol, ServiceKey, TrafficPolicy, parse_address};
use std::collections::BTreeSet;
use std::net::IpAddr;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use super::tests_support::*;
use super::*;

fn v4_cidr() -> impl Strategy<Value = String> {
    (select(vec![28u32, 29, 30, 31, 32]), 0u32..32).prop_map(|(p, n)| {
        let size = 1 << (32 - p);
        format!("10.0.0.{}/{p}", n / size * size)
    })
}

fn v6_cidr() -> impl Strategy<Value = String> {
    (select(vec![124u32, 125, 126, 127, 128]), 0u32..32).prop_map(|(p, n)| {
        let size = 1 << (128 - p);
        format!("2001:db8::{:x}/{p}", n / size * size)
    })
}

fn entry() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u32..32, 0u32..8).prop_map(|(s, len)| format!("10.0.0.{s} - 10.0.0.{}", (s + len).min(31))),
        3 => v4_cidr(),
        2 => (0u32..32, 0u32..8).prop_map(|(s, len)| format!("2001:db8::{s:x}-2001:db8::{:x}", s + len)),
        2 => v6_cidr(),
        1 => select(vec!["bogus".to_string(), "10.0.0.9-10.0.0.1".to_string()]),
    ]
}

fn allocation() -> impl Strategy<Value = ServiceAllocation> {
    let namespaces = select(vec![vec![], vec!["a".to_string()], vec!["b".to_string()]]);
    let web = Selector {
        match_labels: labels(&[("app", "web")]),
        ..Selector::default()
    };
    // Invalid selectors match nothing: their pools only keep holders.
    let no_values = Selector {
        match_expressions: vec![SelectorRequirement {
            key: "app".into(),
            operator: SelectorOperator::In,
            values: vec![],
        }],
        ..Selector::default()
    };
    let service_selector = prop_oneof![
        4 => Just(web),
        1 => Just(no_values.clone()),
        1 => Just(Selector::nothing()),
    ];
    (
        option::of(0i32..3),
        namespaces,
        option::weighted(0.3, service_selector),
        option::weighted(0.1, Just(no_values)),
    )
        .prop_map(|(priority, namespaces, sel, ns_sel)| ServiceAllocation {
            priority,
            namespaces,
            namespace_selector: ns_sel,
            service_selector: sel,
        })
}

fn a_pool() -> impl Strategy<Value = Pool> {
    let flags = (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.15),
    );
    (
        vec(entry(), 1..5),
        0i64..4,
        flags,
        option::weighted(0.3, allocation()),
    )
        .prop_map(
            |(entries, created, (auto_assign, avoid_buggy_ips, disabled), allocation)| Pool {
                name: String::new(),
                addresses: entries,
                auto_assign,
                avoid_buggy_ips,
                disabled,
                allocation,
                creation_order: (created, String::new()),
                edge: false,
            },
        )
}

pub(super) fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        3 => (0u32..10).prop_map(|n| ip(&format!("10.0.0.{n}"))),
        1 => (0u32..36).prop_map(|n| ip(&format!("10.0.0.{n}"))),
        2 => (0u32..10).prop_map(|n| ip(&format!("2001:db8::{n:x}"))),
        1 => (0u32..36).prop_map(|n| ip(&format!("2001:db8::{n:x}"))),
    ]
}

fn addresses() -> impl Strategy<Value = Vec<IpAddr>> {
    prop_oneof![2 => Just(vec![]), 1 => vec(address(), 1..=2)]
}

pub(super) fn a_service() -> impl Strategy<Value = ServiceRequest> {
    let families = prop_oneof![
        2 => Just(vec![IpFamily::V4]),
        1 => Just(vec![IpFamily::V6]),
        3 => Just(vec![IpFamily::V4, IpFamily::V6]),
        1 => Just(vec![IpFamily::V6, IpFamily::V4]),
    ];
    let policy = prop_oneof![
        3 => Just(FamilyPolicy::SingleStack),
        3 => Just(FamilyPolicy::PreferDualStack),
        1 => Just(FamilyPolicy::RequireDualStack),
    ];
    let ports = vec(
        select(vec![
            (Protocol::Tcp, 80),
            (Protocol::Tcp, 443),
            (Protocol::Udp, 53),
        ]),
        1..=2,
    );
    let ns = prop_oneof![3 => Just("a"), 1 => Just("b")];
    let shape = (ns, 0i64..8, select(vec!["web", "db"]), families, policy);
    let asked = prop_oneof![5 => Just(vec![]), 1 => vec(address(), 1..=2)];
    let key = prop_oneof![3 => Just("k1"), 1 => Just("k2")];
    let request = (
        asked,
        option::weighted(0.1, 0usize..5),
        option::weighted(0.6, key),
    );
    let sharing = (
        ports,
        prop::bool::weighted(0.2),
        select(vec!["web", "db"]),
        addresses(),
    );
    (shape, request, sharing).prop_map(
        |(
            (ns, created, app, families, policy),
            (asked, pool, key),
            (ports, local, sel, current),
        )| {
            let mut s = svc(ns, "", created);
            s.labels = labels(&[("app", app)]);
            s.families = families;
            s.family_policy = policy;
            s.requested_ips = asked;
            s.requested_pool = pool.map(|p| format!("p{p}"));
            s.sharing_key = key.map(str::to_string);
            s.ports = ports;
            s.external_traffic_policy = if local {
                TrafficPolicy::Local
            } else {
                TrafficPolicy::Cluster
            };
            s.selector = labels(&[("app", sel)]);
            s.current = current;
            s
        },
    )
}

pub(super) fn snapshot() -> impl Strategy<Value = (Vec<Pool>, Vec<ServiceRequest>)> {
    (vec(a_pool(), 1..4), vec(a_service(), 0..12)).prop_map(|(mut pools, mut services)| {
        for (i, p) in pools.iter_mut().enumerate() {
            p.name = format!("p{i}");
            p.creation_order.1 = format!("uid-p{i}");
        }
        for (i, s) in services.iter_mut().enumerate() {
            s.key.name = format!("s{i}").into();
            s.uid = format!("uid-s{i}");
            s.creation_order.1 = s.uid.clone();
        }
        (pools, services)
    })
}

/// The plan as it would look if every Service's status already held its addresses.
pub(super) fn settled(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    for outcome in plan.services.values_mut() {
        if let ServiceOutcome::Allocated { change, .. } = outcome {
            *change = Change::Unchanged;
        }
    }
    plan
}

pub(super) fn allocated_ips(plan: &Plan) -> Vec<(ServiceKey, Vec<IpAddr>)> {
    plan.services
        .iter()
        .filter(|(_, o)| matches!(o, ServiceOutcome::Allocated { .. }))
        .map(|(k, o)| (k.clone(), o.held_ips().to_vec()))
        .collect()
}

pub(super) fn assert_kept(before: &[(ServiceKey, Vec<IpAddr>)], after: &Plan) {
    for (k, ips) in before {
        let now: BTreeSet<&IpAddr> = after.held_ips(k).iter().collect();
        assert!(
            ips.iter().all(|ip| now.contains(ip)),
            "{k} had {ips:?}, now {now:?}"
        );
    }
}

fn holders(plan: &Plan, ip: IpAddr) -> usize {
    plan.services
        .values()
        .filter(|o| o.held_ips().contains(&ip))
        .count()
}

/// A newly allocated, unshared address must come from an enabled pool that owns it (no older
/// pool covers it), honour avoidBuggyIPs, and be auto-assignable or explicitly requested.
fn check_fresh_allocation(pools: &[Pool], s: &ServiceRequest, ip: IpAddr, name: &str) {
    let pool = pools
        .iter()
        .find(|p| p.name == name)
        .expect("named pool exists");
    let covers = |p: &Pool| {
        p.addresses
            .iter()
            .any(|a| parse_address(a).is_ok_and(|r| r.contains(ip)))
    };
    assert!(covers(pool), "{}: {ip} not in {name}", s.key);
    assert!(
        !pool.disabled,
        "{}: {ip} newly taken from disabled {name}",
        s.key
    );
    let age = |p: &Pool| (p.creation_order.clone(), p.name.clone());
    let owner = pools
        .iter()
        .filter(|p| covers(p))
        .min_by_key(|p| age(p))
        .expect("covered");
    assert_eq!(
        owner.name, name,
        "{}: {ip} belongs to older {}",
        s.key, owner.name
    );
    assert!(
        pool.allocation
            .as_ref()
            .is_none_or(|a| a.selector_problems().is_empty()),
        "{}: {ip} newly taken from {name}, whose selector is invalid",
        s.key
    );
    if let IpAddr::V4(v4) = ip {
        let last = v4.octets()[3];
        assert!(
            !pool.avoid_buggy_ips || (last != 0 && last != 255),
            "{}: buggy {ip}",
            s.key
        );
    }
    let explicit = s.requested_pool.as_deref() == Some(name) || s.requested_ips.contains(&ip);
    assert!(
        pool.auto_assign || explicit,
        "{}: {ip} auto-assigned from {name}",
        s.key
    );
}

pub(super) fn check_invariants(pools: &[Pool], services: &[ServiceRequest], plan: &Plan) {
    assert_eq!(
        plan.services.len(),
        services.len(),
        "every Service has an outcome"
    );
    assert_no_incompatible_sharing(plan, services);
    let some_invalid = pools
        .iter()
        .flat_map(|p| &p.addresses)
        .any(|a| parse_address(a).is_err());
    for s in services {
        let mut wanted: Vec<IpFamily> = Vec::new();
        s.families.iter().for_each(|f| {
            if !wanted.contains(f) {
                wanted.push(*f)
            }
        });
        if s.family_policy == FamilyPolicy::SingleStack {
            wanted.truncate(1);
        }
        match &plan.services[&s.key] {
            ServiceOutcome::Allocated {
                ips, pools: names, ..
            } => {
                assert!(!ips.is_empty() && ips.len() == names.len(), "{}", s.key);
                let fams: Vec<IpFamily> = ips.iter().map(|i| IpFamily::of(*i)).collect();
                assert!(
                    fams.iter().all(|f| wanted.contains(f)),
                    "{}: {ips:?}",
                    s.key
                );
                assert!(
                    fams.len() == 1 || fams[0] != fams[1],
                    "{}: one per family",
                    s.key
                );
                match s.family_policy {
                    FamilyPolicy::SingleStack => assert_eq!(fams, wanted),
                    FamilyPolicy::RequireDualStack => assert_eq!(fams.len(), 2),
                    FamilyPolicy::PreferDualStack => {}
                }
                for (ip, name) in ips.iter().zip(names) {
                    let covered = pools
                        .iter()
                        .flat_map(|p| &p.addresses)
                        .any(|a| parse_address(a).is_ok_and(|r| r.contains(*ip)));
                    assert!(covered || some_invalid, "{}: {ip} is in no pool", s.key);
                    if !s.current.contains(ip) {
                        assert!(
                            plan.pools[name].selector_problems.is_empty(),
                            "{}: {ip} newly given from {name}, whose selector is invalid",
                            s.key
                        );
                    }
                    if !s.current.contains(ip) && holders(plan, *ip) == 1 {
                        check_fresh_allocation(pools, s, *ip, name);
                    }
                }
            }
            ServiceOutcome::Failed { message, keep, .. } => {
                assert!(!message.is_empty());
                if s.family_policy == FamilyPolicy::RequireDualStack {
                    assert!(keep.is_empty() || keep.len() == 2, "{}: never half", s.key);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold((pools, services) in snapshot()) {
        let plan = plan(&pools, &services);
        check_invariants(&pools, &services, &plan);
    }

    #[test]
    fn feeding_the_plan_back_reproduces_it((pools, services) in snapshot()) {
        let first = plan(&pools, &services);
        let fed = feed_back(&services, &first);
        let second = plan(&pools, &fed);
        prop_assert_eq!(&second, &settled(&first));
        let third = plan(&pools, &feed_back(&fed, &second));
        prop_assert_eq!(third, second);
    }

    #[test]
    fn same_snapshot_in_any_order_same_plan((pools, services) in snapshot(), seed in any::<u64>()) {
        let first = plan(&pools, &services);
        let (mut p, mut s) = (pools.clone(), services.clone());
        let (np, ns) = (p.len().max(1), s.len().max(1));
        p.rotate_left((seed as usize) % np);
        s.reverse();
        s.rotate_left((seed as usize) % ns);
        prop_assert_eq!(plan(&p, &s), first);
    }

    #[test]
    fn removing_a_service_moves_no_other((pools, services) in snapshot(), victim in any::<usize>()) {
        if services.is_empty() {
            return Ok(());
        }
        let stable = feed_back(&services, &plan(&pools, &services));
        let before = plan(&pools, &stable);
        let gone = &stable[victim % stable.len()].key;
        let rest: Vec<_> = stable.iter().filter(|s| &s.key != gone).cloned().collect();
        let after = plan(&pools, &rest);
        let kept: Vec<_> = allocated_ips(&before).into_iter().filter(|(k, _)| k != gone).collect();
        assert_kept(&kept, &after);
        check_invariants(&pools, &rest, &after);
    }

    #[test]
    fn churn_keeps_allocated_addresses(
        (pools, services) in snapshot(),
        newcomers in vec(a_service(), 0..4),
        extra in entry(),
        edited in any::<usize>(),
        flip in any::<(bool, bool, bool)>(),
        break_selector in any::<bool>(),
    ) {
        let stable = feed_back(&services, &plan(&pools, &services));
        let before = allocated_ips(&plan(&pools, &stable));
        let mut more = stable.clone();
        for (i, mut s) in newcomers.into_iter().enumerate() {
            s.key.name = format!("new{i}").into();
            s.current.clear();
            more.push(s);
        }
        let mut edited_pools = pools.clone();
        let target = edited % edited_pools.len();
        let p = &mut edited_pools[target];
        p.addresses.push(extra);
        p.disabled ^= flip.0;
        p.auto_assign ^= flip.1;
        p.avoid_buggy_ips ^= flip.2;
        if break_selector {
            // As the shell does for an unknown operator: holders keep their addresses.
            let alloc = p.allocation.get_or_insert_with(ServiceAllocation::default);
            alloc.service_selector = Some(Selector::nothing());
        }
        let after = plan(&edited_pools, &more);
        assert_kept(&before, &after);
        check_invariants(&edited_pools, &more, &after);
    }
}
