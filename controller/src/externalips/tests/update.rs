//! `review_update`: removals pass, additions re-review the whole list.

use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn removing_addresses_passes_even_if_a_kept_one_is_now_refused() {
    // 198.51.100.11 was admitted before node-a took it; 203.0.113.1 is removed.
    let old = strings(&["203.0.113.1", "198.51.100.11"]);
    let u = review_update(
        &old,
        &service(&["198.51.100.11"]),
        Some(&alice()),
        &allow_all(),
        &facts(),
    );
    assert!(!u.adds_addresses);
    assert!(u.allowed());
    assert_eq!(u.message(), None);
    assert!(!u.review.allowed(), "reconcile still refuses it");
    assert_eq!(
        u.warnings(),
        [
            "externalIP 198.51.100.11 refused: it is node node-a's address (CVE-2020-8554); \
          externalIPs may never be a node's address; it is kept because this update adds no \
          externalIP, but it is not served until fixed"
        ]
    );
}

#[test]
fn unchanged_reordered_and_emptied_lists_pass() {
    let old = strings(&["10.96.0.1", "203.0.113.1"]);
    for new in [
        &["10.96.0.1", "203.0.113.1"][..],
        &["203.0.113.1", "10.96.0.1"],
        &[],
    ] {
        let u = review_update(&old, &service(new), None, &[], &facts());
        assert!(u.allowed(), "{new:?}");
    }
}

#[test]
fn adding_an_address_re_reviews_the_kept_ones() {
    let old = strings(&["198.51.100.11"]);
    let u = review_update(
        &old,
        &service(&["198.51.100.11", "203.0.113.1"]),
        Some(&alice()),
        &allow_all(),
        &facts(),
    );
    assert!(u.adds_addresses);
    assert!(!u.allowed());
    assert!(u.warnings().is_empty());
    assert_eq!(
        u.message().unwrap(),
        "externalIP 198.51.100.11 refused: it is node node-a's address (CVE-2020-8554); \
         externalIPs may never be a node's address."
    );
    // A good addition with good kept entries passes.
    let u = review_update(
        &strings(&["203.0.113.1"]),
        &service(&["203.0.113.1", "203.0.113.2"]),
        None,
        &allow_all(),
        &facts(),
    );
    assert!(u.allowed());
}

#[test]
fn rewriting_an_address_in_another_form_counts_as_adding() {
    let old = strings(&["203.0.113.1"]);
    let u = review_update(&old, &service(&["::ffff:203.0.113.1"]), None, &[], &facts());
    assert!(u.adds_addresses);
    assert_eq!(u.review.verdicts[0].rule(), Some(Rule::NoPolicy));
    assert!(!u.allowed());
}
