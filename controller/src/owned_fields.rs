//! The fields the controller owns on a Service, in the controller's own words. Shared by the
//! planning (what they should say), the reading of the cluster (what they say) and the
//! difference between the two. Pure data.
//!
//! The controller owns `status.loadBalancer.ingress`, the condition [`CONDITION_ALLOCATED`](ferrolb_core::names::CONDITION_ALLOCATED),
//! the condition [`CONDITION_EXTERNAL_IPS`](ferrolb_core::names::CONDITION_EXTERNAL_IPS) (Services with `spec.externalIPs`), the
//! annotations `ferrolb.io/allocated-from`, `ferrolb.io/allocation-proof` and
//! `ferrolb.io/external-ips-proof`, and the finalizer
//! [`LOAD_BALANCER_CLEANUP_FINALIZER`](ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER).

use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The state of one Service's controller-owned fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedFields {
    /// `status.loadBalancer.ingress` addresses, in order.
    pub ips: Vec<IpAddr>,
    /// The `ferrolb.io/allocated-from` annotation: the pools of the addresses, comma-separated.
    pub pool: Option<String>,
    /// The `ferrolb.io/allocation-proof` annotation: the controller's signature over the
    /// allocation ([`ferrolb_adapter::proof`]).
    pub proof: Option<String>,
    /// The [`CONDITION_ALLOCATED`](ferrolb_core::names::CONDITION_ALLOCATED) condition as (status, reason, message).
    pub condition: Option<CondState>,
    /// The [`CONDITION_EXTERNAL_IPS`](ferrolb_core::names::CONDITION_EXTERNAL_IPS) condition (Services with `spec.externalIPs`).
    pub external_ips: Option<CondState>,
    /// The `ferrolb.io/external-ips-proof` annotation: the controller's signature over the
    /// externalIPs it allowed (only while the condition allows them).
    pub external_ips_proof: Option<String>,
    /// The Service carries the finalizer
    /// [`LOAD_BALANCER_CLEANUP_FINALIZER`](ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER)
    /// (whoever added it: [`crate::plan::release`] decides when the controller may remove it).
    pub finalizer: bool,
}

impl OwnedFields {
    /// The LoadBalancer part is empty (nothing allocated, no allocation condition).
    pub fn no_allocation(&self) -> bool {
        self.ips.is_empty()
            && self.pool.is_none()
            && self.proof.is_none()
            && self.condition.is_none()
    }
}

/// A condition without its timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondState {
    /// "True" or "False".
    pub status: bool,
    /// CamelCase reason.
    pub reason: String,
    /// What happened, and what to change when it failed.
    pub message: String,
}

impl CondState {
    /// Reads a Kubernetes condition.
    pub fn from_condition(c: &Condition) -> CondState {
        CondState {
            status: c.status == "True",
            reason: c.reason.clone(),
            message: c.message.clone(),
        }
    }
}

/// Addresses as condition messages and events write them: `a, b`.
pub fn join_ips(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
