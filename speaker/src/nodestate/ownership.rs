//! What the controller wrote on a Service, according to the apiserver's managedFields.
//!
//! The speaker trusts a Service's status only where the controller's field manager
//! ([`MANAGER_CONTROLLER`]) owns it: anyone with `services/status` write access could put an
//! address into `status.loadBalancer.ingress` or a forged condition (CVE-2020-8554), and such
//! fields are never announced nor programmed.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::ResourceExt;
use serde_json::Value;

use ferrolb_api::names::{LOAD_BALANCER_CLASS, MANAGER_CONTROLLER};

/// Condition the controller keeps on each Service with `spec.externalIPs`.
pub const CONDITION_EXTERNAL_IPS: &str = "ferrolb.io/ExternalIPsAllowed";
/// Condition the controller keeps on each LoadBalancer Service it owns.
pub const CONDITION_ALLOCATED: &str = "ferrolb.io/Allocated";

/// The controller's status entries (manager [`MANAGER_CONTROLLER`], subresource `status`),
/// as the `f:status` field set of each.
fn controller_status_fields(svc: &Service) -> impl Iterator<Item = &Value> {
    svc.managed_fields()
        .iter()
        .filter(|m: &&ManagedFieldsEntry| {
            m.manager.as_deref() == Some(MANAGER_CONTROLLER)
                && m.subresource.as_deref() == Some("status")
        })
        .filter_map(|m| m.fields_v1.as_ref()?.0.get("f:status"))
}

/// Whether the controller's field manager owns `status.loadBalancer.ingress` (same check as
/// the controller's own `observed::owns_ingress`).
pub fn owns_ingress(svc: &Service) -> bool {
    controller_status_fields(svc).any(|status| {
        status
            .get("f:loadBalancer")
            .and_then(|lb| lb.get("f:ingress"))
            .is_some()
    })
}

/// Whether the controller's field manager owns the condition `type_` in `status.conditions`
/// (a list-map keyed by `type`: the field set holds `k:{"type":"<type_>"}`). Owning another
/// condition is not enough: someone else may have written this one.
pub fn owns_condition(svc: &Service, type_: &str) -> bool {
    controller_status_fields(svc).any(|status| {
        status
            .get("f:conditions")
            .and_then(Value::as_object)
            .is_some_and(|conditions| conditions.keys().any(|k| is_condition_key(k, type_)))
    })
}

/// `k:{"type":"..."}` naming `type_`.
fn is_condition_key(key: &str, type_: &str) -> bool {
    key.strip_prefix("k:")
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
        .is_some_and(|k| k.get("type").and_then(Value::as_str) == Some(type_))
}

/// Whether `svc` is a LoadBalancer Service of ferrolb: `type: LoadBalancer` and class
/// [`LOAD_BALANCER_CLASS`], or no class and the controller has written its allocation
/// (ingress or allocation condition) — the controller runs as the default class then.
pub fn is_ferrolb_lb(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return false;
    }
    match spec.load_balancer_class.as_deref() {
        Some(class) => class == LOAD_BALANCER_CLASS,
        None => owns_ingress(svc) || owns_condition(svc, CONDITION_ALLOCATED),
    }
}

/// Whether `spec.externalIPs` may be announced and programmed: condition
/// [`CONDITION_EXTERNAL_IPS`] is `True`, written by the controller, and describes the current
/// spec (`observedGeneration == metadata.generation`). `Err` says why not.
pub fn external_ips_allowed(svc: &Service) -> Result<(), String> {
    let condition = svc
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_EXTERNAL_IPS));
    let Some(condition) = condition else {
        return Err(format!(
            "externalIPs not reviewed yet: no {CONDITION_EXTERNAL_IPS} condition"
        ));
    };
    if !owns_condition(svc, CONDITION_EXTERNAL_IPS) {
        return Err(format!(
            "externalIPs refused: the {CONDITION_EXTERNAL_IPS} condition was not written by {MANAGER_CONTROLLER}"
        ));
    }
    if condition.status != "True" {
        return Err(format!(
            "externalIPs refused by {MANAGER_CONTROLLER}: {}",
            condition.message
        ));
    }
    let generation = svc.metadata.generation;
    if condition.observed_generation.is_none() || condition.observed_generation != generation {
        return Err(format!(
            "externalIPs changed since the review (condition for generation {}, Service at {}): waiting for {MANAGER_CONTROLLER}",
            show(condition.observed_generation),
            show(generation)
        ));
    }
    Ok(())
}

fn show(generation: Option<i64>) -> String {
    generation.map_or_else(|| "none".into(), |g| g.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_keys_are_parsed_not_prefix_matched() {
        assert!(is_condition_key(
            r#"k:{"type":"ferrolb.io/ExternalIPsAllowed"}"#,
            CONDITION_EXTERNAL_IPS
        ));
        assert!(!is_condition_key(
            r#"k:{"type":"ferrolb.io/ExternalIPsAllowedX"}"#,
            CONDITION_EXTERNAL_IPS
        ));
        assert!(!is_condition_key(
            r#"k:{"type":"ferrolb.io/Allocated"}"#,
            CONDITION_EXTERNAL_IPS
        ));
        assert!(!is_condition_key(".", CONDITION_EXTERNAL_IPS));
        assert!(!is_condition_key("k:not json", CONDITION_EXTERNAL_IPS));
    }
}
