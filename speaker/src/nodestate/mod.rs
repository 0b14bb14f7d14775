//! This node's whole desired state as one pure function of a snapshot: [`desired`].
//!
//! The speaker's loop gathers a [`Snapshot`] of Kubernetes objects (reflectors) and a
//! [`Local`] view (this node, interfaces, live speakers from gossip); [`desired`] returns a
//! [`NodeDesired`] that the I/O shells apply: the announcer's [`announcer::Desired`], the
//! dataplane's [`ruleset::NodeInput`], the health API's Services, and one
//! [`AnnouncementPlan`] per Service for the `ServiceAnnouncement` objects.
//!
//! Rules (details in each module):
//! - Addresses ([`vips`]): a LoadBalancer IP counts only when the controller owns the status
//!   ingress (managedFields) and the IP lies in a pool its `ferrolb.io/allocated-from`
//!   annotation names; externalIPs only when the controller's `ExternalIPsAllowed` condition
//!   allows them for the Service's current generation. Everything else is never announced
//!   nor programmed, and is reported as silent with the reason.
//! - Announcing: [`election::elect()`] over every Node (interfaces as gossiped,
//!   [`nodes::views`]), every L2Announcement ([`pools::policy`]) and every address
//!   except those of edge pools; this node answers for what it wins.
//! - Rules ([`rules`]): every node programs every valid address, announced here or not (as
//!   kube-proxy does), and the NodePorts of ferrolb's LoadBalancer Services.
//! - Health: ferrolb's LoadBalancer Services with `externalTrafficPolicy: Local`.

mod debug;
pub mod endpoints;
pub mod nodes;
pub mod ownership;
pub mod plan;
pub mod pools;
pub mod rules;
pub mod vips;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_adapter::pools::Pools;
use ferrolb_api::{IPPool, L2Announcement};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use crate::election::{self, Election, InterfaceView, VipInput, VipKind};
use crate::health::ServiceHealth;
use crate::{announcer, ruleset};
use ferrolb_core::{ServiceKey, TrafficPolicy};

pub use plan::{AnnouncementPlan, Elsewhere, PlannedAnnouncement, SilentIp};

/// The Kubernetes objects the speaker watches.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every Service.
    pub services: Vec<Arc<Service>>,
    /// Every EndpointSlice.
    pub slices: Vec<Arc<EndpointSlice>>,
    /// Every Node.
    pub nodes: Vec<Arc<Node>>,
    /// Every IPPool.
    pub pools: Vec<Arc<IPPool>>,
    /// Every L2Announcement.
    pub l2: Vec<Arc<L2Announcement>>,
}

/// What this speaker knows besides the API objects.
#[derive(Debug, Clone, Default)]
pub struct Local {
    /// This node's name.
    pub node: String,
    /// This node's interfaces, as read locally (used for this node until gossip carries it).
    pub interfaces: Vec<InterfaceView>,
    /// Nodes whose speaker gossip says is alive.
    pub live_speakers: BTreeSet<String>,
    /// Every node's interfaces as gossiped, this node's own included.
    pub interfaces_of: BTreeMap<String, Vec<InterfaceView>>,
}

/// Everything this node must do.
#[derive(Debug, Clone, Default)]
pub struct NodeDesired {
    /// The addresses to answer ARP/NDP for, per interface.
    pub announce: announcer::Desired,
    /// The input of [`ruleset::build`].
    pub ruleset_input: ruleset::NodeInput,
    /// ferrolb's `externalTrafficPolicy: Local` LoadBalancer Services, for the health API.
    pub health_services: BTreeMap<ServiceKey, ServiceHealth>,
    /// One plan per Service with an address that concerns the speaker, sorted by Service.
    pub announcements: Vec<AnnouncementPlan>,
    /// Addresses nobody announces, with why (sorted, without duplicates).
    pub silent: Vec<(IpAddr, String)>,
    /// The whole election (every speaker computes the same one).
    pub election: Election,
    /// Input problems that were skipped (log them).
    pub warnings: Vec<String>,
}

impl NodeDesired {
    /// The whole desired state as JSON, for `/debug/state`.
    pub fn debug_json(&self) -> serde_json::Value {
        debug::to_json(self)
    }
}

/// This node's desired state. Pure and deterministic: the order of the snapshot's objects does
/// not matter.
pub fn desired(snapshot: &Snapshot, local: &Local) -> NodeDesired {
    let pools = Pools::new(&snapshot.pools);
    let policies: Vec<election::L2Policy> = snapshot
        .l2
        .iter()
        .map(|l| pools::policy(&pools, l))
        .collect();
    let node_views = nodes::views(&snapshot.nodes, local);
    let endpoints = endpoints::by_service(&snapshot.slices);
    let no_endpoints = Vec::new();

    let mut services: Vec<(ServiceKey, &Service, vips::ServiceVips)> = snapshot
        .services
        .iter()
        .map(|svc| {
            let key = ServiceKey {
                namespace: svc.namespace().unwrap_or_default(),
                name: svc.name_any(),
            };
            (key, svc.as_ref(), vips::classify(svc, &pools))
        })
        .filter(|(_, _, v)| !v.is_empty())
        .collect();
    services.sort_by(|a, b| a.0.cmp(&b.0));

    let mut out = NodeDesired::default();
    let mut vip_inputs = Vec::new();
    for (key, svc, vips) in &services {
        let eps = endpoints.get(key).unwrap_or(&no_endpoints);
        let etp = rules::traffic_policy(svc);
        let view = endpoints::election_view(eps);
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
        for (ip, pool, kind) in announceable {
            vip_inputs.push(VipInput {
                service: key.clone(),
                ip,
                pool,
                kind,
                service_labels: svc.labels().clone(),
                etp,
                endpoints: view.clone(),
            });
        }
        if vips.ferrolb_lb || !vips.programmed().is_empty() {
            let input = rules::service_input(key, svc, vips, eps, &mut out.warnings);
            out.ruleset_input.services.push(input);
        }
        if vips.ferrolb_lb && etp == TrafficPolicy::Local {
            let port = svc.spec.as_ref().and_then(|s| s.health_check_node_port);
            out.health_services.insert(
                key.clone(),
                ServiceHealth {
                    local_ready_endpoints: endpoints::local_ready(eps, &local.node),
                    health_check_node_port: port.and_then(|p| u16::try_from(p).ok()),
                },
            );
        }
    }

    out.election = election::elect(&node_views, &policies, &vip_inputs);
    for (ip, interfaces) in out.election.for_node(&local.node) {
        for iface in interfaces {
            out.announce.entry(iface).or_default().insert(ip);
        }
    }
    let mut silent = BTreeSet::new();
    for (key, _, vips) in &services {
        let plan = plan::plan(key, vips, &out.election, &local.node);
        silent.extend(plan.silent.iter().map(|s| (s.ip, s.reason.clone())));
        out.announcements.push(plan);
    }
    out.silent = silent.into_iter().collect();
    out.ruleset_input.node_name = local.node.clone();
    out.ruleset_input.node_ips = nodes::node_ips(&snapshot.nodes, &local.node);
    out
}
