//! The controller's inputs: a snapshot of every watched object ([`Watched`]) and its
//! translation into the plain types of the pure cores. Pure: no client, no I/O.
//!
//! - [`ipam_request`]: which Services are ours and what each asks of the IP planner; what
//!   each VIPPool offers; which addresses are Nodes' own.
//! - [`review_facts`]: what the externalIPs review checks against.
//! - [`adoption`]: which unproven status addresses an administrator recorded for adoption.
//! - [`current_fields`]: what the cluster shows of the controller's own fields on a Service.

pub mod adoption;
pub mod current_fields;
pub mod ipam_request;
pub mod review_facts;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use ferrolb_api::{ExternalIPPolicy, VIPPool};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::ServiceCIDR;

/// Everything the controller watches, as one consistent snapshot.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// Every Service.
    pub services: Vec<Arc<Service>>,
    /// Every VIPPool.
    pub pools: Vec<Arc<VIPPool>>,
    /// Every Namespace.
    pub namespaces: Vec<Arc<Namespace>>,
    /// Every Node.
    pub nodes: Vec<Arc<Node>>,
    /// Every ExternalIPPolicy.
    pub policies: Vec<Arc<ExternalIPPolicy>>,
    /// Every ServiceCIDR (the cluster's ClusterIP ranges).
    pub service_cidrs: Vec<Arc<ServiceCIDR>>,
}

impl Watched {
    /// The ClusterIP ranges: every ServiceCIDR's CIDRs plus `extra` (from a flag).
    pub fn cluster_ip_ranges(&self, extra: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self
            .service_cidrs
            .iter()
            .filter_map(|c| c.spec.as_ref()?.cidrs.clone())
            .flatten()
            .chain(extra.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}
