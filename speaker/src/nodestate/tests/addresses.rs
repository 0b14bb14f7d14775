//! Which LoadBalancer IPs count: controller-owned status, annotation naming the pool, coverage.

use serde_json::json;

use super::fixtures::{World, ip, lb_json, merge, programmed, silent_reason, slice_json};

fn world_with(svc: serde_json::Value) -> World {
    let mut w = World::new();
    w.services.push(svc);
    w.slices
        .push(slice_json("web", &[("192.0.2.10", "node-a", true, false)]));
    w
}

#[test]
fn controller_owned_ip_is_announced_by_exactly_one_node_and_programmed_everywhere() {
    let w = world_with(lb_json("web", &["198.51.100.200"], "blue"));
    let announcers = w.announcers("198.51.100.200");
    assert_eq!(announcers.len(), 1, "{announcers:?}");
    for node in super::fixtures::NODES {
        let d = w.on(node);
        assert_eq!(
            programmed(&d, "web"),
            Some(vec![ip("198.51.100.200")]),
            "{node}"
        );
        assert_eq!(silent_reason(&d, "198.51.100.200"), None);
    }
    let d = w.on(announcers[0]);
    assert_eq!(
        d.announce["eth0"].iter().copied().collect::<Vec<_>>(),
        [ip("198.51.100.200")]
    );
    let plan = &d.announcements[0];
    assert_eq!(plan.announced.len(), 1);
    assert_eq!(plan.announced[0].interfaces[..], ["eth0"]);
    assert!(
        plan.announced[0].reason.contains("rendezvous"),
        "{}",
        plan.announced[0].reason
    );
}

#[test]
fn ip_forged_into_status_by_someone_else_is_never_announced_nor_programmed() {
    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut svc,
        json!({"metadata": {"managedFields": [super::fixtures::controller_status("kubectl", true, &[])]}}),
    );
    let w = world_with(svc);
    assert!(w.announcers("198.51.100.200").is_empty());
    let d = w.on("node-a");
    assert_eq!(
        programmed(&d, "web"),
        Some(vec![]),
        "NodePorts stay, the VIP does not"
    );
    let why = silent_reason(&d, "198.51.100.200").unwrap();
    assert!(
        why.contains("no ferrolb.io/allocation-proof annotation"),
        "{why}"
    );
}

#[test]
fn controller_owning_only_another_status_field_does_not_vouch_for_the_ingress() {
    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    let fields =
        super::fixtures::controller_status("ferrolb-controller", false, &["ferrolb.io/Allocated"]);
    merge(&mut svc, json!({"metadata": {"managedFields": [fields]}}));
    let w = world_with(svc);
    assert!(w.announcers("198.51.100.200").is_empty());
    assert_eq!(programmed(&w.on("node-b"), "web"), Some(vec![]));
}

#[test]
fn annotation_must_name_a_pool_containing_the_ip() {
    // `red` exists but does not contain the address; `blue` does but is not named.
    let w = world_with(lb_json("web", &["198.51.100.200"], "red"));
    assert!(w.announcers("198.51.100.200").is_empty());
    let d = w.on("node-a");
    assert_eq!(programmed(&d, "web"), Some(vec![]));
    let why = silent_reason(&d, "198.51.100.200").unwrap();
    assert!(
        why.contains("lies in VIPPool blue") && why.contains("(red)"),
        "{why}"
    );

    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut svc,
        json!({"metadata": {"annotations": {"ferrolb.io/allocated-from": null}}}),
    );
    let d = world_with(svc).on("node-a");
    let why = silent_reason(&d, "198.51.100.200").unwrap();
    assert!(
        why.contains("no ferrolb.io/allocated-from annotation"),
        "{why}"
    );

    // Dual-stack style "pool,pool": the IP only has to lie in one of them.
    let w = world_with(lb_json("web", &["198.51.100.200"], "red, blue"));
    assert_eq!(w.announcers("198.51.100.200").len(), 1);
}

#[test]
fn pool_not_covered_is_silent_but_still_programmed() {
    let w = world_with(lb_json("web", &["203.0.113.7"], "red"));
    assert!(w.announcers("203.0.113.7").is_empty());
    let d = w.on("node-c");
    assert_eq!(
        silent_reason(&d, "203.0.113.7").unwrap(),
        "no L2AnnouncementPolicy covers pool red"
    );
    assert_eq!(programmed(&d, "web"), Some(vec![ip("203.0.113.7")]));
}

#[test]
fn pool_selector_and_empty_policy_resolve_to_pool_names() {
    let mut w = world_with(lb_json("web", &["203.0.113.7"], "red"));
    merge(
        &mut w.pools[1],
        json!({"metadata": {"labels": {"tier": "edge-lan"}}}),
    );
    w.l2 = vec![super::fixtures::l2_json(
        "by-label",
        json!({"ipPoolSelector": {"matchLabels": {"tier": "edge-lan"}}}),
    )];
    assert_eq!(w.announcers("203.0.113.7").len(), 1);
    w.l2 = vec![super::fixtures::l2_json("all", json!({}))];
    assert_eq!(
        w.announcers("203.0.113.7").len(),
        1,
        "no pools, no selector: every pool"
    );
    w.l2 = vec![super::fixtures::l2_json(
        "bad-op",
        json!({"ipPoolSelector": {"matchExpressions": [{"key": "tier", "operator": "Near"}]}}),
    )];
    assert!(
        w.announcers("203.0.113.7").is_empty(),
        "unknown operator fails closed"
    );
}

#[test]
fn edge_pool_is_programmed_but_not_announced() {
    let mut w = world_with(lb_json("web", &["198.51.100.200"], "blue"));
    merge(
        &mut w.pools[0],
        json!({"metadata": {"labels": {"ferrolb.io/mode": "edge"}}}),
    );
    assert!(w.announcers("198.51.100.200").is_empty());
    let d = w.on("node-a");
    assert!(
        silent_reason(&d, "198.51.100.200")
            .unwrap()
            .contains("edge pool")
    );
    assert_eq!(programmed(&d, "web"), Some(vec![ip("198.51.100.200")]));
}

#[test]
fn services_of_another_class_are_ignored_and_unset_class_needs_the_controller() {
    let mut other = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut other,
        json!({"spec": {"loadBalancerClass": "example.com/other"}}),
    );
    let d = world_with(other).on("node-a");
    assert!(d.announcements.is_empty() && d.rules.input.services.is_empty());

    let mut unset = lb_json("web", &["198.51.100.200"], "blue");
    merge(&mut unset, json!({"spec": {"loadBalancerClass": null}}));
    assert_eq!(
        world_with(unset.clone()).announcers("198.51.100.200").len(),
        1
    );
    merge(&mut unset, json!({"metadata": {"managedFields": []}}));
    let d = world_with(unset).on("node-a");
    assert!(d.announcements.is_empty() && d.rules.input.services.is_empty());
}

/// A Service changed to ClusterIP or NodePort (the apiserver clears `status.loadBalancer`; the
/// controller's condition and annotation are still there until it releases them): nothing is
/// announced or programmed for the old address, also if the ingress were still shown.
#[test]
fn a_service_changed_away_from_load_balancer_is_neither_announced_nor_programmed() {
    for type_ in ["ClusterIP", "NodePort"] {
        for ingress_left in [false, true] {
            let mut svc = lb_json("web", &["198.51.100.200"], "blue");
            merge(
                &mut svc,
                json!({"spec": {"type": type_, "loadBalancerClass": null}}),
            );
            if !ingress_left {
                merge(&mut svc, json!({"status": {"loadBalancer": {}}}));
            }
            let w = world_with(svc);
            assert!(
                w.announcers("198.51.100.200").is_empty(),
                "{type_} {ingress_left}"
            );
            for node in super::fixtures::NODES {
                let d = w.on(node);
                assert!(d.announcements.is_empty(), "{type_} {ingress_left} {node}");
                let vips = programmed(&d, "web").unwrap_or_default();
                assert!(
                    !vips.contains(&ip("198.51.100.200")),
                    "{type_} {ingress_left} {node}: {vips:?}"
                );
            }
        }
    }
}

/// A Service being deleted still shows its address until the controller releases it (the
/// cleanup finalizer holds it): it is announced until then, so the controller gives the
/// address to no one else before the release.
#[test]
fn a_deleted_service_is_announced_until_its_release() {
    let mut svc = lb_json("web", &["198.51.100.200"], "blue");
    merge(
        &mut svc,
        json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z",
            "finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}}),
    );
    let w = world_with(svc.clone());
    assert_eq!(w.announcers("198.51.100.200").len(), 1);
    // Released: the controller cleared the status and the annotation.
    merge(
        &mut svc,
        json!({"status": {"loadBalancer": {}, "conditions": null},
            "metadata": {"annotations": null}}),
    );
    assert!(world_with(svc).announcers("198.51.100.200").is_empty());
}
