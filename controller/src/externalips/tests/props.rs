//! Properties over random addresses, facts and policies. Expected results come from
//! small independent oracles (integer arithmetic), not from the code under test.

use ferrolb_adapter::selector::Selector;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const V4_BASE: u32 = 0x0a00_0000; // 10.0.0.0/22 universe
const V6_BASE: u128 = 0xfd00_u128 << 112; // fd00::/118 universe

/// A point of the small universe: `(is_v6, offset)`; small so that collisions happen.
fn point() -> impl Strategy<Value = (bool, u32)> {
    (any::<bool>(), 0u32..1024)
}

fn judged((v6, off): (bool, u32)) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(V6_BASE + u128::from(off)))
    } else {
        IpAddr::V4(Ipv4Addr::from(V4_BASE + off))
    }
}

/// `(written, judged)`: universe points (IPv4 also in mapped form) and random addresses.
fn address() -> impl Strategy<Value = (String, IpAddr)> {
    prop_oneof![
        point().prop_map(|p| (judged(p).to_string(), judged(p))),
        (0u32..1024).prop_map(|o| {
            let v4 = Ipv4Addr::from(V4_BASE + o);
            (format!("::ffff:{v4}"), IpAddr::V4(v4))
        }),
        any::<u32>().prop_map(|x| (Ipv4Addr::from(x).to_string(), IpAddr::V4(Ipv4Addr::from(x)))),
        any::<u128>().prop_map(|x| {
            let v6 = Ipv6Addr::from(x);
            let j = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
            (v6.to_string(), j)
        }),
    ]
}

/// A network of the universe as `(is_v6, base offset, host bits)`.
fn net() -> impl Strategy<Value = (bool, u32, u32)> {
    (point(), 0u32..=10).prop_map(|((v6, off), host)| (v6, off >> host << host, host))
}

fn net_string((v6, off, host): (bool, u32, u32)) -> String {
    let prefix = if v6 { 128 - host } else { 32 - host };
    format!("{}/{prefix}", judged((v6, off)))
}

fn in_net(ip: IpAddr, (v6, off, host): (bool, u32, u32)) -> bool {
    let size = 1u32 << host;
    (0..size).any(|i| judged((v6, off + i)) == ip)
}

#[derive(Debug, Clone)]
struct World {
    nodes: Vec<(u8, (bool, u32))>,
    service_nets: Vec<(bool, u32, u32)>,
    pools: Vec<(u8, (bool, u32), u32)>,
    claims: Vec<(bool, u8, (bool, u32), bool)>,
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec((0u8..4, point()), 0..6),
        prop::collection::vec(net(), 0..3),
        prop::collection::vec((0u8..3, point(), 0u32..200), 0..3),
        prop::collection::vec((any::<bool>(), 0u8..3, point(), any::<bool>()), 0..4),
    )
        .prop_map(|(nodes, service_nets, pools, claims)| World {
            nodes,
            service_nets,
            pools,
            claims,
        })
}

fn pool_range(start: (bool, u32), len: u32) -> (IpAddr, IpAddr) {
    (judged(start), judged((start.0, (start.1 + len).min(1023))))
}

fn to_facts(w: &World) -> ClusterFacts {
    ClusterFacts {
        node_addresses: w
            .nodes
            .iter()
            .map(|(n, p)| (format!("node-{n}"), judged(*p)))
            .collect(),
        service_cidrs: w.service_nets.iter().map(|n| net_string(*n)).collect(),
        pools: w
            .pools
            .iter()
            .map(|(n, s, len)| {
                let (a, b) = pool_range(*s, *len);
                (format!("pool-{n}"), vec![a..=b])
            })
            .collect(),
        claims: w
            .claims
            .iter()
            .map(|(other, n, p, lb)| Claim {
                namespace: if *other {
                    "other".into()
                } else {
                    "mine".into()
                },
                name: format!("svc-{n}"),
                ip: judged(*p),
                kind: if *lb {
                    ClaimKind::LoadBalancerIP
                } else {
                    ClaimKind::ExternalIP
                },
            })
            .collect(),
    }
}

#[derive(Debug, Clone)]
struct PolicySpec {
    name: u8,
    nets: Vec<(bool, u32, u32)>,
    team: Option<bool>, // Some(true): team=a, Some(false): team=b
    users: Vec<bool>,   // true: alice, false: bob
    ops_group: bool,
}

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    (
        0u8..4,
        prop::collection::vec(net(), 0..3),
        prop::option::of(any::<bool>()),
        prop::collection::vec(any::<bool>(), 0..2),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(name, nets, team, users, ops_group)| PolicySpec {
            name,
            nets,
            team,
            users,
            ops_group,
        })
}

fn to_policy(s: &PolicySpec) -> Policy {
    let mut cidrs: Vec<String> = s.nets.iter().map(|n| net_string(*n)).collect();
    cidrs.push("10.0.0.1/8".into()); // bad entries must grant nothing
    Policy {
        name: format!("p{}", s.name),
        allowed_cidrs: cidrs,
        namespace_selector: s.team.map(|a| Selector {
            match_labels: [("team".to_string(), if a { "a" } else { "b" }.to_string())]
                .into_iter()
                .collect(),
            match_expressions: vec![],
        }),
        allowed_users: s
            .users
            .iter()
            .map(|&a| if a { "alice" } else { "bob" }.to_string())
            .collect(),
        allowed_groups: if s.ops_group {
            vec!["ops".into()]
        } else {
            vec![]
        },
    }
}

/// Requester: None, alice (group devs) or bob (group ops). Namespace has team=a.
fn oracle_applies(s: &PolicySpec, requester: Option<bool>) -> bool {
    let ns = s.team.is_none_or(|a| a);
    let limited = !s.users.is_empty() || s.ops_group;
    let user = match requester {
        None => false,
        Some(alice) => s.users.contains(&alice) || (s.ops_group && !alice),
    };
    ns && (!limited || user)
}

fn requester_info(r: Option<bool>) -> Option<UserInfo> {
    r.map(|alice| UserInfo {
        username: if alice { "alice" } else { "bob" }.into(),
        groups: vec![if alice { "devs" } else { "ops" }.into()],
    })
}

proptest! {
    #[test]
    fn allowed_never_inside_node_pool_or_service_range(
        addrs in prop::collection::vec(address(), 1..8),
        w in world(),
    ) {
        let written: Vec<&str> = addrs.iter().map(|(s, _)| s.as_str()).collect();
        let r = review(&service(&written), Some(&alice()), &allow_all(), &to_facts(&w));
        for (v, (_, ip)) in r.verdicts.iter().zip(&addrs) {
            prop_assert_eq!(v.ip, Some(*ip));
            let node = w.nodes.iter().any(|(_, p)| judged(*p) == *ip);
            let svc = w.service_nets.iter().any(|n| in_net(*ip, *n));
            let pool = w.pools.iter().any(|(_, s, len)| {
                let (a, b) = pool_range(*s, *len);
                a.is_ipv4() == ip.is_ipv4() && a <= *ip && *ip <= b
            });
            let foreign = w.claims.iter().any(|(other, _, p, _)| *other && judged(*p) == *ip);
            let special = ip.is_unspecified() || ip.is_loopback() || ip.is_multicast()
                || matches!(ip, IpAddr::V4(v4) if v4.is_link_local() || v4.is_broadcast())
                || matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            let must_refuse = node || svc || pool || foreign || special;
            prop_assert_eq!(v.is_allowed(), !must_refuse, "{:?}", v);
            if node {
                prop_assert_eq!(v.rule(), Some(Rule::NodeAddress));
            }
        }
    }

    #[test]
    fn allowed_exactly_when_an_applying_policy_contains_it(
        addrs in prop::collection::vec(point(), 1..6),
        specs in prop::collection::vec(policy_spec(), 0..5),
        requester in prop::option::of(any::<bool>()),
    ) {
        let policies: Vec<Policy> = specs.iter().map(to_policy).collect();
        let written: Vec<String> = addrs.iter().map(|p| judged(*p).to_string()).collect();
        let written: Vec<&str> = written.iter().map(String::as_str).collect();
        let user = requester_info(requester);
        let r = review(&service(&written), user.as_ref(), &policies, &ClusterFacts::default());
        for (v, p) in r.verdicts.iter().zip(&addrs) {
            let ip = judged(*p);
            let mut names: Vec<String> = specs
                .iter()
                .filter(|s| oracle_applies(s, requester) && s.nets.iter().any(|n| in_net(ip, *n)))
                .map(|s| format!("p{}", s.name))
                .collect();
            names.sort();
            match names.first() {
                Some(first) => prop_assert_eq!(&v.outcome, &Outcome::Allowed { policy: first.clone() }),
                None if specs.is_empty() => prop_assert_eq!(v.rule(), Some(Rule::NoPolicy)),
                None => prop_assert_eq!(v.rule(), Some(Rule::NotAllowedByPolicy)),
            }
        }
        let mut named: Vec<String> = specs.iter().map(|s| format!("p{}", s.name)).collect();
        named.sort();
        named.dedup();
        let mut reported: Vec<String> = Vec::new();
        for problem in &r.problems {
            match problem {
                ConfigProblem::PolicyCidr { policy, error } if error.value == "10.0.0.1/8" => {
                    reported.push(policy.clone());
                }
                other => prop_assert!(false, "unexpected problem {}", other),
            }
        }
        reported.dedup();
        prop_assert_eq!(reported, named, "every policy's bad entry is reported");
    }

    #[test]
    fn review_is_deterministic_and_independent_of_list_order(
        (specs, shuffled) in prop::collection::vec(policy_spec(), 0..6)
            .prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle())),
        (w, nodes, claims) in world().prop_flat_map(|w| {
            (Just(w.clone()), Just(w.nodes.clone()).prop_shuffle(), Just(w.claims.clone()).prop_shuffle())
        }),
        addrs in prop::collection::vec(address(), 1..6),
        requester in prop::option::of(any::<bool>()),
    ) {
        let written: Vec<&str> = addrs.iter().map(|(s, _)| s.as_str()).collect();
        let user = requester_info(requester);
        let policies: Vec<Policy> = specs.iter().map(to_policy).collect();
        let policies2: Vec<Policy> = shuffled.iter().map(to_policy).collect();
        let mut w2 = w.clone();
        w2.nodes = nodes;
        w2.claims = claims;
        w2.service_nets.reverse();
        w2.pools.reverse();
        let a = review(&service(&written), user.as_ref(), &policies, &to_facts(&w));
        let b = review(&service(&written), user.as_ref(), &policies2, &to_facts(&w2));
        let c = review(&service(&written), user.as_ref(), &policies, &to_facts(&w));
        prop_assert_eq!(&a, &c);
        prop_assert_eq!(&a, &b);
    }
}
