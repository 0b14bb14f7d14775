//! The [`ferrolb_core::names::CONDITION_EXTERNAL_IPS`] condition of a Service, from the
//! externalIPs review. Pure: the stamp key is passed in.

use ferrolb_adapter::selector::Labels;
use ferrolb_core::names::{REASON_EXTERNAL_IP_REFUSED, REASON_EXTERNAL_IPS_ALLOWED};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use crate::admission_stamp::{self, ANN_ADMITTED, StampKey};
use crate::externalips::{self, ClusterFacts, Policy};
use crate::inputs::review_facts;
use crate::owned_fields::CondState;

/// The externalIPs condition of a Service (`None` without externalIPs). The requester is the
/// one of a stamp that verifies under `stamp_key` ([`crate::admission_stamp`]); without one
/// (or without a key), user-limited policies do not count (fail closed).
pub fn condition(
    svc: &Service,
    namespace_labels: &Labels,
    policies: &[Policy],
    cluster: &ClusterFacts,
    stamp_key: Option<&StampKey>,
) -> Option<CondState> {
    if !review_facts::has_external_ips(svc) {
        return None;
    }
    let service = review_facts::service_ref(svc, namespace_labels);
    let requester = stamp_key.and_then(|key| {
        let value = svc.annotations().get(ANN_ADMITTED)?;
        admission_stamp::verify(
            key,
            &service.namespace,
            &service.name,
            &service.external_ips,
            value,
        )
    });
    let review = externalips::review(&service, requester.as_ref(), policies, cluster);
    Some(if review.allowed() {
        CondState {
            status: true,
            reason: REASON_EXTERNAL_IPS_ALLOWED.into(),
            message: format!(
                "every externalIP is allowed by policy: {}",
                service.external_ips.join(", ")
            ),
        }
    } else {
        CondState {
            status: false,
            reason: REASON_EXTERNAL_IP_REFUSED.into(),
            message: review.message().unwrap_or_else(|| "refused".into())
                + "; refused addresses are never announced or programmed",
        }
    })
}
