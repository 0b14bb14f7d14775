//! Invalid `serviceAllocation` selectors: reported per pool, and they still match nothing.

use super::tests_support::*;
use super::*;
use ferrolb_adapter::selector::{Selector, SelectorOperator, SelectorRequirement};

fn requirement(key: &str, operator: SelectorOperator, values: &[&str]) -> Selector {
    Selector {
        match_expressions: vec![SelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }],
        ..Selector::default()
    }
}

fn web() -> ServiceRequest {
    let mut s = svc("a", "web", 1);
    s.labels = labels(&[("app", "web")]);
    s.namespace_labels = labels(&[("env", "prod")]);
    s
}

fn selecting(service: Option<Selector>, namespace: Option<Selector>) -> Pool {
    let mut p = pool("sel", 0, &["10.0.0.0/30"]);
    p.allocation = Some(ServiceAllocation {
        service_selector: service,
        namespace_selector: namespace,
        ..ServiceAllocation::default()
    });
    p
}

#[test]
fn exists_with_values_is_reported_and_serves_nothing() {
    let bad = requirement("app", SelectorOperator::Exists, &["web"]);
    let plan = plan(&[selecting(Some(bad), None)], &[web()]);
    let problems = &plan.pools["sel"].selector_problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    let message = &problems[0];
    assert!(
        message.starts_with("serviceAllocation.serviceSelector: matchExpressions entry 0"),
        "{message}"
    );
    assert!(
        message.contains("Exists") && message.contains("\"app\""),
        "{message}"
    );
    assert!(message.contains("makes no new allocation"), "{message}");
    let (reason, _, keep) = failure(&plan, "a", "web");
    assert_eq!(reason, FailureReason::NoEligiblePool, "fails closed");
    assert!(keep.is_empty());
}

#[test]
fn both_selectors_reported_namespace_first() {
    let no_values = requirement("env", SelectorOperator::In, &[]);
    let empty_key = Selector {
        match_labels: labels(&[("", "web")]),
        ..Selector::default()
    };
    let alloc = ServiceAllocation {
        namespace_selector: Some(no_values),
        service_selector: Some(empty_key),
        ..ServiceAllocation::default()
    };
    let problems = alloc.selector_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("serviceAllocation.namespaceSelector: "),
        "{problems:?}"
    );
    assert!(problems[0].contains("has no values"), "{problems:?}");
    assert!(
        problems[1].starts_with("serviceAllocation.serviceSelector: "),
        "{problems:?}"
    );
    assert!(problems[1].contains("empty label key"), "{problems:?}");
}

#[test]
fn valid_selectors_and_plain_pools_report_nothing() {
    let good = requirement("app", SelectorOperator::In, &["web"]);
    let ns = requirement("env", SelectorOperator::Exists, &[]);
    let pools = [
        selecting(Some(good), Some(ns)),
        pool("plain", 1, &["10.0.1.0/30"]),
    ];
    let plan = plan(&pools, &[web()]);
    assert!(plan.pools["sel"].selector_problems.is_empty());
    assert!(plan.pools["plain"].selector_problems.is_empty());
    assert_eq!(ips(&plan, "a", "web"), vec![ip("10.0.0.0")]);
}

#[test]
fn fixing_the_selector_serves_the_service_again() {
    let bad = requirement("app", SelectorOperator::DoesNotExist, &["web"]);
    let broken = plan(&[selecting(None, Some(bad))], &[web()]);
    assert_eq!(broken.pools["sel"].selector_problems.len(), 1);
    let fixed_sel = requirement("app", SelectorOperator::DoesNotExist, &[]);
    let fixed = plan(&[selecting(None, Some(fixed_sel))], &[web()]);
    assert!(fixed.pools["sel"].selector_problems.is_empty());
    assert_eq!(ips(&fixed, "a", "web"), vec![ip("10.0.0.0")]);
}
