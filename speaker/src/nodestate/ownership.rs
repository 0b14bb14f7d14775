//! What the controller wrote on a Service, according to the apiserver's managedFields
//! ([`ferrolb_adapter::ownership`]), as the speaker decides from it.
//!
//! The speaker trusts a Service's status only where the controller's field manager
//! ([`MANAGER_CONTROLLER`]) owns it: anyone with `services/status` write access could put an
//! address into `status.loadBalancer.ingress` or a forged condition (CVE-2020-8554), and such
//! fields are never announced nor programmed.

use k8s_openapi::api::core::v1::Service;

use ferrolb_adapter::ownership::owns_condition;
use ferrolb_adapter::{DefaultClass, classify};
use ferrolb_core::names::{CONDITION_EXTERNAL_IPS, MANAGER_CONTROLLER};

/// Whether `svc` is a LoadBalancer Service of ferrolb ([`classify`]): `type: LoadBalancer` and
/// class `ferrolb.io/lb`, or no class and the controller has written its allocation (ingress or
/// allocation condition) — the controller runs as the default class then.
pub fn is_ferrolb_lb(svc: &Service) -> bool {
    classify(svc, DefaultClass::FromControllerWrites).is_some()
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
