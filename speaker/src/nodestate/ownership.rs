//! What the controller decided about a Service, as the speaker trusts it: only what the
//! controller signed ([`ferrolb_adapter::proof`]). Anyone with `services/status` rights can
//! write an address into `status.loadBalancer.ingress` or a condition, under any field manager
//! name (CVE-2020-8554); such fields are never announced nor programmed.

use k8s_openapi::api::core::v1::Service;

use ferrolb_adapter::classify::{DefaultClass, classify};
use ferrolb_adapter::proof::VerifyKeys;
use ferrolb_core::names::{CONDITION_EXTERNAL_IPS, MANAGER_CONTROLLER};

/// Whether `svc` is a LoadBalancer Service of ferrolb
/// ([`Allocations::classify`](ferrolb_adapter::allocations::Allocations::classify)):
/// `type: LoadBalancer` and class `ferrolb.io/lb`, or no class and an allocation the
/// controller signed (`proven`; it runs as the default class then).
pub fn is_ferrolb_lb(svc: &Service, proven: bool) -> bool {
    classify(svc, DefaultClass::claimed(proven)).is_some()
}

/// Whether `spec.externalIPs` may be announced and programmed: the controller signed exactly
/// this list for this Service ([`VerifyKeys::verify_external_ips`]), and its condition
/// [`CONDITION_EXTERNAL_IPS`] is `True` for the current spec
/// (`observedGeneration == metadata.generation`, both absent as the apiserver writes Services).
/// `Err` says why not.
pub fn external_ips_allowed(svc: &Service, keys: &VerifyKeys) -> Result<(), String> {
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
    if condition.status != "True" {
        return Err(format!(
            "externalIPs refused by {MANAGER_CONTROLLER}: {}",
            condition.message
        ));
    }
    if let Err(why) = keys.verify_external_ips(svc) {
        return Err(format!("externalIPs refused: {why}"));
    }
    let generation = svc.metadata.generation;
    // The apiserver sets no metadata.generation on Services, and the controller's condition then
    // has no observedGeneration: equal (both absent) is current; the proof binds the list.
    if condition.observed_generation != generation {
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
