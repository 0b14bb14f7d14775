//! The edge's desired state as a pure function of a snapshot: Services, EndpointSlices, Nodes
//! and VIPPools → the frontends to serve ([`desired`]).
//!
//! A frontend is one (address, protocol, port) of an edge Service: a Service of type
//! LoadBalancer, class `ferrolb.io/lb` (or none), annotation `ferrolb.io/mode: edge`, whose
//! status address the controller wrote from an edge pool named by `ferrolb.io/allocated-from`.
//! Its backends (candidates) are the Ready, not excluded Nodes with an address of the
//! frontend's family; traffic goes to `nodeIP:nodePort`. What cannot be served is skipped with
//! a warning saying why.

mod model;
mod nodes;
mod pools;
mod services;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrolb_adapter::ownership::status_fields;
use ferrolb_core::names::MANAGER_EDGE;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::Serialize;

use ferrolb_adapter::allocations::Allocations;
use ferrolb_adapter::pools::Pools;
use ferrolb_core::{ServiceKey, TrafficPolicy};
pub use model::{Candidate, Frontend, FrontendId, Warning};
pub use nodes::NodeView;
pub use pools::EdgeRanges;

use ferrolb_adapter::service::{self as k8s_service, ServiceView};
use ferrolb_adapter::slice::NodeSlice;
use ferrolb_adapter::stores::ServiceObjects;
use ferrolb_api::VIPPool;
use ferrolb_core::names::CONDITION_EDGE_SERVING;

/// Settings of [`desired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The nodes' health API port (`/healthz`), probed for eTP=Cluster.
    pub health_port: u16,
}

/// What the edge concluded about one edge Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOutcome {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Its frontends.
    pub frontends: Vec<FrontendId>,
    /// What of it is not served, and why.
    pub skipped: Vec<String>,
    /// Ready endpoints per node (from EndpointSlices; informative).
    pub ready_endpoints: BTreeMap<String, u32>,
    /// The [`CONDITION_EDGE_SERVING`] condition the object carries now.
    #[serde(skip)]
    pub condition: Option<Condition>,
}

/// The edge's whole desired state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// Frontends to serve, sorted by [`FrontendId`] (unique).
    pub frontends: Vec<Frontend>,
    /// Every edge Service.
    pub services: BTreeMap<ServiceKey, ServiceOutcome>,
    /// Services that are no longer edge Services but still carry our condition.
    pub release: Vec<ServiceKey>,
    /// Address ranges of the edge pools.
    pub edge_ranges: EdgeRanges,
    /// Every Node.
    pub nodes: Vec<NodeView>,
    /// What was skipped, sorted.
    pub warnings: Vec<Warning>,
}

/// Computes the desired state of the edge.
pub fn desired(snap: &ServiceObjects, opts: Options) -> Desired {
    let pools = Pools::new(&snap.pools);
    let allocations = Allocations::of(&snap.services, &pools, &snap.proof_keys, "never served");
    let nodes = nodes::views(&snap.nodes);
    let mut out = Desired {
        edge_ranges: EdgeRanges::of(&pools),
        ..Desired::default()
    };
    let mut services: Vec<&Arc<Service>> = snap.services.iter().collect();
    services.sort_by(|a, b| {
        let age = |s: &Service| s.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (age(a), k8s_service::key(a)).cmp(&(age(b), k8s_service::key(b)))
    });
    let mut taken: BTreeMap<FrontendId, ServiceKey> = BTreeMap::new();
    for svc in services {
        let key = k8s_service::key(svc);
        let current = edge_condition(svc);
        if !services::is_edge(svc, &allocations) {
            if current.is_some() && owns_edge_condition(svc) {
                out.release.push(key);
            }
            continue;
        }
        let mut outcome = ServiceOutcome {
            generation: svc.metadata.generation,
            condition: current.cloned(),
            ..ServiceOutcome::default()
        };
        for f in service_frontends(
            svc,
            &pools,
            &allocations,
            &nodes,
            opts,
            &mut outcome.skipped,
        ) {
            match taken.get(&f.id()) {
                Some(owner) => outcome
                    .skipped
                    .push(format!("{} is already served for Service {owner}", f.id())),
                None => {
                    taken.insert(f.id(), key.clone());
                    outcome.frontends.push(f.id());
                    out.frontends.push(f);
                }
            }
        }
        outcome.ready_endpoints = ready_endpoints(&snap.slices, &key);
        out.warnings.extend(outcome.skipped.iter().map(|m| Warning {
            service: key.clone(),
            message: m.clone(),
        }));
        out.services.insert(key, outcome);
    }
    out.frontends.sort_by_key(Frontend::id);
    out.warnings.sort();
    out.nodes = nodes;
    out
}

/// The frontends of one edge Service; what is skipped goes to `skipped`.
fn service_frontends(
    svc: &Service,
    pools: &Pools,
    allocations: &Allocations,
    nodes: &[NodeView],
    opts: Options,
    skipped: &mut Vec<String>,
) -> Vec<Frontend> {
    let ips = services::status_ips(svc, pools, allocations);
    skipped.extend(ips.refused.iter().map(|(_, why)| why.clone()));
    if ips.accepted.is_empty() {
        if ips.refused.is_empty() {
            skipped.push("no address in status.loadBalancer.ingress yet (the controller allocates it from an edge pool)".into());
        }
        return Vec::new();
    }
    let view = ServiceView::of(svc);
    let (ports, bad_ports) = services::ports(&view);
    skipped.extend(bad_ports);
    let traffic_policy = view.external_traffic_policy;
    let health_check_node_port = view.health_check_node_port;
    if traffic_policy == TrafficPolicy::Local && health_check_node_port.is_none() {
        skipped.push("externalTrafficPolicy Local without a healthCheckNodePort: no way to tell which nodes have endpoints; not served".into());
        return Vec::new();
    }
    skipped.extend(view.source_ranges.rejected.iter().map(ToString::to_string));
    let source_ranges = view.source_ranges.ranges;
    let mut out = Vec::new();
    for ip in &ips.accepted {
        let candidates = nodes::candidates(nodes, *ip);
        for p in &ports {
            out.push(Frontend {
                service: view.key.clone(),
                ip: *ip,
                protocol: p.protocol,
                port: p.port,
                node_port: p.node_port,
                traffic_policy,
                health_check_node_port,
                health_port: opts.health_port,
                source_ranges: source_ranges.clone(),
                candidates: candidates.clone(),
            });
        }
    }
    out
}

/// Ready endpoints of the Service per node.
fn ready_endpoints(slices: &[Arc<NodeSlice>], key: &ServiceKey) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let of_service = slices.iter().filter(|s| s.is_of(&key.namespace, &key.name));
    for slice in of_service {
        for ep in &slice.endpoints {
            if let (true, Some(node)) = (ep.ready, ep.node.as_ref()) {
                *out.entry(node.clone()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Whether a change of `svc` may change what [`desired`] computes (with the VIPPools
/// `pools`): it asks for the edge (annotation `ferrolb.io/mode: edge`), carries the edge's
/// condition (which the edge removes once it is no edge Service), or has an address of an edge
/// pool in its status (which may be an edge Service's, [`Allocations`]). A Service for which
/// this is false before and after a change has no frontend and takes none from another; only
/// the reason given for an edge Service's address refused from another pool may name it, and
/// that text is brought up to date by the next pass (a change of the edge Service, or the
/// [`RESYNC`](crate::daemon::RESYNC) at the latest). The edge's stores wake its loop only for
/// these ([`ServiceStores::start_for`](ferrolb_adapter::stores::ServiceStores::start_for)): at
/// 10,000 other Services every change of any of them cost a whole pass (0.5 s of CPU per
/// Service created, more than the apiserver's).
pub fn may_concern(svc: &Service, pools: &[Arc<VIPPool>]) -> bool {
    if ferrolb_adapter::classify::mode(svc) == ferrolb_adapter::Mode::Edge
        || edge_condition(svc).is_some()
    {
        return true;
    }
    let mut ips = ferrolb_adapter::ingress::ingress_ip_iter(svc).peekable();
    if ips.peek().is_none() {
        return false;
    }
    let ranges = EdgeRanges::of(&Pools::new(pools));
    ips.any(|ip| ranges.contains(ip))
}

/// The edge's condition ([`CONDITION_EDGE_SERVING`]) in the Service's status.
fn edge_condition(svc: &Service) -> Option<&Condition> {
    svc.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_EDGE_SERVING))
}

/// Whether the edge's field manager owns a condition in the Service's status.
fn owns_edge_condition(svc: &Service) -> bool {
    status_fields(svc, MANAGER_EDGE).any(|status| status.get("f:conditions").is_some())
}
