//! The load-balancer cleanup finalizer and releases on fixture clusters: added with the first
//! address, kept while the Service is ours, removed after a type change and after the release
//! of a deleted Service, never touched on other classes; a deleted Service's address is not
//! given to anyone before it is released.

use std::net::IpAddr;

use ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER;
use ferrolb_core::names::MANAGER_CONTROLLER;
use kube::ResourceExt;

use super::fixtures::{Cluster, Svc, add, applied, edit, now, show};
use super::{POOL, config, decide_on, settled};
use crate::decision::{Inputs, Pending, Writes, decide};
use crate::diff::FinalizerWrite;
use crate::inputs::Watched;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

/// The Service `name` of `watched`, if it is there.
fn find<'a>(watched: &'a Watched, name: &str) -> Option<&'a k8s_openapi::api::core::v1::Service> {
    watched
        .services
        .iter()
        .map(AsRef::as_ref)
        .find(|s| s.name_any() == name)
}

fn has_finalizer(watched: &Watched, name: &str) -> bool {
    find(watched, name).is_some_and(|s| {
        s.finalizers()
            .iter()
            .any(|f| f == LOAD_BALANCER_CLEANUP_FINALIZER)
    })
}

/// The write to Service `name`, if any.
fn write_to<'a>(writes: &'a Writes, name: &str) -> Option<&'a crate::diff::ServiceWrite> {
    writes
        .services
        .iter()
        .find(|w| w.service.name_any() == name)
}

#[test]
fn the_finalizer_comes_with_the_first_address() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(Svc::lb("a", 0))
        .build();
    let writes = decide_on(&watched);
    let w = write_to(&writes, "a").expect("a write");
    assert_eq!(w.diff.finalizer, Some(FinalizerWrite::Add));
    assert!(w.diff.write_status, "with the address");
    let shown = show(&writes);
    assert_eq!(
        shown.services[0].finalizer,
        Some(serde_json::json!({"metadata": {
            "uid": "uid-a",
            "finalizers": [LOAD_BALANCER_CLEANUP_FINALIZER],
        }}))
    );

    let after = applied(&watched, &writes);
    assert!(has_finalizer(&after, "a"));
    assert!(decide_on(&after).services.is_empty(), "kept: nothing to do");
}

#[test]
fn an_owned_service_keeps_the_finalizer_whatever_its_allocation() {
    // No pool at all: the allocation fails, the Service is still ours.
    let failing = Cluster::new().service(Svc::lb("a", 0)).build();
    let writes = decide_on(&failing);
    assert_eq!(
        write_to(&writes, "a").expect("a write").diff.finalizer,
        Some(FinalizerWrite::Add)
    );
    assert!(decide_on(&applied(&failing, &writes)).services.is_empty());

    // Someone removed it: it comes back, and nothing else is written.
    let mut watched = settled(
        Cluster::new()
            .pool("web", POOL)
            .service(Svc::lb("a", 0))
            .build(),
    );
    edit(&mut watched, "a", Svc::without_finalizers);
    let writes = decide_on(&watched);
    let w = write_to(&writes, "a").expect("a write");
    assert_eq!(w.diff.finalizer, Some(FinalizerWrite::Add));
    assert!(!w.diff.write_status && !w.diff.write_annotation && w.diff.events.is_empty());

    // One added by someone else is taken as it is.
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(Svc::lb("a", 0).finalizer_by("cloud-controller-manager"))
        .build();
    assert_eq!(
        write_to(&decide_on(&watched), "a")
            .expect("a write")
            .diff
            .finalizer,
        None
    );
}

#[test]
fn a_type_change_clears_the_status_and_removes_the_finalizer() {
    for type_ in ["ClusterIP", "NodePort"] {
        let before = settled(
            Cluster::new()
                .pool("web", POOL)
                .service(Svc::lb("a", 0))
                .build(),
        );
        let mut watched = before.clone();
        edit(&mut watched, "a", |s| s.type_(type_));
        let writes = decide_on(&watched);
        let w = write_to(&writes, "a").expect("a write");
        assert_eq!(w.want.owned, Default::default(), "{type_}: all cleared");
        assert!(w.diff.write_status && w.diff.write_annotation, "{type_}");
        assert_eq!(w.diff.finalizer, Some(FinalizerWrite::Remove), "{type_}");
        if type_ == "ClusterIP" {
            insta::assert_yaml_snapshot!(show(&writes).services);
        }
        let after = applied(&watched, &writes);
        let svc = find(&after, "a").expect("still there");
        assert!(!has_finalizer(&after, "a"), "{type_}");
        assert!(
            svc.status
                .as_ref()
                .is_none_or(|s| s.load_balancer.is_none() && s.conditions.is_none()),
            "{type_}: {:?}",
            svc.status
        );
        assert!(decide_on(&after).services.is_empty(), "{type_}: once");

        // Back to LoadBalancer: an address and the finalizer again.
        let mut back = after.clone();
        edit(&mut back, "a", |s| {
            s.type_("LoadBalancer").class(Some("ferrolb.io/lb"))
        });
        let writes = decide_on(&back);
        let w = write_to(&writes, "a").expect("a write");
        assert_eq!(w.diff.finalizer, Some(FinalizerWrite::Add), "{type_}");
        assert_eq!(w.want.owned.ips, [ip("198.51.100.0")], "{type_}");
    }
}

#[test]
fn a_deleted_service_is_released_then_its_finalizer_removed() {
    let mut watched = settled(
        Cluster::new()
            .pool("web", POOL)
            .service(Svc::lb("a", 0))
            .build(),
    );
    assert!(has_finalizer(&watched, "a"));
    edit(&mut watched, "a", Svc::deleted);
    let writes = decide_on(&watched);
    let w = write_to(&writes, "a").expect("a write");
    assert_eq!(w.want.owned, Default::default(), "every field cleared");
    assert!(w.diff.write_status && w.diff.write_annotation);
    assert_eq!(w.diff.finalizer, Some(FinalizerWrite::Remove));
    insta::assert_yaml_snapshot!(show(&writes));

    let after = applied(&watched, &writes);
    assert!(find(&after, "a").is_none(), "no finalizer left: deleted");
    assert!(decide_on(&after).services.is_empty());
}

#[test]
fn a_deleted_services_address_goes_to_another_only_after_its_release() {
    let mut watched = settled(
        Cluster::new()
            .pool("web", POOL)
            .service(Svc::lb("a", 0))
            .build(),
    );
    edit(&mut watched, "a", Svc::deleted);
    add(
        &mut watched,
        Svc::lb("asks", 1).annotation("ferrolb.io/load-balancer-ips", "198.51.100.0"),
    );
    add(&mut watched, Svc::lb("any", 2));
    let writes = decide_on(&watched);
    assert!(write_to(&writes, "a").is_some(), "released");
    assert!(
        write_to(&writes, "asks").is_none(),
        "waits, without a refusal: {:#?}",
        show(&writes)
    );
    assert_eq!(
        write_to(&writes, "any").expect("a write").want.owned.ips,
        [ip("198.51.100.1")],
        "not the address being released"
    );
    let pool = &writes.pools[0].status;
    assert!(
        pool.reserved_node_addresses.is_empty(),
        "a held address is not a node's"
    );

    // The release was written but the watch still shows the old status: the pending write
    // counts, the address is free.
    let pending: Pending = writes
        .services
        .iter()
        .filter(|w| w.service.name_any() == "a")
        .map(|w| (w.service.uid().expect("uid"), w.want.clone()))
        .collect();
    let again = decide(&Inputs {
        watched: &watched,
        pending: &pending,
        config: &config(),
        stamp_key: None,
        keys: crate::decision::prove::test_keys(),
        now: &now(),
    });
    assert_eq!(
        write_to(&again, "asks").expect("a write").want.owned.ips,
        [ip("198.51.100.0")]
    );

    // And once the Service is gone.
    let after = applied(&watched, &writes);
    assert!(find(&after, "a").is_none());
    let next = decide_on(&after);
    assert_eq!(
        write_to(&next, "asks").expect("a write").want.owned.ips,
        [ip("198.51.100.0")]
    );
}

#[test]
fn a_shared_address_stays_with_the_live_service() {
    let mut watched = settled(
        Cluster::new()
            .pool("web", POOL)
            .service(Svc::lb("a", 0).annotation("ferrolb.io/sharing-key", "k"))
            .service(
                Svc::lb("b", 1)
                    .port(443)
                    .annotation("ferrolb.io/sharing-key", "k"),
            )
            .build(),
    );
    let shown = |w: &Watched, name: &str| {
        crate::inputs::current_fields::observe(
            find(w, name).expect("there"),
            &crate::decision::prove::test_keys().verify,
        )
        .owned
        .ips
    };
    assert_eq!(shown(&watched, "a"), shown(&watched, "b"), "shared");
    edit(&mut watched, "a", Svc::deleted);
    let writes = decide_on(&watched);
    assert!(write_to(&writes, "b").is_none(), "b keeps it untouched");
    assert!(write_to(&writes, "a").is_some());
}

#[test]
fn other_classes_finalizers_are_never_touched() {
    let other = |name: &str, age| Svc::lb(name, age).class(Some("example.com/other"));
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(other("theirs", 0).finalizer_by("example.com-controller"))
        .service(
            other("deleted", 1)
                .finalizer_by("example.com-controller")
                .deleted(),
        )
        .service(Svc::cluster_ip("plain").finalizer_by("cloud-controller-manager"))
        // Not the default class: class-less LoadBalancers are someone else's too.
        .service(
            Svc::lb("classless", 2)
                .class(None)
                .finalizer_by("cloud-controller-manager"),
        )
        .build();
    let writes = decide_on(&watched);
    assert!(writes.services.is_empty(), "{:#?}", show(&writes));
}

#[test]
fn the_finalizer_it_added_goes_when_the_service_is_no_longer_its_own() {
    let watched = Cluster::new()
        .service(Svc::cluster_ip("left").finalizer_by(MANAGER_CONTROLLER))
        .service(
            Svc::lb("handed-over", 0)
                .class(Some("example.com/other"))
                .finalizer_by(MANAGER_CONTROLLER),
        )
        .service(
            Svc::lb("default-given-up", 1)
                .class(None)
                .finalizer_by(MANAGER_CONTROLLER),
        )
        .build();
    let writes = decide_on(&watched);
    for name in ["left", "handed-over", "default-given-up"] {
        let w = write_to(&writes, name).expect("a write");
        assert_eq!(w.diff.finalizer, Some(FinalizerWrite::Remove), "{name}");
        assert!(
            !w.diff.write_status && !w.diff.write_annotation && w.diff.events.is_empty(),
            "{name}: nothing else was written"
        );
    }
    let after = applied(&watched, &writes);
    assert!(decide_on(&after).services.is_empty());
}
