//! The example tables, judged against the example cluster.

use super::super::examples::{bad_input_table, example_cluster, good_input_table};
use super::*;

#[test]
fn every_bad_input_is_refused_with_its_rule_and_message() {
    let cluster = example_cluster();
    let table = bad_input_table();
    assert!(table.len() >= 30, "only {} rows", table.len());
    for row in &table {
        let r = review(
            &cluster.service_with(&[row.external_ip]),
            Some(&cluster.requester),
            &cluster.policies,
            &cluster.facts,
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.verdicts.len(), 1);
        let v = &r.verdicts[0];
        assert_eq!(v.address, row.external_ip);
        assert_eq!(v.rule(), Some(row.rule), "rule for {:?}", row.external_ip);
        assert_eq!(
            v.refusal(),
            Some(row.message.as_str()),
            "message for {:?}",
            row.external_ip
        );
        assert_eq!(r.message(), Some(format!("{}.", row.message)));
    }
}

#[test]
fn table_covers_every_rule_but_no_policy_in_both_families() {
    let table = bad_input_table();
    for rule in Rule::ALL {
        if rule == Rule::NoPolicy {
            continue;
        }
        let rows: Vec<_> = table.iter().filter(|r| r.rule == rule).collect();
        assert!(!rows.is_empty(), "no row for {rule}");
        if !matches!(rule, Rule::Broadcast | Rule::Malformed) {
            let v6 = |r: &&super::super::examples::BadInput| {
                r.external_ip
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.to_canonical().is_ipv6())
            };
            assert!(rows.iter().any(v6), "no IPv6 row for {rule}");
            assert!(rows.iter().any(|r| !v6(r)), "no IPv4 row for {rule}");
        }
    }
    let mut inputs: Vec<&str> = table.iter().map(|r| r.external_ip).collect();
    inputs.sort();
    inputs.dedup();
    assert_eq!(inputs.len(), table.len(), "duplicate rows");
}

#[test]
fn good_inputs_are_allowed_by_the_named_policy() {
    let cluster = example_cluster();
    for (addr, policy) in good_input_table() {
        let r = review(
            &cluster.service_with(&[addr]),
            Some(&cluster.requester),
            &cluster.policies,
            &cluster.facts,
        );
        assert_eq!(
            r.verdicts[0].outcome,
            Outcome::Allowed {
                policy: policy.into()
            },
            "{addr}"
        );
    }
}

#[test]
fn the_whole_table_in_one_service_gives_one_sentence_per_row() {
    let cluster = example_cluster();
    let table = bad_input_table();
    let all: Vec<&str> = table.iter().map(|r| r.external_ip).collect();
    let r = review(
        &cluster.service_with(&all),
        Some(&cluster.requester),
        &cluster.policies,
        &cluster.facts,
    );
    let expected: Vec<String> = table.iter().map(|r| format!("{}.", r.message)).collect();
    assert_eq!(r.message(), Some(expected.join(" ")));
}
