//! Releasing a Service, the way the upstream service controller (`k8s.io/cloud-provider`,
//! `controllers/service`) does it with the finalizer
//! [`LOAD_BALANCER_CLEANUP_FINALIZER`]. Pure.
//!
//! - A Service the controller owns ([`crate::inputs::ipam_request::owned`]) carries the
//!   finalizer; [`crate::apply`] adds it before the first address is written.
//! - An owned Service being deleted ([`deleting`]) is released: its fields are cleared and
//!   only then is the finalizer removed, so the deletion completes. Until its cleared status
//!   is written its addresses stay [`held_until_released`]: speakers announce what the status
//!   says, so the address must not go to another Service before the old one stops showing it.
//! - A Service changed away from `type: LoadBalancer` loses the fields (the apiserver already
//!   cleared its ingress) and the finalizer, when the controller added it ([`keeps_finalizer`]);
//!   so does a LoadBalancer Service that became another class's (the controller gave up the
//!   default class).
//! - A Service of another class the controller never served keeps any finalizer: the one it
//!   carries was added by that class's controller, which answers for it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_adapter::ownership::owns_finalizer;
use ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER;
use ferrolb_core::ServiceKey;
use k8s_openapi::api::core::v1::Service;

use crate::ipam::{FailureReason, Reserved, ServiceOutcome, ServiceRequest};

/// Whether the Service is being deleted (`metadata.deletionTimestamp` set).
pub fn deleting(svc: &Service) -> bool {
    svc.metadata.deletion_timestamp.is_some()
}

/// Whether a Service the controller does not own (any more) keeps the finalizer it carries
/// (`present`): the controller removes only the one its own field manager added, once the
/// Service is no longer its LoadBalancer (type changed, as upstream removes it as soon as a
/// Service no longer wants a load balancer; or class, or the default class given up). A
/// finalizer someone else added is theirs: another class's controller answers for it.
pub fn keeps_finalizer(svc: &Service, present: bool) -> bool {
    present && !owns_finalizer(svc, LOAD_BALANCER_CLEANUP_FINALIZER)
}

/// The addresses of Services being deleted that no other allocation may take yet: every
/// address a deleted Service still shows (`deleted`: its key and the addresses it shows, or
/// the controller last wrote), except those a live Service holds too (a shared address stays
/// with the Service that keeps it). Each with why, for the planner's [`Reserved`].
pub fn held_until_released<'a>(
    deleted: impl IntoIterator<Item = (ServiceKey, &'a [IpAddr])>,
    live: &BTreeSet<IpAddr>,
) -> Reserved {
    let mut held = Reserved::new();
    for (key, ips) in deleted {
        for ip in ips.iter().filter(|ip| !live.contains(ip)) {
            held.entry(*ip).or_insert_with(|| {
                format!("Service {key} is being deleted and shows it until it is released")
            });
        }
    }
    held
}

/// Whether a Service's request was refused only for now because it asks for an address that
/// a deleted Service still shows: it is given once the release is written, so its fields are
/// left as they are for this pass (no Warning, no condition flip).
pub fn waits_for_release(
    request: &ServiceRequest,
    outcome: &ServiceOutcome,
    held: &Reserved,
) -> bool {
    matches!(
        outcome,
        ServiceOutcome::Failed {
            reason: FailureReason::RequestRefused,
            ..
        }
    ) && request.requested_ips.iter().any(|ip| held.contains_key(ip))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use ferrolb_core::names::MANAGER_CONTROLLER;

    fn svc(type_: &str, finalizer_manager: Option<&str>) -> Service {
        let managed: Vec<Value> = finalizer_manager
            .map(|m| {
                json!({
                    "manager": m, "operation": "Update", "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:finalizers": {
                        format!("v:{}", json!(LOAD_BALANCER_CLEANUP_FINALIZER)): {}}}},
                })
            })
            .into_iter()
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "n", "managedFields": managed,
                "finalizers": [LOAD_BALANCER_CLEANUP_FINALIZER]},
            "spec": {"type": type_},
        }))
        .expect("a Service")
    }

    #[test]
    fn only_the_finalizer_the_controller_added_is_removed() {
        for type_ in ["ClusterIP", "NodePort", "LoadBalancer"] {
            assert!(
                !keeps_finalizer(&svc(type_, Some(MANAGER_CONTROLLER)), true),
                "{type_}"
            );
            assert!(
                keeps_finalizer(&svc(type_, Some("cloud-controller-manager")), true),
                "{type_}: someone else's"
            );
            assert!(keeps_finalizer(&svc(type_, None), true), "{type_}");
            assert!(!keeps_finalizer(&svc(type_, None), false), "{type_}");
        }
    }

    #[test]
    fn addresses_of_deleted_services_are_held_unless_a_live_service_shares_them() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        let gone = ServiceKey::new("n", "gone");
        let ips = [ip("198.51.100.1"), ip("198.51.100.2")];
        let live = BTreeSet::from([ip("198.51.100.2")]);
        let held = held_until_released([(gone, &ips[..])], &live);
        assert_eq!(
            held.keys().copied().collect::<Vec<_>>(),
            [ip("198.51.100.1")]
        );
        assert!(held[&ip("198.51.100.1")].contains("n/gone is being deleted"));

        let mut request = ServiceRequest::new("n", "next");
        request.requested_ips = vec![ip("198.51.100.1")];
        let refused = ServiceOutcome::Failed {
            reason: FailureReason::RequestRefused,
            message: String::new(),
            keep: vec![],
        };
        assert!(waits_for_release(&request, &refused, &held));
        request.requested_ips = vec![ip("198.51.100.3")];
        assert!(!waits_for_release(&request, &refused, &held));
    }
}
