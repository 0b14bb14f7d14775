//! The mutating webhook's stamp: who admitted the externalIPs, kept across updates that do
//! not change them.

use k8s_openapi::api::core::v1::Service;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use serde_json::{Value, json};

use super::stamp_patch;
use crate::admission_stamp::{self, ANN_ADMITTED, StampKey};

fn key() -> StampKey {
    StampKey::from_bytes(vec![7; 32]).unwrap()
}

fn service(ips: &[&str], stamp: Option<&str>) -> Value {
    let annotations = stamp.map_or(json!({}), |s| json!({ ANN_ADMITTED: s }));
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ops", "namespace": "tenant-a", "annotations": annotations},
        "spec": {"externalIPs": ips}})
}

fn request(op: &str, user: &str, new: Value, old: Option<Value>) -> AdmissionRequest<Service> {
    let review: AdmissionReview<Service> = serde_json::from_value(json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Service"},
            "resource": {"group": "", "version": "v1", "resource": "services"},
            "name": "ops", "namespace": "tenant-a", "operation": op,
            "userInfo": {"username": user, "groups": ["g"]},
            "object": new, "oldObject": old, "dryRun": false,
        }
    }))
    .unwrap();
    review.try_into().unwrap()
}

/// The stamp `patch` writes, and its requester.
fn stamped(req: &AdmissionRequest<Service>) -> Option<(String, String)> {
    let patch = serde_json::to_value(stamp_patch(req, &key())?).unwrap();
    let value = patch.as_array()?.last()?["value"].as_str()?.to_string();
    let svc = req.object.as_ref()?;
    let ips = svc.spec.as_ref()?.external_ips.clone()?;
    let who = admission_stamp::verify(&key(), "tenant-a", "ops", &ips, &value)?;
    Some((value, who.username))
}

#[test]
fn create_is_stamped_with_its_requester() {
    let req = request("CREATE", "alice", service(&["192.0.2.241"], None), None);
    assert_eq!(stamped(&req).map(|s| s.1).as_deref(), Some("alice"));
}

#[test]
fn an_update_keeping_the_addresses_keeps_who_admitted_them() {
    let first = request("CREATE", "alice", service(&["192.0.2.241"], None), None);
    let (alices, _) = stamped(&first).unwrap();
    // The controller writes an annotation and sends no stamp: alice's is put back.
    let req = request(
        "UPDATE",
        "system:serviceaccount:ferrolb-system:ferrolb-controller",
        service(&["192.0.2.241"], None),
        Some(service(&["192.0.2.241"], Some(&alices))),
    );
    assert_eq!(stamped(&req), Some((alices.clone(), "alice".into())));
    // Sent back unchanged: nothing to patch.
    let same = request(
        "UPDATE",
        "bob",
        service(&["192.0.2.241"], Some(&alices)),
        Some(service(&["192.0.2.241"], Some(&alices))),
    );
    assert!(stamp_patch(&same, &key()).is_none());
}

#[test]
fn an_update_changing_the_addresses_is_stamped_anew() {
    let first = request("CREATE", "alice", service(&["192.0.2.241"], None), None);
    let (alices, _) = stamped(&first).unwrap();
    for ips in [&["192.0.2.242"][..], &["192.0.2.241", "192.0.2.242"]] {
        let req = request(
            "UPDATE",
            "bob",
            service(ips, Some(&alices)),
            Some(service(&["192.0.2.241"], Some(&alices))),
        );
        assert_eq!(
            stamped(&req).map(|s| s.1).as_deref(),
            Some("bob"),
            "{ips:?}"
        );
    }
}

#[test]
fn an_unchanged_update_of_a_never_stamped_service_stamps_nobody() {
    let req = request(
        "UPDATE",
        "bob",
        service(&["192.0.2.241"], None),
        Some(service(&["192.0.2.241"], None)),
    );
    assert!(stamp_patch(&req, &key()).is_none());
}
