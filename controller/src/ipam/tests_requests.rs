//! Planner rules about explicit requests, sharing and dual-stack.

use super::tests_support::*;
use super::*;
use ferrolb_core::{FamilyPolicy, IpFamily, Protocol, TrafficPolicy};

fn lan() -> Vec<Pool> {
    vec![
        pool("lan", 0, &["10.0.0.0/24"]),
        pool("v6", 1, &["2001:db8::/64"]),
    ]
}

fn asking(ns: &str, name: &str, created: i64, addrs: &[&str]) -> ServiceRequest {
    let mut s = svc(ns, name, created);
    s.requested_ips = addrs.iter().map(|a| ip(a)).collect();
    s
}

fn sharing(ns: &str, name: &str, created: i64, key: &str, port: u16) -> ServiceRequest {
    let mut s = svc(ns, name, created);
    s.sharing_key = Some(key.to_string());
    s.ports = vec![(Protocol::Tcp, port)];
    s
}

#[test]
fn requested_address_is_granted_and_lowest_free_skips_it() {
    let services = [asking("a", "asks", 1, &["10.0.0.0"]), svc("a", "auto", 2)];
    let plan = plan(&lan(), &services);
    assert_eq!(ips(&plan, "a", "asks"), vec![ip("10.0.0.0")]);
    assert_eq!(ips(&plan, "a", "auto"), vec![ip("10.0.0.1")]);
}

#[test]
fn refused_requests_name_the_cause() {
    let mut other = pool("other", 2, &["192.0.2.0/24"]);
    other.allocation = Some(ServiceAllocation {
        namespaces: vec!["b".into()],
        ..ServiceAllocation::default()
    });
    let mut pools = lan();
    pools.push(other);
    let mut in_wrong_pool = asking("a", "wrong-pool", 5, &["10.0.0.9"]);
    in_wrong_pool.requested_pool = Some("v6".into());
    let services = [
        asking("a", "wrong-family", 1, &["2001:db8::5"]),
        asking("a", "outside", 2, &["203.0.113.1"]),
        asking("a", "not-served", 3, &["192.0.2.1"]),
        asking("a", "holder", 4, &["10.0.0.7"]),
        asking("a", "taken", 6, &["10.0.0.7"]),
        in_wrong_pool,
    ];
    let plan = plan(&pools, &services);
    let expect = [
        (
            "wrong-family",
            "is IPv6 but Service a/wrong-family only gets IPv4",
        ),
        ("outside", "203.0.113.1 is in no VIPPool"),
        (
            "not-served",
            "is in pool \"other\", whose serviceAllocation does not select",
        ),
        ("taken", "10.0.0.7 is used by Service a/holder"),
        (
            "wrong-pool",
            "is not in pool \"v6\" named by annotation ferrolb.io/ip-pool",
        ),
    ];
    for (name, text) in expect {
        let (reason, message, keep) = failure(&plan, "a", name);
        assert_eq!(reason, FailureReason::RequestRefused, "{name}: {message}");
        assert!(message.contains(text), "{name}: {message}");
        assert!(keep.is_empty());
    }
    assert_eq!(
        ips(&plan, "a", "holder"),
        vec![ip("10.0.0.7")],
        "the holder does not move"
    );
}

#[test]
fn more_than_one_address_per_family_is_invalid_and_keeps_current() {
    let mut s = asking("a", "greedy", 1, &["10.0.0.1", "10.0.0.2", "2001:db8::1"]);
    s.current = vec![ip("10.0.0.9")];
    let plan = plan(&lan(), &[s]);
    let (reason, message, keep) = failure(&plan, "a", "greedy");
    assert_eq!(reason, FailureReason::InvalidRequest);
    assert!(
        message.contains("2 IPv4 addresses (10.0.0.1, 10.0.0.2)"),
        "{message}"
    );
    assert_eq!(keep, vec![ip("10.0.0.9")]);
}

#[test]
fn requested_pool_restricts_the_choice() {
    let pools = [
        pool("first", 0, &["10.0.0.1"]),
        pool("second", 1, &["10.0.1.1-10.0.1.2"]),
    ];
    let mut pinned = svc("a", "pinned", 1);
    pinned.requested_pool = Some("second".into());
    let mut ghost = svc("a", "ghost", 2);
    ghost.requested_pool = Some("nope".into());
    let plan = plan(&pools, &[pinned, ghost, svc("a", "free", 3)]);
    assert_eq!(ips(&plan, "a", "pinned"), vec![ip("10.0.1.1")]);
    assert_eq!(ips(&plan, "a", "free"), vec![ip("10.0.0.1")]);
    let (reason, message, _) = failure(&plan, "a", "ghost");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(
        message.contains("\"nope\", which does not exist"),
        "{message}"
    );
}

#[test]
fn refused_request_keeps_current_and_granted_one_moves() {
    let mut holder = svc("a", "holder", 1);
    holder.current = vec![ip("10.0.0.9")];
    let mut refused = asking("a", "refused", 2, &["10.0.0.9"]);
    refused.current = vec![ip("10.0.0.5")];
    let mut mover = asking("a", "mover", 3, &["10.0.0.20"]);
    mover.current = vec![ip("10.0.0.6")];
    let plan = plan(&lan(), &[holder, refused, mover]);
    let (reason, _, keep) = failure(&plan, "a", "refused");
    assert_eq!(
        (reason, keep),
        (FailureReason::RequestRefused, vec![ip("10.0.0.5")])
    );
    match change(&plan, "a", "mover") {
        Change::Moved { from, to, reason } => {
            assert_eq!((from, to), (vec![ip("10.0.0.6")], vec![ip("10.0.0.20")]));
            assert!(reason.contains("as requested"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn compatible_services_share_one_address() {
    let services = [
        sharing("a", "http", 1, "k", 80),
        sharing("a", "https", 2, "k", 443),
        svc("a", "plain", 3),
    ];
    let plan = plan(&lan(), &services);
    assert_eq!(ips(&plan, "a", "http"), vec![ip("10.0.0.0")]);
    assert_eq!(ips(&plan, "a", "https"), vec![ip("10.0.0.0")]);
    assert_eq!(ips(&plan, "a", "plain"), vec![ip("10.0.0.1")]);
    assert_eq!(
        plan.pools["lan"].ipv4.used, 2,
        "a shared address is allocated once"
    );
}

#[test]
fn port_collision_refuses_the_later_service() {
    let services = [
        sharing("a", "first", 1, "k", 80),
        sharing("a", "second", 2, "k", 80),
    ];
    let plan = plan(&lan(), &services);
    assert_eq!(ips(&plan, "a", "first"), vec![ip("10.0.0.0")]);
    let (reason, message, _) = failure(&plan, "a", "second");
    assert_eq!(reason, FailureReason::SharingConflict);
    assert!(
        message.contains("Service a/first, which already uses TCP/80"),
        "{message}"
    );
}

#[test]
fn no_sharing_across_namespaces_or_without_key() {
    let mut explicit = sharing("b", "explicit", 3, "k", 443);
    explicit.requested_ips = vec![ip("10.0.0.0")];
    let mut keyless = asking("a", "keyless", 4, &["10.0.0.0"]);
    keyless.ports = vec![(Protocol::Udp, 53)];
    let services = [
        sharing("a", "one", 1, "k", 80),
        sharing("b", "two", 2, "k", 443),
        explicit,
        keyless,
    ];
    let plan = plan(&lan(), &services);
    assert_eq!(ips(&plan, "a", "one"), vec![ip("10.0.0.0")]);
    assert_eq!(
        ips(&plan, "b", "two"),
        vec![ip("10.0.0.1")],
        "same key in another namespace: own group"
    );
    let (reason, message, _) = failure(&plan, "b", "explicit");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(message.contains("another namespace"), "{message}");
    let (reason, message, _) = failure(&plan, "a", "keyless");
    assert_eq!(reason, FailureReason::RequestRefused);
    assert!(
        message.contains("both set the same sharing key"),
        "{message}"
    );
}

#[test]
fn traffic_policies_must_be_compatible() {
    let local = |name: &str, created, port, app: &str| {
        let mut s = sharing("a", name, created, "k", port);
        s.external_traffic_policy = TrafficPolicy::Local;
        s.selector = labels(&[("app", app)]);
        s
    };
    let services = [
        local("l1", 1, 80, "web"),
        local("l2", 2, 81, "web"),
        local("l3", 3, 82, "db"),
    ];
    let plan1 = plan(&lan(), &services);
    assert_eq!(ips(&plan1, "a", "l2"), ips(&plan1, "a", "l1"));
    let (reason, message, _) = failure(&plan1, "a", "l3");
    assert_eq!(reason, FailureReason::SharingConflict);
    assert!(message.contains("externalTrafficPolicy"), "{message}");
    let services = [
        sharing("a", "cluster", 1, "k", 80),
        local("local", 2, 81, "web"),
    ];
    let plan2 = plan(&lan(), &services);
    assert_eq!(
        failure(&plan2, "a", "local").0,
        FailureReason::SharingConflict
    );
}

#[test]
fn dual_stack_sharing_group_sticks_together() {
    let a = dual(sharing("a", "a", 1, "k", 80), FamilyPolicy::PreferDualStack);
    let b = dual(
        sharing("a", "b", 2, "k", 81),
        FamilyPolicy::RequireDualStack,
    );
    let plan = plan(&lan(), &[svc("a", "first", 0), a, b]);
    assert_eq!(ips(&plan, "a", "a"), vec![ip("10.0.0.1"), ip("2001:db8::")]);
    assert_eq!(ips(&plan, "a", "b"), ips(&plan, "a", "a"));
}

#[test]
fn group_address_outside_the_joiners_pools_is_a_conflict() {
    let mut pinned = sharing("a", "pinned", 2, "k", 81);
    pinned.requested_pool = Some("extra".into());
    let pools = [
        pool("lan", 0, &["10.0.0.0/24"]),
        pool("extra", 1, &["10.9.0.0/24"]),
    ];
    let plan = plan(&pools, &[sharing("a", "first", 1, "k", 80), pinned]);
    let (reason, message, _) = failure(&plan, "a", "pinned");
    assert_eq!(reason, FailureReason::SharingConflict);
    assert!(
        message.contains("10.0.0.0 is in no pool that serves this Service"),
        "{message}"
    );
}

#[test]
fn single_stack_gets_the_primary_family_only() {
    let mut v6_first = svc("a", "v6", 1);
    v6_first.families = vec![IpFamily::V6, IpFamily::V4];
    let plan = plan(&lan(), &[v6_first, svc("a", "v4", 2)]);
    assert_eq!(ips(&plan, "a", "v6"), vec![ip("2001:db8::")]);
    assert_eq!(ips(&plan, "a", "v4"), vec![ip("10.0.0.0")]);
}

#[test]
fn prefer_dual_stack_gets_both_primary_first() {
    let mut s = dual(svc("a", "s", 1), FamilyPolicy::PreferDualStack);
    s.families = vec![IpFamily::V6, IpFamily::V4];
    let plan = plan(&lan(), &[s]);
    assert_eq!(ips(&plan, "a", "s"), vec![ip("2001:db8::"), ip("10.0.0.0")]);
    match outcome(&plan, "a", "s") {
        ServiceOutcome::Allocated {
            pools,
            pool,
            missing,
            ..
        } => {
            assert_eq!(
                (pools.clone(), pool.as_str()),
                (vec!["v6".to_string(), "lan".to_string()], "v6")
            );
            assert!(missing.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn prefer_dual_stack_takes_what_it_can_and_adds_the_rest_later() {
    let services = [dual(svc("a", "s", 1), FamilyPolicy::PreferDualStack)];
    let only_v4 = [pool("lan", 0, &["10.0.0.0/24"])];
    let plan1 = plan(&only_v4, &services);
    match outcome(&plan1, "a", "s") {
        ServiceOutcome::Allocated { ips, missing, .. } => {
            assert_eq!(ips, &vec![ip("10.0.0.0")]);
            assert_eq!(
                (missing[0].family, missing[0].reason),
                (IpFamily::V6, FailureReason::NoEligiblePool)
            );
        }
        other => panic!("{other:?}"),
    }
    let services = feed_back(&services, &plan1);
    let plan2 = plan(&lan(), &services);
    assert_eq!(
        change(&plan2, "a", "s"),
        Change::AddedFamily {
            added: vec![ip("2001:db8::")]
        }
    );
}

#[test]
fn require_dual_stack_is_both_or_nothing() {
    let only_v4 = [pool("lan", 0, &["10.0.0.0/24"])];
    let mut s = dual(svc("a", "s", 1), FamilyPolicy::RequireDualStack);
    let plan1 = plan(&only_v4, &[s.clone()]);
    let (reason, message, keep) = failure(&plan1, "a", "s");
    assert_eq!(reason, FailureReason::DualStackImpossible);
    assert!(
        message.contains("RequireDualStack") && message.contains("IPv6"),
        "{message}"
    );
    assert!(keep.is_empty());
    // Had both; the IPv6 pool went away: no half is kept, the IPv4 address is free again.
    s.current = vec![ip("10.0.0.0"), ip("2001:db8::1")];
    let plan2 = plan(&only_v4, &[s.clone(), svc("a", "later", 2)]);
    assert!(failure(&plan2, "a", "s").2.is_empty());
    assert_eq!(ips(&plan2, "a", "later"), vec![ip("10.0.0.0")]);
    s.families = vec![IpFamily::V4];
    let plan3 = plan(&lan(), &[s]);
    let (reason, message, keep) = failure(&plan3, "a", "s");
    assert_eq!(reason, FailureReason::DualStackImpossible);
    assert!(message.contains("lists only IPv4"), "{message}");
    assert!(keep.is_empty());
}

#[test]
fn explicit_requests_of_one_address_share_it() {
    let mut first = sharing("a", "first", 1, "k", 80);
    first.requested_ips = vec![ip("10.0.0.50")];
    let mut second = sharing("a", "second", 2, "k", 443);
    second.requested_ips = vec![ip("10.0.0.50")];
    let plan = plan(&lan(), &[first, second]);
    assert_eq!(ips(&plan, "a", "first"), vec![ip("10.0.0.50")]);
    assert_eq!(ips(&plan, "a", "second"), vec![ip("10.0.0.50")]);
}

#[test]
fn changing_the_requested_pool_moves_the_address() {
    let mut pools = lan();
    pools.push(pool("dmz", 2, &["192.0.2.0/28"]));
    let mut s = svc("a", "s", 1);
    s.current = vec![ip("10.0.0.4")];
    s.requested_pool = Some("dmz".into());
    let plan = plan(&pools, &[s]);
    match change(&plan, "a", "s") {
        Change::Moved { from, to, .. } => {
            assert_eq!((from, to), (vec![ip("10.0.0.4")], vec![ip("192.0.2.0")]))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_families_is_an_invalid_request() {
    let mut s = svc("a", "s", 1);
    s.families.clear();
    s.current = vec![ip("10.0.0.4")];
    let plan = plan(&lan(), &[s]);
    let (reason, message, keep) = failure(&plan, "a", "s");
    assert_eq!(reason, FailureReason::InvalidRequest);
    assert!(message.contains("spec.ipFamilies"), "{message}");
    assert_eq!(keep, vec![ip("10.0.0.4")], "kept while the spec is fixed");
}
