//! Tests of the whole review: one per rule (IPv4 and IPv6), the example table,
//! updates, and properties.

mod policy;
mod props;
mod rules;
mod table;
mod update;

use std::net::IpAddr;

use super::*;

/// Facts used by the rule tests.
pub(super) fn facts() -> ClusterFacts {
    ClusterFacts {
        node_addresses: vec![
            ("node-a".into(), ip("198.51.100.11")),
            ("node-v6".into(), ip("2001:db8:1::11")),
        ],
        service_cidrs: vec!["10.96.0.0/12".into(), "fd00:10:96::/108".into()],
        pools: vec![
            ("pool-a".into(), vec![ip("192.0.2.0")..=ip("192.0.2.127")]),
            (
                "pool-v6".into(),
                vec![ip("2001:db8:2::")..=ip("2001:db8:2::ffff")],
            ),
        ],
        claims: vec![
            claim("other", "web", "203.0.113.50", ClaimKind::ExternalIP),
            claim("other", "lb6", "2001:db8:3::51", ClaimKind::LoadBalancerIP),
            claim("mine", "sibling", "203.0.113.60", ClaimKind::ExternalIP),
            claim(
                "mine",
                "sibling-lb",
                "203.0.113.61",
                ClaimKind::LoadBalancerIP,
            ),
            claim("mine", "svc", "203.0.113.62", ClaimKind::ExternalIP),
        ],
    }
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn claim(namespace: &str, name: &str, addr: &str, kind: ClaimKind) -> Claim {
    Claim {
        namespace: namespace.into(),
        name: name.into(),
        ip: ip(addr),
        kind,
    }
}

pub(super) fn policy(name: &str, cidrs: &[&str]) -> Policy {
    Policy {
        name: name.into(),
        allowed_cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
        ..Policy::default()
    }
}

/// A policy allowing every address, so only the fixed rules can refuse.
pub(super) fn allow_all() -> Vec<Policy> {
    vec![policy("everything", &["0.0.0.0/0", "::/0"])]
}

pub(super) fn service(external_ips: &[&str]) -> ServiceRef {
    ServiceRef {
        namespace: "mine".into(),
        name: "svc".into(),
        namespace_labels: [("team".to_string(), "a".to_string())]
            .into_iter()
            .collect(),
        external_ips: external_ips.iter().map(|s| s.to_string()).collect(),
    }
}

pub(super) fn alice() -> UserInfo {
    UserInfo {
        username: "alice".into(),
        groups: vec!["devs".into()],
    }
}

/// Reviews one address with `policies` and the standard facts, as alice.
pub(super) fn judge_with(addr: &str, policies: &[Policy], requester: Option<&UserInfo>) -> Verdict {
    let r = review(&service(&[addr]), requester, policies, &facts());
    assert_eq!(r.verdicts.len(), 1);
    r.verdicts[0].clone()
}

/// `(rule, message)` of a refusal under the allow-all policy.
pub(super) fn refused(addr: &str) -> (Rule, String) {
    let v = judge_with(addr, &allow_all(), Some(&alice()));
    match v.outcome {
        Outcome::Refused { rule, message } => (rule, message),
        Outcome::Allowed { policy } => panic!("{addr} allowed by {policy}"),
    }
}
