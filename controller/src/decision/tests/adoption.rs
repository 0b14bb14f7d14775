//! Adoption of addresses another load balancer wrote (a VIPPool's `spec.adoptedAddresses`) and
//! MetalLB's annotations (`--metallb-annotations`).

use std::net::IpAddr;

use ferrolb_adapter::proof::Claim;
use serde_json::json;

use super::fixtures::{Cluster, Svc, add, applied};
use super::{POOL, config, decide_on, decide_with};
use crate::decision::{Config, Writes};
use crate::inputs::Watched;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

/// Service `a` whose status MetalLB wrote: 198.51.100.5.
fn migrated() -> Svc {
    Svc::lb("a", 0).status_ips_by("metallb-controller", &["198.51.100.5"])
}

fn record(name: &str, uid: Option<&str>, ips: &[&str]) -> serde_json::Value {
    json!([{"namespace": "default", "name": name, "uid": uid, "addresses": ips}])
}

fn write_of<'a>(writes: &'a Writes, name: &str) -> &'a crate::diff::ServiceWrite {
    writes
        .services
        .iter()
        .find(|w| w.service.metadata.name.as_deref() == Some(name))
        .expect("a write for the Service")
}

fn reasons(writes: &Writes, name: &str) -> Vec<String> {
    write_of(writes, name)
        .diff
        .events
        .iter()
        .map(|e| e.reason.clone())
        .collect()
}

/// The address of `name` once the writes are applied, and whether its proof verifies.
fn settled_ip(watched: &Watched, writes: &Writes, name: &str) -> (Vec<IpAddr>, bool) {
    let after = applied(watched, writes);
    let svc = after
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .expect("the Service");
    let keys = &crate::decision::prove::test_keys().verify;
    let ips = ferrolb_adapter::ingress::ingress_ip_list(svc);
    (ips, keys.verify_service(svc).is_ok())
}

#[test]
fn a_recorded_address_is_kept_signed_and_said_so() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .adopting("web", record("a", Some("uid-a"), &["198.51.100.5"]))
        .service(migrated())
        .build();
    let writes = decide_on(&watched);
    let w = write_of(&writes, "a");
    assert_eq!(w.want.owned.ips, [ip("198.51.100.5")]);
    assert_eq!(w.want.owned.pool.as_deref(), Some("web"));
    assert!(w.diff.write_status && w.diff.write_annotation);
    assert_eq!(reasons(&writes, "a"), ["AddressAdopted"]);
    assert_eq!(
        settled_ip(&watched, &writes, "a"),
        (vec![ip("198.51.100.5")], true)
    );
    // Adopted once: the next pass finds a proven address and writes nothing.
    let after = applied(&watched, &writes);
    assert!(decide_on(&after).services.is_empty());
    // The claim signed is this Service's.
    let svc = &after.services[0];
    assert_eq!(
        Claim::of(svc).ips.into_iter().collect::<Vec<_>>(),
        [ip("198.51.100.5")]
    );
}

/// `migrated()`'s unproven address, under `record` in pool `web`, is replaced by the pool's
/// first free address with a Warning.
fn replaced_under(record: serde_json::Value) {
    let watched = Cluster::new()
        .pool("web", POOL)
        .adopting("web", record)
        .service(migrated())
        .build();
    let writes = decide_on(&watched);
    assert_eq!(write_of(&writes, "a").want.owned.ips, [ip("198.51.100.0")]);
    assert_eq!(reasons(&writes, "a")[0], "UnprovenAddressReplaced");
}

#[test]
fn an_address_not_recorded_is_replaced() {
    replaced_under(record("a", None, &["198.51.100.6"]));
}

#[test]
fn an_address_recorded_for_another_service_is_replaced() {
    replaced_under(record("b", None, &["198.51.100.5"]));
}

#[test]
fn a_record_pinned_to_another_uid_adopts_nothing() {
    replaced_under(record("a", Some("uid-of-the-old-a"), &["198.51.100.5"]));
}

#[test]
fn a_recorded_address_outside_the_pool_is_replaced() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .adopting("web", record("a", None, &["203.0.113.5"]))
        .service(Svc::lb("a", 0).status_ips_by("metallb-controller", &["203.0.113.5"]))
        .build();
    let writes = decide_on(&watched);
    assert_eq!(write_of(&writes, "a").want.owned.ips, [ip("198.51.100.0")]);
}

#[test]
fn a_recorded_address_proven_to_another_service_is_replaced() {
    // b holds 198.51.100.5 under the controller's proof.
    let before = Cluster::new()
        .pool("web", POOL)
        .service(Svc::lb("b", 0).annotation("ferrolb.io/load-balancer-ips", "198.51.100.5"))
        .build();
    let mut watched = applied(&before, &decide_on(&before));
    assert_eq!(
        settled_ip(&watched, &decide_on(&watched), "b"),
        (vec![ip("198.51.100.5")], true)
    );
    // a, older, shows the same address unproven, and a record names it for a.
    add(
        &mut watched,
        Svc::lb("a", -1).status_ips_by("metallb-controller", &["198.51.100.5"]),
    );
    let watched = Cluster::from(watched)
        .adopting("web", record("a", None, &["198.51.100.5"]))
        .build();
    let writes = decide_on(&watched);
    assert_ne!(write_of(&writes, "a").want.owned.ips, [ip("198.51.100.5")]);
    assert_eq!(reasons(&writes, "a")[0], "UnprovenAddressReplaced");
    assert!(
        writes
            .services
            .iter()
            .all(|w| w.service.metadata.name.as_deref() != Some("b"))
    );
}

#[test]
fn metallb_annotations_count_only_with_the_flag() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .pool("other", &["203.0.113.0/29"])
        .service(
            Svc::lb("a", 0)
                .annotation("metallb.io/loadBalancerIPs", "203.0.113.3")
                .annotation("metallb.io/address-pool", "other"),
        )
        .service(Svc::lb("b", 1).annotation("metallb.io/address-pool", "other"))
        .service(
            Svc::lb("c", 2)
                .annotation("metallb.universe.tf/loadBalancerIPs", "198.51.100.4")
                .annotation("ferrolb.io/load-balancer-ips", "198.51.100.6"),
        )
        .build();
    let off = decide_on(&watched);
    assert_eq!(write_of(&off, "a").want.owned.ips, [ip("198.51.100.0")]);
    let on = decide_with(
        &watched,
        &Config {
            metallb_annotations: true,
            ..config()
        },
    );
    assert_eq!(write_of(&on, "a").want.owned.ips, [ip("203.0.113.3")]);
    assert_eq!(write_of(&on, "b").want.owned.ips, [ip("203.0.113.0")]);
    assert_eq!(
        write_of(&on, "c").want.owned.ips,
        [ip("198.51.100.6")],
        "ferrolb's own annotation wins"
    );
}

#[test]
fn metallb_sharing_annotation_shares_with_the_flag_and_speakers_accept_it() {
    let shared = |name: &str, age: i64, port: i32| {
        Svc::lb(name, age)
            .port(port)
            .annotation("metallb.io/allow-shared-ip", "web")
            .annotation("metallb.io/loadBalancerIPs", "198.51.100.3")
    };
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(shared("a", 0, 80))
        .service(shared("b", 1, 443))
        .build();
    let config = Config {
        metallb_annotations: true,
        ..config()
    };
    let writes = decide_with(&watched, &config);
    for name in ["a", "b"] {
        assert_eq!(write_of(&writes, name).want.owned.ips, [ip("198.51.100.3")]);
    }
    // What the speakers decide: both proven, both served (the proof binds MetalLB's key).
    let after = applied(&watched, &writes);
    let pools = ferrolb_adapter::pools::Pools::new(&after.pools);
    let allocations = ferrolb_adapter::allocations::Allocations::of(
        &after.services,
        &pools,
        &crate::decision::prove::test_keys().verify,
        "never announced",
    );
    for name in ["a", "b"] {
        let key = ferrolb_core::ServiceKey::new("default", name);
        assert!(
            allocations.of_service(&key).iter().all(|(_, v)| v.is_ok()),
            "{name}: {:?}",
            allocations.of_service(&key)
        );
    }
}
