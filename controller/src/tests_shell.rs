//! Unit tests of the pure parts of the controller's shell: ownership, request parsing, what to
//! write and which events to publish.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use serde_json::json;

use crate::desired::{self, CondState, Owned};
use crate::ipam::{Change, FailureReason, ServiceOutcome};
use crate::{observed, snapshot};

fn svc(v: serde_json::Value) -> Service {
    serde_json::from_value(v).expect("a Service")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

#[test]
fn ownership_follows_type_and_class() {
    let lb = |class: Option<&str>| {
        svc(json!({"metadata": {"name": "a", "namespace": "n"},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": class}}))
    };
    assert!(snapshot::owned(&lb(None), true));
    assert!(!snapshot::owned(&lb(None), false));
    assert!(snapshot::owned(&lb(Some("ferrolb.io/lb")), false));
    assert!(!snapshot::owned(&lb(Some("example.com/other")), true));
    let cluster_ip = svc(json!({"metadata": {"name": "a"}, "spec": {"type": "ClusterIP"}}));
    assert!(!snapshot::owned(&cluster_ip, true));
}

#[test]
fn requests_merge_annotation_and_spec_and_report_garbage() {
    let s = svc(json!({"metadata": {"name": "a", "namespace": "n",
            "annotations": {"ferrolb.io/load-balancer-ips": "198.51.100.10, 2001:db8::10"}},
        "spec": {"type": "LoadBalancer", "loadBalancerIP": "198.51.100.10",
            "ipFamilies": ["IPv6", "IPv4"], "ipFamilyPolicy": "RequireDualStack"}}));
    let p = snapshot::service_request(&s, &Default::default(), vec![], None);
    assert_eq!(p.problem, None);
    assert_eq!(
        p.request.requested_ips,
        [ip("198.51.100.10"), ip("2001:db8::10")]
    );

    let bad = svc(json!({"metadata": {"name": "a", "namespace": "n",
            "annotations": {"ferrolb.io/load-balancer-ips": "10.0.0.300"}},
        "spec": {"type": "LoadBalancer"}}));
    let current = vec![ip("198.51.100.7")];
    let p = snapshot::service_request(&bad, &Default::default(), current.clone(), None);
    let problem = p.problem.expect("a problem");
    assert!(problem.contains("10.0.0.300"), "{problem}");
    assert_eq!(
        p.request.requested_ips, current,
        "nothing moves while the request is bad"
    );
}

#[test]
fn only_ingress_written_by_the_controller_counts() {
    let mut s = svc(
        json!({"metadata": {"name": "a", "namespace": "n", "managedFields": [
            {"manager": "intruder", "operation": "Update", "subresource": "status",
             "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.240"}]}}}),
    );
    let seen = observed::observe(&s);
    assert!(seen.owned.ips.is_empty());
    assert_eq!(seen.foreign_ips, [ip("198.51.100.240")]);
    s.metadata.managed_fields.as_mut().expect("fields")[0].manager =
        Some("ferrolb-controller".into());
    assert_eq!(observed::observe(&s).owned.ips, [ip("198.51.100.240")]);
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
    let have = Owned::default();
    let want = desired::for_outcome(&allocated(&["198.51.100.1"], Change::New), None, &have);
    let d = desired::compare(&want, &have, Some(&Change::New));
    assert!(d.write_status && d.write_annotation);
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        (d.events[0].warning, d.events[0].reason.as_str()),
        (false, "IPAllocated")
    );
    // Same plan again, status now written: nothing to do, no event.
    let again = desired::for_outcome(
        &allocated(&["198.51.100.1"], Change::Unchanged),
        None,
        &want,
    );
    let d = desired::compare(&again, &want, Some(&Change::Unchanged));
    assert!(!d.write_status && !d.write_annotation && d.events.is_empty());
}

#[test]
fn a_failure_keeps_addresses_and_annotation_and_warns_once() {
    let have = Owned {
        ips: vec![ip("198.51.100.1")],
        pool: Some("p".into()),
        condition: Some(CondState {
            status: true,
            reason: "Allocated".into(),
            message: "198.51.100.1 from pool p".into(),
        }),
        external_ips: None,
    };
    let failed = ServiceOutcome::Failed {
        reason: FailureReason::RequestRefused,
        message: "requested 192.0.2.9 is in no pool".into(),
        keep: vec![ip("198.51.100.1")],
    };
    let want = desired::for_outcome(&failed, None, &have);
    assert_eq!(want.ips, have.ips);
    assert_eq!(
        want.pool, have.pool,
        "speakers go on announcing kept addresses"
    );
    let d = desired::compare(&want, &have, Some(&Change::New));
    assert_eq!(d.events.len(), 1);
    assert!(d.events[0].warning && d.events[0].reason == "RequestRefused");
    assert!(
        desired::compare(&want, &want, Some(&Change::New))
            .events
            .is_empty()
    );
}

#[test]
fn a_release_is_announced_even_when_the_apiserver_cleared_the_addresses() {
    let have = Owned {
        ips: vec![],
        pool: Some("p".into()),
        condition: None,
        external_ips: None,
    };
    let d = desired::compare(&Owned::default(), &have, None);
    assert!(d.write_annotation);
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.events[0].reason, "IPReleased");
}
