//! Planner rules about stability: keeping addresses, moving them only for a reason, disputes,
//! restarts, and speed.

use ferrolb_core::{FamilyPolicy, Protocol};
use std::time::Instant;

use super::tests_support::*;
use super::*;

fn lan() -> Vec<Pool> {
    vec![
        pool("lan", 0, &["10.0.0.0/24"]),
        pool("v6", 1, &["2001:db8::/64"]),
    ]
}

fn with_current(mut s: ServiceRequest, addrs: &[&str]) -> ServiceRequest {
    s.current = addrs.iter().map(|a| ip(a)).collect();
    s
}

fn moved(
    plan: &Plan,
    ns: &str,
    name: &str,
) -> (Vec<std::net::IpAddr>, Vec<std::net::IpAddr>, String) {
    match change(plan, ns, name) {
        Change::Moved { from, to, reason } => (from, to, reason),
        other => panic!("{ns}/{name} did not move: {other:?}"),
    }
}

#[test]
fn restart_reproduces_the_plan() {
    let services: Vec<_> = (0..20)
        .map(|n| {
            let s = svc("a", &format!("s{n}"), n % 4);
            if n % 3 == 0 {
                dual(s, FamilyPolicy::PreferDualStack)
            } else {
                s
            }
        })
        .collect();
    let first = plan(&lan(), &services);
    let again = plan(&lan(), &feed_back(&services, &first));
    for (k, outcome) in &again.services {
        assert_eq!(outcome.held_ips(), first.held_ips(k), "{k}");
        if let ServiceOutcome::Allocated { change, .. } = outcome {
            assert_eq!(change, &Change::Unchanged, "{k}");
        }
    }
    assert_eq!(again.pools, first.pools);
}

#[test]
fn a_better_pool_appearing_moves_nothing() {
    let services = [with_current(svc("a", "s", 1), &["10.0.0.7"])];
    let mut better = pool("better", 5, &["192.0.2.0/24"]);
    better.allocation = Some(ServiceAllocation {
        priority: Some(0),
        ..ServiceAllocation::default()
    });
    let mut pools = lan();
    pools.push(better);
    let plan = plan(&pools, &services);
    assert_eq!(ips(&plan, "a", "s"), vec![ip("10.0.0.7")]);
    assert_eq!(change(&plan, "a", "s"), Change::Unchanged);
    let plan = super::plan(&pools, &[svc("a", "fresh", 2)]);
    assert_eq!(ips(&plan, "a", "fresh"), vec![ip("192.0.2.0")]);
}

#[test]
fn pool_edit_that_uncovers_moves_with_reason() {
    let services = [with_current(svc("a", "s", 1), &["10.0.0.7"])];
    let shrunk = [pool("lan", 0, &["10.0.0.100-10.0.0.200"])];
    let plan = plan(&shrunk, &services);
    let (from, to, reason) = moved(&plan, "a", "s");
    assert_eq!((from, to), (vec![ip("10.0.0.7")], vec![ip("10.0.0.100")]));
    assert!(
        reason.contains("no VIPPool that serves this Service contains it any more"),
        "{reason}"
    );
}

#[test]
fn allocation_edit_that_excludes_the_service_moves_it() {
    let mut lan_b = pool("lan", 0, &["10.0.0.0/24"]);
    lan_b.allocation = Some(ServiceAllocation {
        namespaces: vec!["b".into()],
        ..ServiceAllocation::default()
    });
    let pools = [lan_b, pool("rest", 1, &["10.1.0.0/24"])];
    let plan = plan(&pools, &[with_current(svc("a", "s", 1), &["10.0.0.7"])]);
    assert_eq!(moved(&plan, "a", "s").1, vec![ip("10.1.0.0")]);
}

#[test]
fn disputed_address_stays_with_the_older_service() {
    let services = [
        with_current(svc("a", "young", 9), &["10.0.0.5"]),
        with_current(svc("a", "old", 1), &["10.0.0.5"]),
    ];
    let plan = plan(&lan(), &services);
    assert_eq!(ips(&plan, "a", "old"), vec![ip("10.0.0.5")]);
    let (from, to, reason) = moved(&plan, "a", "young");
    assert_eq!((from, to), (vec![ip("10.0.0.5")], vec![ip("10.0.0.0")]));
    assert!(
        reason.contains("Service a/old") && reason.contains("older Service keeps it"),
        "{reason}"
    );
}

#[test]
fn dropping_a_family_or_a_duplicate_is_reported() {
    let single = with_current(
        svc("a", "single", 1),
        &["10.0.0.3", "2001:db8::3", "10.0.0.4"],
    );
    let plan = plan(&lan(), &[single]);
    assert_eq!(ips(&plan, "a", "single"), vec![ip("10.0.0.3")]);
    let (from, to, reason) = moved(&plan, "a", "single");
    assert_eq!(
        (from, to),
        (vec![ip("2001:db8::3"), ip("10.0.0.4")], vec![])
    );
    assert!(reason.contains("no longer asks for an IPv6"), "{reason}");
    assert!(
        reason.contains("one IPv4 address and 10.0.0.3 is kept"),
        "{reason}"
    );
}

#[test]
fn removing_an_unrelated_service_moves_nothing() {
    let services: Vec<_> = (0..10).map(|n| svc("a", &format!("s{n}"), n)).collect();
    let stable = feed_back(&services, &plan(&lan(), &services));
    let fewer: Vec<_> = stable
        .iter()
        .filter(|s| &*s.key.name != "s3")
        .cloned()
        .collect();
    let plan = plan(&lan(), &fewer);
    for s in &fewer {
        assert_eq!(plan.held_ips(&s.key), s.current.as_slice(), "{}", s.key);
    }
    assert!(!plan.services.contains_key(&key("a", "s3")));
}

#[test]
fn a_move_that_frees_an_address_is_settled_in_one_plan() {
    // `early` is planned first but only the address `late` is leaving fits it.
    let pools = [pool("p", 0, &["10.0.0.1"]), pool("q", 1, &["10.0.0.2"])];
    let mut early = svc("a", "early", 1);
    early.requested_pool = Some("p".into());
    let mut late = with_current(svc("a", "late", 5), &["10.0.0.1"]);
    late.requested_pool = Some("q".into());
    let services = [early, late];
    let first = plan(&pools, &services);
    assert_eq!(ips(&first, "a", "early"), vec![ip("10.0.0.1")]);
    assert_eq!(moved(&first, "a", "late").1, vec![ip("10.0.0.2")]);
    let again = plan(&pools, &feed_back(&services, &first));
    assert_eq!(
        again.held_ips(&key("a", "early")),
        first.held_ips(&key("a", "early"))
    );
    assert_eq!(change(&again, "a", "late"), Change::Unchanged);
}

#[test]
fn five_thousand_services_plan_fast() {
    let services: Vec<_> = (0..5000)
        .map(|n| {
            let mut s = dual(
                svc(&format!("ns{}", n % 50), &format!("s{n}"), n),
                FamilyPolicy::PreferDualStack,
            );
            if n % 10 == 0 {
                s.sharing_key = Some("shared".into());
                s.ports = vec![(Protocol::Tcp, 1000 + (n / 50) as u16)];
            }
            s
        })
        .collect();
    let started = Instant::now();
    let first = plan(&lan(), &services);
    let cold = started.elapsed();
    let fed = feed_back(&services, &first);
    let started = Instant::now();
    let again = plan(&lan(), &fed);
    let warm = started.elapsed();
    println!("5000 services: first plan {cold:?}, steady-state plan {warm:?}");
    assert!(
        cold.as_secs_f64() < 5.0 && warm.as_secs_f64() < 5.0,
        "{cold:?} {warm:?}"
    );
    assert_eq!(first.pools["lan"].ipv4.available, 0);
    let with_both = first
        .services
        .values()
        .filter(|o| o.held_ips().len() == 2)
        .count();
    assert!(with_both >= 256, "{with_both}");
    assert_eq!(
        first.pools["v6"].ipv6.used,
        4500 + 5,
        "each of the 5 sharing groups holds one address"
    );
    assert_no_incompatible_sharing(&first, &services);
    for (k, o) in &again.services {
        assert_eq!(o.held_ips(), first.held_ips(k));
    }
}

#[test]
fn duplicate_keys_plan_only_the_oldest() {
    let young = with_current(svc("a", "s", 9), &["10.0.0.9"]);
    let old = with_current(svc("a", "s", 1), &["10.0.0.1"]);
    let plan = plan(&lan(), &[young, old]);
    assert_eq!(plan.services.len(), 1);
    assert_eq!(ips(&plan, "a", "s"), vec![ip("10.0.0.1")]);
    assert_eq!(plan.pools["lan"].ipv4.used, 1);
}
