//! One test (or a few) per election rule.

use super::super::elect::elect;
use super::super::model::{EndpointView, VipKind};
use super::super::rendezvous::rendezvous_score;
use super::fixtures::*;
use ferrolb_adapter::selector::Selector;

fn three_nodes() -> Vec<super::super::model::NodeView> {
    vec![node("n1"), node("n2"), node("n3")]
}

#[test]
fn uncovered_pool_is_silent_with_reason() {
    let mut v = vip("a", "192.0.2.100");
    v.pool = Some("red".into());
    let e = elect(&three_nodes(), &[policy("p", &["blue"])], &[v]);
    let d = &e.per_ip[&ip("192.0.2.100")];
    assert_eq!(d.winner, None);
    assert_eq!(&*d.reason, "no L2AnnouncementPolicy covers pool red");
    assert_eq!(d.services, [svc("a")]);
}

#[test]
fn external_ip_needs_policy_with_external_ips() {
    let mut v = vip("a", "192.0.2.100");
    v.kind = VipKind::ExternalIp;
    v.pool = None;
    let nodes = three_nodes();
    assert_eq!(
        elect(&nodes, &[policy("p", &["blue"])], std::slice::from_ref(&v)).winner(v.ip),
        None
    );
    let mut ext = policy("ext", &[]);
    ext.external_ips = true;
    assert!(elect(&nodes, &[ext], &[v.clone()]).winner(v.ip).is_some());
}

#[test]
fn service_selector_filters_policies() {
    let mut p = policy("p", &["blue"]);
    p.service_selector = Some(Selector {
        match_labels: labels(&[("l2", "yes")]),
        ..Default::default()
    });
    let mut v = vip("a", "192.0.2.100");
    assert_eq!(
        elect(&three_nodes(), &[p.clone()], &[v.clone()]).winner(v.ip),
        None
    );
    v.service_labels = labels(&[("l2", "yes")]);
    assert!(
        elect(&three_nodes(), &[p], &[v.clone()])
            .winner(v.ip)
            .is_some()
    );
}

#[test]
fn invalid_policy_is_ignored() {
    let mut p = policy("p", &["blue"]);
    p.interfaces = vec!["".into()];
    let v = vip("a", "192.0.2.100");
    assert_eq!(
        elect(&three_nodes(), &[p], std::slice::from_ref(&v)).winner(v.ip),
        None
    );
}

#[test]
fn unfit_nodes_are_never_candidates() {
    let mut nodes = vec![
        node("ok"),
        node("unready"),
        node("excl"),
        node("dead"),
        node("unlabeled"),
        node("noif"),
    ];
    nodes[1].ready = false;
    nodes[2].excluded = true;
    nodes[3].speaker_alive = false;
    nodes
        .iter_mut()
        .filter(|n| n.name != "unlabeled")
        .for_each(|n| n.labels = labels(&[("l2", "")]));
    nodes[5].interfaces[0].up = false;
    let mut p = policy("p", &["blue"]);
    p.node_selector = Some(Selector {
        match_labels: labels(&[("l2", "")]),
        ..Default::default()
    });
    let vips: Vec<_> = (1..=50)
        .map(|i| vip(&format!("s{i}"), &format!("192.0.2.{i}")))
        .collect();
    let e = elect(&nodes, std::slice::from_ref(&p), &vips);
    for d in e.per_ip.values() {
        assert_eq!(*d.candidates, ["ok"]);
        assert_eq!(d.winner.as_deref(), Some("ok"));
    }
    // With "ok" gone too, the reason counts each cause.
    let e = elect(&nodes[1..], &[p], &vips[..1]);
    let reason = &e.per_ip[&vips[0].ip].reason;
    for part in [
        "among 5",
        "1 not ready (unready)",
        "1 excluded",
        "1 speaker not alive (dead)",
        "nodeSelector",
        "1 no usable interface (noif)",
    ] {
        assert!(reason.contains(part), "{part:?} missing in {reason:?}");
    }
}

#[test]
fn winner_has_the_highest_score_among_candidates() {
    let nodes = three_nodes();
    let vips: Vec<_> = (1..=30)
        .map(|i| vip(&format!("s{i}"), &format!("10.1.0.{i}")))
        .collect();
    let e = elect(&nodes, &[policy("p", &["blue"])], &vips);
    for (ip, d) in &e.per_ip {
        let best = ["n1", "n2", "n3"]
            .into_iter()
            .max_by_key(|n| rendezvous_score(*ip, n))
            .unwrap();
        assert_eq!(d.winner.as_deref(), Some(best));
        assert_eq!(*d.candidates, ["n1", "n2", "n3"]);
        assert!(
            d.reason.contains("highest rendezvous score"),
            "{}",
            d.reason
        );
    }
}

#[test]
fn interfaces_follow_the_vip_subnet_and_fall_back_off_subnet() {
    let mut n = node("n1");
    n.interfaces = vec![
        iface("eth0", &["192.0.2.10/24"]),
        iface("eth1", &["198.51.100.10/24"]),
        {
            let mut lo = iface("lo", &["127.0.0.1/8"]);
            lo.loopback = true;
            lo
        },
    ];
    let nodes = [n];
    let ps = [policy("p", &["blue"])];
    let on_v4 = elect(&nodes, &ps, &[vip("a", "198.51.100.7")]);
    assert_eq!(
        on_v4.for_node("n1"),
        [(ip("198.51.100.7"), vec!["eth1".to_string()])]
    );
    let off = elect(&nodes, &ps, &[vip("a", "203.0.113.7")]);
    assert_eq!(
        off.for_node("n1"),
        [(
            ip("203.0.113.7"),
            vec!["eth0".to_string(), "eth1".to_string()]
        )]
    );
    let v6_off = elect(&nodes, &ps, &[vip("a", "2001:db8:9::1")]);
    assert_eq!(
        v6_off.for_node("n1")[0].1,
        ["eth0", "eth1"],
        "v4 subnets never match a v6 VIP"
    );
}

#[test]
fn interface_globs_and_union_across_policies() {
    let mut n = node("n1");
    n.labels = labels(&[("rack", "r1")]);
    n.interfaces = vec![
        iface("eth0", &[]),
        iface("enp1", &[]),
        iface("bond0", &[]),
        iface("wg0", &[]),
    ];
    let mut a = policy("a", &["blue"]);
    a.interfaces = vec!["en?1".into()];
    let mut b = policy("b", &["blue"]);
    b.interfaces = vec!["bond*".into()];
    b.node_selector = Some(Selector {
        match_labels: labels(&[("rack", "r1")]),
        ..Default::default()
    });
    let mut other_rack = b.clone();
    other_rack.interfaces = vec!["wg*".into()];
    other_rack.node_selector = Some(Selector {
        match_labels: labels(&[("rack", "r2")]),
        ..Default::default()
    });
    let e = elect(&[n], &[a, b, other_rack], &[vip("a", "203.0.113.7")]);
    assert_eq!(e.for_node("n1")[0].1, ["bond0", "enp1"]);
}

#[test]
fn node_without_usable_interface_is_not_a_candidate() {
    let mut n2 = node("n2");
    n2.interfaces[0].has_lladdr = false;
    let mut n3 = node("n3");
    n3.interfaces[0].bridge_port = true;
    let e = elect(
        &[node("n1"), n2, n3],
        &[policy("p", &["blue"])],
        &[vip("a", "192.0.2.100")],
    );
    assert_eq!(*e.per_ip[&ip("192.0.2.100")].candidates, ["n1"]);
}

#[test]
fn cluster_policy_needs_a_ready_or_serving_terminating_endpoint_somewhere() {
    let nodes = three_nodes();
    let ps = [policy("p", &["blue"])];
    let mut v = vip("a", "192.0.2.100");
    v.endpoints.clear();
    let d = &elect(&nodes, &ps, std::slice::from_ref(&v)).per_ip[&v.ip];
    assert_eq!(
        (d.winner.as_deref(), &*d.reason),
        (None, "no ready endpoints")
    );
    v.endpoints = vec![EndpointView {
        node: None,
        ready: false,
        serving: false,
        terminating: true,
    }];
    assert_eq!(
        elect(&nodes, &ps, std::slice::from_ref(&v)).winner(v.ip),
        None
    );
    v.endpoints = vec![EndpointView {
        node: None,
        ready: true,
        serving: false,
        terminating: true,
    }];
    assert_eq!(
        elect(&nodes, &ps, std::slice::from_ref(&v)).winner(v.ip),
        None,
        "ready+terminating is not ready"
    );
    v.endpoints = vec![terminating_on("elsewhere")];
    let d = &elect(&nodes, &ps, std::slice::from_ref(&v)).per_ip[&v.ip];
    assert!(d.winner.is_some());
    assert_eq!(
        d.candidates.len(),
        3,
        "Cluster: endpoint location does not matter"
    );
}

#[test]
fn local_policy_prefers_nodes_with_ready_endpoints() {
    let nodes = three_nodes();
    let ps = [policy("p", &["blue"])];
    let v = local(
        vip("a", "192.0.2.100"),
        vec![ready_on("n2"), terminating_on("n3"), ready_on("gone")],
    );
    let d = &elect(&nodes, &ps, &[v]).per_ip[&ip("192.0.2.100")];
    assert_eq!(*d.candidates, ["n2"]);
    assert_eq!(d.winner.as_deref(), Some("n2"));
}

#[test]
fn local_policy_falls_back_to_serving_terminating_endpoints() {
    let mut nodes = three_nodes();
    let ps = [policy("p", &["blue"])];
    let v = local(
        vip("a", "192.0.2.100"),
        vec![terminating_on("n1"), terminating_on("n3")],
    );
    let d = &elect(&nodes, &ps, std::slice::from_ref(&v)).per_ip[&v.ip];
    assert_eq!(*d.candidates, ["n1", "n3"]);
    assert!(d.reason.contains("serving terminating"), "{}", d.reason);
    // A ready endpoint on a node that cannot announce does not block the fallback.
    nodes[1].speaker_alive = false;
    let v = local(
        vip("a", "192.0.2.100"),
        vec![ready_on("n2"), terminating_on("n3")],
    );
    assert_eq!(
        *elect(&nodes, &ps, std::slice::from_ref(&v)).per_ip[&v.ip].candidates,
        ["n3"]
    );
}

#[test]
fn local_policy_without_endpoint_on_an_eligible_node_is_silent() {
    let mut nodes = three_nodes();
    nodes[0].ready = false;
    let v = local(
        vip("a", "192.0.2.100"),
        vec![ready_on("n1"), ready_on("outside")],
    );
    let d = &elect(&nodes, &[policy("p", &["blue"])], std::slice::from_ref(&v)).per_ip[&v.ip];
    assert_eq!(d.winner, None);
    assert!(
        d.reason
            .contains("endpoints on: n1, outside; eligible: n2, n3"),
        "{}",
        d.reason
    );
}

#[test]
fn for_node_lists_only_that_nodes_ips() {
    let nodes = three_nodes();
    let vips: Vec<_> = (1..=40)
        .map(|i| vip(&format!("s{i}"), &format!("192.0.2.{i}")))
        .collect();
    let e = elect(&nodes, &[policy("p", &["blue"])], &vips);
    let mut total = 0;
    for n in ["n1", "n2", "n3"] {
        let mine = e.for_node(n);
        assert!(mine.windows(2).all(|w| w[0].0 < w[1].0), "sorted by IP");
        for (ip, ifs) in &mine {
            assert_eq!(e.winner(*ip), Some(n));
            assert_eq!(ifs, &["eth0"]);
        }
        total += mine.len();
    }
    assert_eq!(total, 40);
    assert!(e.for_node("nobody").is_empty());
}

#[test]
fn duplicate_node_names_do_not_depend_on_order() {
    let mut twin = node("n1");
    twin.ready = false;
    let ps = [policy("p", &["blue"])];
    let vips = [vip("a", "192.0.2.100")];
    let a = elect(&[node("n1"), twin.clone()], &ps, &vips);
    let b = elect(&[twin, node("n1")], &ps, &vips);
    assert_eq!(a, b);
}

/// Decisions of one [`SharedParts`] share their lists and reasons; once no decision holds
/// them, `forget_unused` lets them go, so a memo's parts follow the addresses it keeps.
#[test]
fn shared_parts_are_shared_then_forgotten() {
    use super::super::elect::{Electorate, SharedParts};
    let nodes = three_nodes();
    let policies = [policy("p", &["blue"])];
    let mut shared = SharedParts::default();
    let (a, b) = (vip("a", "192.0.2.1"), vip("b", "192.0.2.2"));
    let electorate = Electorate::new(&nodes, &policies, &shared);
    let one = electorate.decide(a.ip, &[&a]);
    let other = electorate.decide(b.ip, &[&b]);
    drop(electorate);
    assert!(std::sync::Arc::ptr_eq(&one.candidates, &other.candidates));
    assert_eq!(
        one.winner == other.winner,
        std::sync::Arc::ptr_eq(&one.reason, &other.reason)
    );
    shared.forget_unused();
    assert!(!shared.is_empty(), "held by the decisions");
    drop((one, other));
    shared.forget_unused();
    assert!(shared.is_empty(), "no decision holds them: {shared:?}");
}
