//! The decision on fixture clusters: what it writes, what it publishes, and that a second
//! look at an unchanged cluster writes nothing.

mod adoption;
mod fixtures;
mod memo;
mod release;
mod scale;

use fixtures::{Cluster, Svc, applied, edit, now, show};

use kube::ResourceExt;

use super::{Config, DecisionMemo, Inputs, Pending, Writes, decide, decide_with_memo};
use crate::admission_stamp::{self, ANN_ADMITTED, StampKey};
use crate::externalips::UserInfo;
use crate::inputs::Watched;

const POOL: &[&str] = &["198.51.100.0/29"];

fn config() -> Config {
    Config {
        default_class: false,
        service_cidrs: vec!["10.96.0.0/12".into()],
        metallb_annotations: false,
    }
}

fn decide_on(watched: &Watched) -> Writes {
    decide_with(watched, &config())
}

fn decide_with(watched: &Watched, config: &Config) -> Writes {
    decide(&Inputs {
        watched,
        pending: &Pending::new(),
        config,
        stamp_key: None,
        keys: crate::decision::prove::test_keys(),
        now: &now(),
    })
}

/// Decides `watched` with `memo`, as the control loop does (nothing pending).
fn decide_remembering(watched: &Watched, memo: &mut DecisionMemo) -> Writes {
    decide_with_memo(
        &Inputs {
            watched,
            pending: &Pending::new(),
            config: &config(),
            stamp_key: None,
            keys: crate::decision::prove::test_keys(),
            now: &now(),
        },
        memo,
    )
}

/// Decides, applies the writes, and returns the cluster as the apiserver then holds it.
fn settled(watched: Watched) -> Watched {
    let writes = decide_on(&watched);
    applied(&watched, &writes)
}

#[test]
fn a_new_service_gets_its_address_condition_annotation_and_one_event() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(Svc::lb("a", 0))
        .build();
    let writes = decide_on(&watched);
    assert_eq!(writes.services.len(), 1);
    let w = &writes.services[0];
    assert!(w.diff.write_status && w.diff.write_annotation);
    assert_eq!(
        w.want.owned.ips,
        ["198.51.100.0".parse::<std::net::IpAddr>().expect("ip")]
    );
    assert_eq!(w.failure, None);
    insta::assert_yaml_snapshot!(show(&writes));
}

#[test]
fn a_resync_of_an_unchanged_cluster_writes_and_publishes_nothing() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .node("n1", "198.51.100.3")
        .policy("open", &["203.0.113.0/24"], &[])
        .service(Svc::lb("a", 0))
        .service(Svc::lb("b", 1).external_ips(&["203.0.113.5"]))
        .service(Svc::cluster_ip("c").external_ips(&["192.0.2.9"]))
        .build();
    let first = decide_on(&watched);
    assert_eq!(first.services.len(), 3, "{:#?}", show(&first));
    assert_eq!(first.pools.len(), 1);

    let after = applied(&watched, &first);
    let again = decide_on(&after);
    assert!(
        again.services.is_empty() && again.pools.is_empty(),
        "a resync wrote: {:#?}",
        show(&again)
    );

    // The watch has not caught up yet: the written fields, held as pending, count as seen.
    let pending: Pending = first
        .services
        .iter()
        .map(|w| (w.service.metadata.uid.clone().expect("uid"), w.want.clone()))
        .collect();
    let mut not_seen_yet = watched.clone();
    not_seen_yet.pools = after.pools.clone();
    let again = decide(&Inputs {
        watched: &not_seen_yet,
        pending: &pending,
        config: &config(),
        stamp_key: None,
        keys: crate::decision::prove::test_keys(),
        now: &now(),
    });
    assert!(again.services.is_empty(), "{:#?}", show(&again));
}

#[test]
fn a_service_losing_its_class_is_released() {
    let mut watched = settled(
        Cluster::new()
            .pool("web", POOL)
            .service(Svc::lb("a", 0))
            .build(),
    );
    edit(&mut watched, "a", |s| s.class(Some("example.com/other")));
    let writes = decide_on(&watched);
    assert_eq!(writes.services.len(), 1);
    let w = &writes.services[0];
    assert_eq!(
        w.want.owned,
        Default::default(),
        "every owned field is cleared, its finalizer removed"
    );
    assert!(w.diff.write_status && w.diff.write_annotation);
    insta::assert_yaml_snapshot!(show(&writes));

    let after = applied(&watched, &writes);
    assert!(decide_on(&after).services.is_empty(), "released once");
}

#[test]
fn a_refused_external_ip_gets_the_condition_and_a_warning() {
    let watched = Cluster::new()
        .policy("open", &["203.0.113.0/24"], &[])
        .service(Svc::cluster_ip("c").external_ips(&["192.0.2.9"]))
        .build();
    let writes = decide_on(&watched);
    let w = &writes.services[0];
    let condition = w.want.owned.external_ips.as_ref().expect("the condition");
    assert!(!condition.status);
    assert_eq!(condition.reason, "ExternalIPRefused");
    assert!(w.want.owned.no_allocation(), "not ours: nothing allocated");
    assert!(
        w.diff
            .events
            .iter()
            .any(|e| e.warning && e.reason == "ExternalIPRefused")
    );
    insta::assert_yaml_snapshot!(show(&writes));
}

#[test]
fn an_allowed_external_ip_gets_the_condition_without_an_event() {
    let watched = Cluster::new()
        .policy("open", &["203.0.113.0/24"], &[])
        .service(Svc::cluster_ip("c").external_ips(&["203.0.113.9"]))
        .build();
    let writes = decide_on(&watched);
    let w = &writes.services[0];
    assert_eq!(
        w.want
            .owned
            .external_ips
            .as_ref()
            .map(|c| (c.status, c.reason.as_str())),
        Some((true, "Allowed"))
    );
    assert!(w.diff.events.is_empty(), "{:?}", w.diff.events);
}

/// Speakers announce an externalIP only under the controller's signature over the Service's
/// list: it is written with the allowing condition, kept while nothing changes, and removed
/// when a policy no longer allows the address.
#[test]
fn allowed_external_ips_are_signed_and_the_proof_goes_with_the_permission() {
    let keys = &crate::decision::prove::test_keys().verify;
    let open = Cluster::new()
        .policy("open", &["203.0.113.0/24"], &[])
        .service(Svc::cluster_ip("c").external_ips(&["203.0.113.9"]));
    let after = settled(open.build());
    let svc = &after.services[0];
    assert!(keys.verify_external_ips(svc).is_ok(), "{svc:?}");
    assert!(decide_on(&after).services.is_empty(), "signed once");

    let mut closed = after.clone();
    closed.policies.clear();
    let closed = settled(closed);
    let svc = &closed.services[0];
    assert!(
        !svc.annotations()
            .contains_key(ferrolb_api::names::ANN_EXTERNAL_IPS_PROOF),
        "the proof stays after the refusal: {svc:?}"
    );
}

/// The stamp key is an input like any other: a user-limited policy counts only for a stamp
/// that verifies under the key the decision is given.
#[test]
fn a_user_limited_policy_counts_only_with_a_stamp_verified_by_the_given_key() {
    let key = StampKey::from_bytes(vec![1; 32]).expect("key");
    let other = StampKey::from_bytes(vec![2; 32]).expect("key");
    let alice = UserInfo {
        username: "alice".into(),
        groups: vec![],
    };
    let ips = vec!["203.0.113.9".to_string()];
    let stamp = admission_stamp::stamp(&key, "default", "c", &alice, &ips);
    let watched = Cluster::new()
        .policy("alice-only", &["203.0.113.0/24"], &["alice"])
        .service(
            Svc::cluster_ip("c")
                .external_ips(&["203.0.113.9"])
                .annotation(ANN_ADMITTED, &stamp),
        )
        .build();
    let allowed = |key: Option<&StampKey>| {
        let writes = decide(&Inputs {
            watched: &watched,
            pending: &Pending::new(),
            config: &config(),
            stamp_key: key,
            keys: crate::decision::prove::test_keys(),
            now: &now(),
        });
        writes.services[0]
            .want
            .owned
            .external_ips
            .as_ref()
            .expect("the condition")
            .status
    };
    assert!(allowed(Some(&key)));
    assert!(
        !allowed(Some(&other)),
        "a stamp under another key is ignored"
    );
    assert!(!allowed(None), "no key: fail closed");
}

#[test]
fn a_status_ip_written_by_another_manager_is_replaced() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(Svc::lb("a", 0).status_ips_by("intruder", &["192.0.2.66"]))
        .build();
    let writes = decide_on(&watched);
    let w = &writes.services[0];
    assert!(w.diff.write_status);
    assert_eq!(
        w.want.owned.ips,
        ["198.51.100.0".parse::<std::net::IpAddr>().expect("ip")],
        "the controller's own allocation, not the foreign address"
    );
    let status = crate::apply::status_body(w);
    assert_eq!(
        status["status"]["loadBalancer"]["ingress"],
        serde_json::json!([{"ip": "198.51.100.0", "ipMode": "VIP"}])
    );
    assert!(decide_on(&applied(&watched, &writes)).services.is_empty());
}

#[test]
fn a_refused_request_keeps_nothing_warns_and_counts_the_failure() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(Svc::lb("a", 0).annotation("ferrolb.io/load-balancer-ips", "203.0.113.50"))
        .build();
    let writes = decide_on(&watched);
    let w = &writes.services[0];
    let condition = w.want.owned.condition.as_ref().expect("the condition");
    assert!(!condition.status);
    assert_eq!(w.failure.as_deref(), Some(condition.reason.as_str()));
    assert!(
        w.diff
            .events
            .iter()
            .any(|e| e.warning && e.reason == condition.reason)
    );
    assert!(w.want.owned.ips.is_empty());
}

#[test]
fn pool_status_counts_allocations_and_node_addresses() {
    let watched = Cluster::new()
        .pool("web", &["198.51.100.0/29", "2001:db8::/126"])
        .node("n1", "198.51.100.1")
        .service(Svc::lb("a", 0))
        .service(Svc::lb("b", 1))
        .build();
    let writes = decide_on(&watched);
    assert_eq!(writes.pools.len(), 1);
    let status = &writes.pools[0].status;
    let v4 = status.ipv4.as_ref().expect("IPv4 counts");
    assert_eq!((v4.total.as_str(), v4.used.as_str()), ("8", "2"));
    assert_eq!(v4.available, "5", "8 minus 2 used minus the node's");
    let v6 = status.ipv6.as_ref().expect("IPv6 counts");
    assert_eq!((v6.total.as_str(), v6.used.as_str()), ("4", "0"));
    assert_eq!(status.used.as_deref(), Some("2"));
    assert_eq!(status.reserved_node_addresses, ["198.51.100.1"]);
    insta::assert_yaml_snapshot!(show(&writes).pools);
}

#[test]
fn a_forged_status_is_replaced_and_said_so_whatever_manager_it_names() {
    // The attack: a pool that gives nothing, and an address written under the
    // controller's own manager name.
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(
            Svc::lb("thief", 0)
                .annotation("ferrolb.io/ip-pool", "nonexistent")
                .annotation("ferrolb.io/allocated-from", "web")
                .status_ips_by("ferrolb-controller", &["198.51.100.5"]),
        )
        .build();
    let writes = decide_on(&watched);
    let w = &writes.services[0];
    assert!(w.diff.write_status, "the forged address is overwritten");
    assert!(w.want.owned.ips.is_empty(), "{:?}", w.want.owned);
    assert!(w.want.owned.proof.is_none());
    let event = &w.diff.events[0];
    assert!(
        event.warning && event.reason == "UnprovenAddressReplaced",
        "{event:?}"
    );
    assert!(event.note.contains("198.51.100.5"), "{}", event.note);
    let cond = w.want.owned.condition.as_ref().expect("a condition");
    assert!(!cond.message.contains("keeping"), "{}", cond.message);
    // The forged list belongs to another field manager entry (an Update, whatever its name):
    // server-side apply removes it only when the controller applies a list of its own.
    assert_eq!(
        crate::apply::status_body(w)["status"]["loadBalancer"],
        serde_json::json!({"ingress": []})
    );

    // A proven allocation is kept; a second look writes nothing.
    let after = applied(&watched, &writes);
    assert!(decide_on(&after).services.is_empty());
}
