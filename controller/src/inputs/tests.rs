//! Unit tests of the inputs: ownership, request parsing, the controller's fields as found.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use serde_json::json;

use super::{current_fields, ipam_request};

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
    assert!(ipam_request::owned(&lb(None), true));
    assert!(!ipam_request::owned(&lb(None), false));
    assert!(ipam_request::owned(&lb(Some("ferrolb.io/lb")), false));
    assert!(!ipam_request::owned(&lb(Some("example.com/other")), true));
    let cluster_ip = svc(json!({"metadata": {"name": "a"}, "spec": {"type": "ClusterIP"}}));
    assert!(!ipam_request::owned(&cluster_ip, true));
}

#[test]
fn requests_merge_annotation_and_spec_and_report_garbage() {
    let s = svc(json!({"metadata": {"name": "a", "namespace": "n",
            "annotations": {"ferrolb.io/load-balancer-ips": "198.51.100.10, 2001:db8::10"}},
        "spec": {"type": "LoadBalancer", "loadBalancerIP": "198.51.100.10",
            "ipFamilies": ["IPv6", "IPv4"], "ipFamilyPolicy": "RequireDualStack"}}));
    let p =
        ipam_request::service_request(&s, &Default::default(), vec![], None, Default::default());
    assert_eq!(p.problem, None);
    assert_eq!(
        p.request.requested_ips,
        [ip("198.51.100.10"), ip("2001:db8::10")]
    );

    let bad = svc(json!({"metadata": {"name": "a", "namespace": "n",
            "annotations": {"ferrolb.io/load-balancer-ips": "10.0.0.300"}},
        "spec": {"type": "LoadBalancer"}}));
    let current = vec![ip("198.51.100.7")];
    let p = ipam_request::service_request(
        &bad,
        &Default::default(),
        current.clone(),
        None,
        Default::default(),
    );
    let problem = p.problem.expect("a problem");
    assert!(problem.contains("10.0.0.300"), "{problem}");
    assert_eq!(
        p.request.requested_ips, current,
        "nothing moves while the request is bad"
    );
}

#[test]
fn only_ingress_with_a_valid_proof_counts() {
    use crate::decision::prove::{signed, test_keys};
    let keys = &test_keys().verify;
    // A forged manager name proves nothing.
    let s = svc(
        json!({"metadata": {"name": "a", "namespace": "n", "uid": "u1", "managedFields": [
            {"manager": "ferrolb-controller", "operation": "Update", "subresource": "status",
             "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.240"}]}}}),
    );
    let seen = current_fields::observe(&s, keys);
    assert!(seen.owned.ips.is_empty());
    assert_eq!(seen.foreign_ips, [ip("198.51.100.240")]);
    let proven = signed(s, 7);
    let seen = current_fields::observe(&proven, keys);
    assert_eq!(seen.owned.ips, [ip("198.51.100.240")]);
    assert!(seen.foreign_ips.is_empty());
}
