//! What the cluster shows of the controller's own fields on a Service. Pure.
//!
//! Only addresses the controller itself allocated count as current: `status.loadBalancer.ingress`
//! is trusted when its allocation proof verifies ([`ferrolb_adapter::proof`]); field manager
//! names prove nothing. An address someone else wrote into the status (the CVE-2020-8554
//! status vector) is never kept: the controller replaces it with its own allocation.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use ferrolb_adapter::proof::VerifyKeys;
use ferrolb_api::names::{
    ANN_ALLOCATED_FROM, ANN_ALLOCATION_PROOF, ANN_EXTERNAL_IPS_PROOF,
    LOAD_BALANCER_CLEANUP_FINALIZER,
};
use ferrolb_core::names::{CONDITION_ALLOCATED, CONDITION_EXTERNAL_IPS};

use super::ipam_request::status_ips;
use crate::owned_fields::{CondState, OwnedFields};

/// The controller-owned fields of a Service as found, with the condition's transition time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The fields.
    pub owned: OwnedFields,
    /// `lastTransitionTime` of the allocation condition.
    pub since: Option<Time>,
    /// `lastTransitionTime` of the externalIPs condition.
    pub external_ips_since: Option<Time>,
    /// Addresses in the status without a valid allocation proof (never kept, replaced). In a
    /// write's `want`: the ones it replaces.
    pub foreign_ips: Vec<std::net::IpAddr>,
}

/// Reads the controller's fields of `svc`; its addresses count when their proof verifies
/// under `keys`.
pub fn observe(svc: &Service, keys: &VerifyKeys) -> Observed {
    let find = |type_: &str| {
        svc.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
    };
    let condition = find(CONDITION_ALLOCATED);
    let external_ips = find(CONDITION_EXTERNAL_IPS);
    let ips = status_ips(svc);
    let ours = !ips.is_empty() && keys.verify_service(svc).is_ok();
    Observed {
        owned: OwnedFields {
            ips: if ours { ips.clone() } else { Vec::new() },
            pool: svc.annotations().get(ANN_ALLOCATED_FROM).cloned(),
            proof: svc.annotations().get(ANN_ALLOCATION_PROOF).cloned(),
            condition: condition.map(CondState::from_condition),
            external_ips: external_ips.map(CondState::from_condition),
            external_ips_proof: svc.annotations().get(ANN_EXTERNAL_IPS_PROOF).cloned(),
            finalizer: svc
                .finalizers()
                .iter()
                .any(|f| f == LOAD_BALANCER_CLEANUP_FINALIZER),
        },
        since: condition.map(|c| c.last_transition_time.clone()),
        external_ips_since: external_ips.map(|c| c.last_transition_time.clone()),
        foreign_ips: if ours { Vec::new() } else { ips },
    }
}

/// Whether the Service shows any of the controller's fields or the cleanup finalizer (so the
/// controller looks at it when it is no longer owned: [`crate::plan::release`] says what it
/// clears and whether the finalizer is its to remove).
pub fn touched(observed: &Observed) -> bool {
    observed.owned != OwnedFields::default()
}
