//! The policy step, review messages and configuration problems.

use super::*;
use ferrolb_adapter::selector::{Selector, SelectorOperator, SelectorRequirement};

#[test]
fn no_policy_v4_and_v6() {
    for addr in ["203.0.113.9", "2001:db8:9::9"] {
        let v = judge_with(addr, &[], Some(&alice()));
        assert_eq!(v.rule(), Some(Rule::NoPolicy));
        assert_eq!(
            v.refusal().unwrap(),
            format!(
                "externalIP {addr} refused: no ExternalIPPolicy exists, so every externalIP is \
                 refused; to allow it, create an ExternalIPPolicy whose allowedCIDRs contains {addr}"
            )
        );
    }
    // Mapped forms are advised in their IPv4 form.
    let v = judge_with("::ffff:203.0.113.9", &[], None);
    assert!(
        v.refusal()
            .unwrap()
            .ends_with("whose allowedCIDRs contains 203.0.113.9")
    );
}

#[test]
fn not_allowed_by_policy_v4_and_v6() {
    let policies = vec![policy("narrow", &["203.0.113.0/28", "2001:db8:9::/126"])];
    for (addr, allowed) in [
        ("203.0.113.15", true),
        ("203.0.113.16", false),
        ("2001:db8:9::3", true),
        ("2001:db8:9::4", false),
    ] {
        let v = judge_with(addr, &policies, Some(&alice()));
        if allowed {
            assert_eq!(
                v.outcome,
                Outcome::Allowed {
                    policy: "narrow".into()
                }
            );
        } else {
            assert_eq!(
                v.refusal().unwrap(),
                format!(
                    "externalIP {addr} refused: it is not in the allowedCIDRs of any \
                     ExternalIPPolicy that applies to namespace mine and user \"alice\" \
                     (applying: narrow); to allow it, add {addr} to the allowedCIDRs of an \
                     ExternalIPPolicy that applies to them"
                )
            );
        }
    }
}

#[test]
fn policies_apply_by_namespace_user_and_group() {
    let mut by_ns = policy("ns-b", &["203.0.113.0/24"]);
    by_ns.namespace_selector = Some(Selector {
        match_labels: [("team".to_string(), "b".to_string())]
            .into_iter()
            .collect(),
        match_expressions: vec![],
    });
    let v = judge_with("203.0.113.1", &[by_ns], Some(&alice()));
    assert_eq!(
        v.refusal().unwrap(),
        "externalIP 203.0.113.1 refused: it is not in the allowedCIDRs of any ExternalIPPolicy \
         that applies to namespace mine and user \"alice\" (no policy applies); to allow it, \
         add 203.0.113.1 to the allowedCIDRs of an ExternalIPPolicy that applies to them"
    );
    let mut by_group = policy("devs-only", &["203.0.113.0/24"]);
    by_group.allowed_groups = vec!["devs".into()];
    let mut by_user = policy("bob-only", &["203.0.113.0/24"]);
    by_user.allowed_users = vec!["bob".into()];
    let both = [by_group.clone(), by_user.clone()];
    let bob = UserInfo {
        username: "bob".into(),
        groups: vec![],
    };
    let carol = UserInfo {
        username: "carol".into(),
        groups: vec!["qa".into()],
    };
    let allowed_by = |u: Option<&UserInfo>| match judge_with("203.0.113.1", &both, u).outcome {
        Outcome::Allowed { policy } => Some(policy),
        Outcome::Refused { .. } => None,
    };
    assert_eq!(allowed_by(Some(&alice())), Some("devs-only".into()));
    assert_eq!(allowed_by(Some(&bob)), Some("bob-only".into()));
    assert_eq!(allowed_by(Some(&carol)), None);
    // Unknown requester (reconcile time): user/group-limited policies do not apply.
    let v = judge_with("203.0.113.1", &both, None);
    assert_eq!(
        v.refusal().unwrap(),
        "externalIP 203.0.113.1 refused: it is not in the allowedCIDRs of any ExternalIPPolicy \
         that applies to namespace mine and an unknown requester (no policy applies; policies \
         limited to users or groups do not apply when the requester is unknown); to allow it, \
         add 203.0.113.1 to the allowedCIDRs of an ExternalIPPolicy that applies to them"
    );
    // ... but namespace-only policies still do.
    let ns_only = policy("ns-only", &["203.0.113.0/24"]);
    assert!(judge_with("203.0.113.1", &[by_user, ns_only], None).is_allowed());
}

#[test]
fn review_message_names_each_bad_address_in_order() {
    let r = review(
        &service(&["203.0.113.1", "198.51.100.11", "nope", "10.96.0.1"]),
        Some(&alice()),
        &allow_all(),
        &facts(),
    );
    assert!(!r.allowed());
    let m = r.message().unwrap();
    let starts: Vec<usize> = [
        "externalIP 198.51.100.11 ",
        "externalIP \"nope\" ",
        "externalIP 10.96.0.1 ",
    ]
    .iter()
    .map(|s| m.find(s).unwrap())
    .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{m}");
    assert_eq!(m.matches("refused:").count(), 3);
    assert!(m.ends_with("pick an address outside 10.96.0.0/12."), "{m}");
    assert!(!m.contains("203.0.113.1 "));
    assert_eq!(r.allowed_ips(), vec![ip("203.0.113.1")]);
    let ok = review(&service(&[]), None, &[], &facts());
    assert!(ok.allowed());
    assert_eq!(ok.message(), None);
}

#[test]
fn config_problems_are_reported_and_fail_closed() {
    let mut p = policy("mixed", &["not-a-cidr", "203.0.113.0/24", "10.0.0.1/8"]);
    p.namespace_selector = None;
    let mut bad_sel = policy("bad-selector", &["0.0.0.0/0"]);
    bad_sel.namespace_selector = Some(Selector {
        match_labels: Default::default(),
        match_expressions: vec![SelectorRequirement {
            key: "team".into(),
            operator: SelectorOperator::NotIn,
            values: vec![],
        }],
    });
    let mut f = facts();
    f.service_cidrs = vec!["10.96.0.1/12".into(), "garbage".into()];
    f.pools.push((
        "backwards".into(),
        vec![ip("192.0.2.200")..=ip("192.0.2.150")],
    ));
    let r = review(
        &service(&["203.0.113.1", "10.1.2.3", "10.96.0.7", "8.8.8.8"]),
        None,
        &[bad_sel, p],
        &f,
    );
    let rules: Vec<Option<Rule>> = r.verdicts.iter().map(Verdict::rule).collect();
    assert_eq!(
        rules,
        [
            None,
            Some(Rule::NotAllowedByPolicy),
            Some(Rule::ServiceCidr),
            Some(Rule::NotAllowedByPolicy)
        ]
    );
    let problems: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        [
            "ExternalIPPolicy mixed: allowedCIDRs entry 0 \"not-a-cidr\" is not a valid CIDR \
             (the address part \"not-a-cidr\" is not an IP address); write it as \
             address/prefix-length, e.g. 192.0.2.0/24 or 2001:db8::/64; that entry is \
             ignored, the policy's other entries still apply",
            "ExternalIPPolicy mixed: allowedCIDRs entry 2 \"10.0.0.1/8\" has address bits set \
             past its /8 prefix, so the intended range is unclear; write it as 10.0.0.0/8; \
             that entry is ignored, the policy's other entries still apply",
            "ExternalIPPolicy bad-selector: namespaceSelector matchExpressions entry 0 (key \
             \"team\", operator NotIn) has no values; NotIn needs at least one value; the \
             policy applies to no namespace until it is fixed",
            "Service ClusterIP ranges: entry 0 \"10.96.0.1/12\" has address bits set past its \
             /12 prefix, so the intended range is unclear; write it as 10.96.0.0/12; \
             10.96.0.0/12 is protected in its place",
            "Service ClusterIP ranges: entry 1 \"garbage\" is not a valid CIDR (the address \
             part \"garbage\" is not an IP address); write it as address/prefix-length, e.g. \
             192.0.2.0/24 or 2001:db8::/64; it protects nothing until it is fixed",
            "VIPPool backwards: range 192.0.2.200-192.0.2.150 is empty or mixes IPv4 and IPv6, \
             so it protects nothing; write the lower address first, both of one family",
        ]
    );
}
