//! Unit tests of one Service's difference: what to write and which events to publish.

use std::net::IpAddr;

use super::{Account, FinalizerWrite, compare};
use crate::ipam::{Change, FailureReason, ServiceOutcome};
use crate::owned_fields::{CondState, OwnedFields};
use crate::plan::service_fields::for_outcome;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

fn allocated(ips: &[&str], change: Change) -> ServiceOutcome {
    ServiceOutcome::Allocated {
        ips: ips.iter().map(|s| ip(s)).collect(),
        pool: "p".into(),
        pools: ips.iter().map(|_| "p".to_string()).collect(),
        change,
        missing: vec![],
    }
}

#[test]
fn a_new_address_is_one_normal_event_and_a_resync_none() {
    let have = OwnedFields::default();
    let want = for_outcome(&allocated(&["198.51.100.1"], Change::New), None, &have);
    let d = compare(&want, &have, Account::Planned(&Change::New));
    assert!(d.write_status && d.write_annotation);
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        (d.events[0].warning, d.events[0].reason.as_str()),
        (false, "IPAllocated")
    );
    // Same plan again, status now written: nothing to do, no event.
    let again = for_outcome(
        &allocated(&["198.51.100.1"], Change::Unchanged),
        None,
        &want,
    );
    let d = compare(&again, &want, Account::Planned(&Change::Unchanged));
    assert!(!d.write_status && !d.write_annotation && d.events.is_empty());
}

#[test]
fn a_failure_keeps_addresses_and_annotation_and_warns_once() {
    let have = OwnedFields {
        ips: vec![ip("198.51.100.1")],
        pool: Some("p".into()),
        proof: None,
        condition: Some(CondState {
            status: true,
            reason: "Allocated".into(),
            message: "198.51.100.1 from pool p".into(),
        }),
        external_ips: None,
        external_ips_proof: None,
        finalizer: true,
    };
    let failed = ServiceOutcome::Failed {
        reason: FailureReason::RequestRefused,
        message: "requested 192.0.2.9 is in no pool".into(),
        keep: vec![ip("198.51.100.1")],
    };
    let want = for_outcome(&failed, None, &have);
    assert_eq!(want.ips, have.ips);
    assert_eq!(
        want.pool, have.pool,
        "speakers go on announcing kept addresses"
    );
    let d = compare(&want, &have, Account::Planned(&Change::New));
    assert_eq!(d.events.len(), 1);
    assert!(d.events[0].warning && d.events[0].reason == "RequestRefused");
    assert!(
        compare(&want, &want, Account::Planned(&Change::New))
            .events
            .is_empty()
    );
}

#[test]
fn a_release_is_announced_even_when_the_apiserver_cleared_the_addresses() {
    let have = OwnedFields {
        ips: vec![],
        pool: Some("p".into()),
        proof: None,
        condition: None,
        external_ips: None,
        external_ips_proof: None,
        finalizer: true,
    };
    let d = compare(&OwnedFields::default(), &have, Account::NotOurs);
    assert!(d.write_annotation);
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.events[0].reason, "IPReleased");
}

#[test]
fn the_finalizer_is_added_or_removed_on_its_own_without_an_event() {
    let without = OwnedFields::default();
    let with = OwnedFields {
        finalizer: true,
        ..OwnedFields::default()
    };
    let d = compare(&with, &without, Account::Planned(&Change::Unchanged));
    assert_eq!(d.finalizer, Some(FinalizerWrite::Add));
    assert!(!d.write_status && !d.write_annotation && d.events.is_empty());
    assert!(!d.is_empty());
    let d = compare(&without, &with, Account::NotOurs);
    assert_eq!(d.finalizer, Some(FinalizerWrite::Remove));
    assert!(d.events.is_empty(), "{:?}", d.events);
    assert!(compare(&with, &with, Account::Deleted).is_empty());
}

#[test]
fn a_deletion_says_so_in_its_release_event() {
    let have = OwnedFields {
        ips: vec![ip("198.51.100.1")],
        pool: Some("p".into()),
        proof: None,
        finalizer: true,
        ..OwnedFields::default()
    };
    let d = compare(&OwnedFields::default(), &have, Account::Deleted);
    assert_eq!(d.events.len(), 1);
    let e = &d.events[0];
    assert!(!e.warning);
    assert_eq!(e.reason, "IPReleased");
    assert_eq!(
        e.note,
        "released 198.51.100.1: the Service is being deleted"
    );
}
