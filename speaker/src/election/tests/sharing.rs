//! Services sharing one IP.

use super::super::elect::{CONFLICT_REASON_PREFIX, elect};
use super::super::model::NodeView;
use super::fixtures::*;
use ferrolb_adapter::selector::Selector;

fn nodes() -> Vec<NodeView> {
    vec![node("n1"), node("n2"), node("n3"), node("n4")]
}

#[test]
fn sharing_services_get_one_decision_listing_all_services() {
    let e = elect(
        &nodes(),
        &[policy("p", &["blue"])],
        &[vip("b", "192.0.2.5"), vip("a", "192.0.2.5")],
    );
    assert_eq!(e.per_ip.len(), 1);
    let d = &e.per_ip[&ip("192.0.2.5")];
    assert_eq!(d.services, [svc("a"), svc("b")]);
    assert!(d.winner.is_some());
}

#[test]
fn candidates_are_the_intersection() {
    let a = local(
        vip("a", "192.0.2.5"),
        vec![ready_on("n1"), ready_on("n2"), ready_on("n3")],
    );
    let b = local(
        vip("b", "192.0.2.5"),
        vec![ready_on("n2"), ready_on("n3"), ready_on("n4")],
    );
    let d = &elect(&nodes(), &[policy("p", &["blue"])], &[a, b]).per_ip[&ip("192.0.2.5")];
    assert_eq!(*d.candidates, ["n2", "n3"]);
    assert!(matches!(d.winner.as_deref(), Some("n2" | "n3")));
    assert!(
        d.reason.contains("common to 2 sharing Services"),
        "{}",
        d.reason
    );
}

#[test]
fn disjoint_candidates_are_a_conflict_and_silent() {
    let a = local(vip("a", "192.0.2.5"), vec![ready_on("n1")]);
    let b = local(vip("b", "192.0.2.5"), vec![ready_on("n2")]);
    let d = &elect(&nodes(), &[policy("p", &["blue"])], &[a, b]).per_ip[&ip("192.0.2.5")];
    assert_eq!(d.winner, None);
    assert!(d.candidates.is_empty());
    assert!(d.reason.starts_with(CONFLICT_REASON_PREFIX), "{}", d.reason);
    assert!(
        d.reason.contains("default/a → [n1]; default/b → [n2]"),
        "{}",
        d.reason
    );
}

#[test]
fn a_service_that_is_silent_alone_does_not_veto_the_ip() {
    let mut dead = vip("dead", "192.0.2.5");
    dead.endpoints.clear();
    let mut uncovered = vip("uncovered", "192.0.2.5");
    uncovered.pool = Some("red".into());
    let e = elect(
        &nodes(),
        &[policy("p", &["blue"])],
        &[dead, vip("live", "192.0.2.5"), uncovered],
    );
    let d = &e.per_ip[&ip("192.0.2.5")];
    assert!(d.winner.is_some());
    assert_eq!(d.candidates.len(), 4);
    assert!(
        d.reason
            .contains("default/dead not served: no ready endpoints"),
        "{}",
        d.reason
    );
    assert!(
        d.reason
            .contains("default/uncovered not served: no L2AnnouncementPolicy covers pool red"),
        "{}",
        d.reason
    );
}

#[test]
fn all_silent_reasons_are_listed_per_service() {
    let mut dead = vip("dead", "192.0.2.5");
    dead.endpoints.clear();
    let mut uncovered = vip("uncovered", "192.0.2.5");
    uncovered.pool = Some("red".into());
    let d =
        &elect(&nodes(), &[policy("p", &["blue"])], &[dead, uncovered]).per_ip[&ip("192.0.2.5")];
    assert_eq!(d.winner, None);
    assert_eq!(
        &*d.reason,
        "default/dead: no ready endpoints; default/uncovered: no L2AnnouncementPolicy covers pool red"
    );
}

#[test]
fn winner_answers_on_the_union_of_each_services_interfaces() {
    let mut n = node("n1");
    n.interfaces = vec![iface("eth0", &[]), iface("eth1", &[])];
    let only = |iface: &str, team: &str| {
        let mut p = policy(team, &["blue"]);
        p.interfaces = vec![iface.into()];
        p.service_selector = Some(Selector {
            match_labels: labels(&[("team", team)]),
            ..Default::default()
        });
        p
    };
    let mut a = vip("a", "192.0.2.5");
    a.service_labels = labels(&[("team", "x")]);
    let mut b = vip("b", "192.0.2.5");
    b.service_labels = labels(&[("team", "y")]);
    let e = elect(&[n], &[only("eth0", "x"), only("eth1", "y")], &[a, b]);
    assert_eq!(
        e.for_node("n1"),
        [(
            ip("192.0.2.5"),
            vec!["eth0".to_string(), "eth1".to_string()]
        )]
    );
}

#[test]
fn decisions_with_the_same_lists_share_them() {
    let e = elect(
        &nodes(),
        &[policy("p", &["blue"])],
        &[
            vip("a", "192.0.2.5"),
            vip("b", "192.0.2.6"),
            vip("c", "192.0.2.7"),
        ],
    );
    let decisions: Vec<_> = e.per_ip.values().collect();
    assert_eq!(decisions.len(), 3);
    let first = decisions[0];
    assert_eq!(first.candidates.len(), 4);
    for d in &decisions[1..] {
        assert!(std::sync::Arc::ptr_eq(&d.candidates, &first.candidates));
        assert!(std::sync::Arc::ptr_eq(&d.interfaces, &first.interfaces));
    }
}
