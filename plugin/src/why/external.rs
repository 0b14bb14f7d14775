//! Step 2, externalIPs: the controller's verdict on each address, as its
//! `ExternalIPsAllowed` condition and proof annotation record it.
//!
//! The review itself ([`ferrolb_controller::externalips::review`]) is not recomputed: it needs
//! the controller's `--service-cidrs` and the requester's identity, which the API does not
//! show. The condition is the controller's own verdict for the Service's current generation.

use ferrolb_api::names::ANN_EXTERNAL_IPS_PROOF;
use ferrolb_core::names::{CONDITION_EXTERNAL_IPS, REASON_EXTERNAL_IP_REFUSED};
use kube::ResourceExt;

use super::{STEP_EXTERNAL_IPS, Snapshot, Step};

/// Runs step 2.
pub fn check(snap: &Snapshot) -> Step {
    let svc = &snap.service;
    let listed: Vec<String> = svc
        .spec
        .as_ref()
        .and_then(|s| s.external_ips.clone())
        .unwrap_or_default();
    if listed.is_empty() {
        return Step::skipped(STEP_EXTERNAL_IPS, vec!["no spec.externalIPs".into()]);
    }
    let mut ev = vec![format!("spec.externalIPs {}", listed.join(", "))];
    let condition = svc
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_EXTERNAL_IPS));
    let proof = svc.annotations().contains_key(ANN_EXTERNAL_IPS_PROOF);
    ev.push(format!(
        "proof annotation {ANN_EXTERNAL_IPS_PROOF} {}",
        if proof { "present" } else { "absent" }
    ));
    ev.push("verdicts as the controller recorded them (the review is not recomputed: it needs the controller's --service-cidrs)".into());
    let Some(c) = condition else {
        return Step::failed(
            STEP_EXTERNAL_IPS,
            ev,
            format!(
                "no condition {CONDITION_EXTERNAL_IPS}: the controller has not reviewed them; check that ferrolb-controller runs"
            ),
        );
    };
    ev.push(format!(
        "condition {CONDITION_EXTERNAL_IPS}={} reason {}: {}",
        c.status, c.reason, c.message
    ));
    let stale = c.observed_generation.is_some() && c.observed_generation != svc.metadata.generation;
    if c.status == "True" && !stale && proof {
        Step::passed(STEP_EXTERNAL_IPS, ev)
    } else if c.reason == REASON_EXTERNAL_IP_REFUSED {
        Step::failed(
            STEP_EXTERNAL_IPS,
            ev,
            "an externalIP is refused by policy (never announced): create or widen an ExternalIPPolicy whose allowedCIDRs hold it and whose namespaceSelector matches this namespace, or remove it from spec.externalIPs",
        )
    } else if stale {
        Step::failed(
            STEP_EXTERNAL_IPS,
            ev,
            "the condition is for an older generation: the controller has not reviewed the current spec yet; check that it runs",
        )
    } else {
        Step::failed(
            STEP_EXTERNAL_IPS,
            ev,
            "the externalIPs are not allowed (see the condition): fix the ExternalIPPolicy or the addresses",
        )
    }
}
