//! One Service's share of the desired state, computed from that Service, its EndpointSlices
//! and its settled allocation alone: its addresses sorted out, its election inputs, its rule
//! builder input, its health answer and the warnings on the way. [`desired_before_rules`]
//! assembles the rows of every Service; the step memo ([`super::memo`]) keeps each row while
//! its inputs stay the same.
//!
//! [`desired_before_rules`]: super::desired_before_rules

use std::sync::Arc;

use ferrolb_adapter::allocations::Allocation;
use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::proof::VerifyKeys;
use ferrolb_adapter::service::ServiceView;
use ferrolb_adapter::slice::NodeSlice;
use ferrolb_core::{ServiceKey, TrafficPolicy};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use crate::election::{VipInput, VipKind};
use crate::health::ServiceHealth;
use crate::ruleset::ServiceInput;

use super::vips::{self, ServiceVips};
use super::{endpoints, rules};

/// One Service's share of the desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The Service.
    pub key: ServiceKey,
    /// Its addresses, sorted out; empty when nothing about it concerns the speaker.
    pub vips: ServiceVips,
    /// What the election gets: one input per announceable address.
    pub vip_inputs: Vec<VipInput>,
    /// What the rule builder gets, when anything is programmed for it.
    pub rules: Option<Arc<ServiceInput>>,
    /// What the health API answers (ferrolb's `externalTrafficPolicy: Local` Services).
    pub health: Option<ServiceHealth>,
    /// Input problems skipped on the way.
    pub warnings: Vec<String>,
}

/// The inputs of a row besides the Service itself.
pub struct RowInputs<'a> {
    /// Its EndpointSlices.
    pub slices: &'a [Arc<NodeSlice>],
    /// Its addresses as every Service's were judged together.
    pub allocation: &'a [Allocation],
    /// Whether the controller signed them.
    pub proven: bool,
    /// Every pool.
    pub pools: &'a Pools,
    /// The keys that verify proofs.
    pub keys: &'a VerifyKeys,
    /// This node.
    pub node: &'a str,
}

/// The row of `svc` (key `key`).
pub fn row(key: ServiceKey, svc: &Service, inputs: &RowInputs) -> Row {
    let RowInputs {
        slices,
        allocation,
        proven,
        pools,
        keys,
        node,
    } = *inputs;
    let vips = vips::classify(svc, pools, proven, allocation, keys);
    let mut row = Row {
        key,
        vips,
        vip_inputs: Vec::new(),
        rules: None,
        health: None,
        warnings: Vec::new(),
    };
    if row.vips.is_empty() {
        return row;
    }
    let eps = endpoints::by_service(slices)
        .remove(&row.key)
        .unwrap_or_default();
    let service = ServiceView::keyed(svc, row.key.clone());
    let etp = service.external_traffic_policy;
    let view = endpoints::election_view(&eps);
    let vips = &row.vips;
    let announceable = vips
        .lb
        .iter()
        .filter(|p| !p.edge)
        .map(|p| (p.ip, Some(p.pool.clone()), VipKind::LoadBalancerIp))
        .chain(
            vips.external
                .iter()
                .map(|ip| (*ip, None, VipKind::ExternalIp)),
        );
    // Collected, then shrunk: a row is kept for as long as its Service does not change.
    row.vip_inputs = announceable
        .map(|(ip, pool, kind)| VipInput {
            service: row.key.clone(),
            ip,
            pool,
            kind,
            service_labels: svc.labels().clone(),
            etp,
            endpoints: view.clone(),
        })
        .collect();
    row.vip_inputs.shrink_to_fit();
    if vips.ferrolb_lb || !vips.programmed().is_empty() {
        row.rules = Some(Arc::new(rules::service_input(
            &service,
            vips,
            &eps,
            &mut row.warnings,
        )));
    }
    if vips.ferrolb_lb && etp == TrafficPolicy::Local {
        row.health = Some(ServiceHealth {
            local_ready_endpoints: endpoints::local_ready(&eps, node),
            health_check_node_port: service.health_check_node_port,
        });
    }
    row
}
