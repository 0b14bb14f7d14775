//! Reading one Service: is it an edge Service, which of its status addresses may be served
//! (CVE-2020-8554: only addresses the controller wrote, from an edge pool the controller's
//! `ferrolb.io/allocated-from` annotation names), and its ports.

use std::net::IpAddr;

use ferrolb_adapter::Mode;
use ferrolb_adapter::allocations::Allocations;
use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::service::ServiceView;
use ferrolb_core::Protocol;
use k8s_openapi::api::core::v1::Service;

/// Whether `svc` is ferrolb's and asks for the edge ([`Allocations::classify`]):
/// `type: LoadBalancer`, class `ferrolb.io/lb` (or none, with an allocation the controller
/// signed), and annotation `ferrolb.io/mode: edge`.
pub fn is_edge(svc: &Service, allocations: &Allocations) -> bool {
    allocations
        .classify(svc)
        .is_some_and(|c| c.mode == Mode::Edge)
}

/// The status addresses of a Service, sorted out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusIps {
    /// Addresses the edge serves.
    pub accepted: Vec<IpAddr>,
    /// Addresses never served, with the reason.
    pub refused: Vec<(IpAddr, String)>,
}

/// Sorts out `status.loadBalancer.ingress[].ip` of an edge Service: an address the controller
/// allocated ([`Allocations`]) is served when its pool is an edge pool.
pub fn status_ips(svc: &Service, pools: &Pools, allocations: &Allocations) -> StatusIps {
    let mut out = StatusIps::default();
    for (ip, allocation) in allocations.of_service(&ferrolb_adapter::service::key(svc)) {
        let ip = *ip;
        match allocation {
            Ok(pool) if pools.is_edge(pool) => out.accepted.push(ip),
            Ok(pool) => out.refused.push((
                ip,
                format!("{ip} lies in VIPPool {pool}, which is not an edge pool: never served"),
            )),
            Err(why) => out.refused.push((ip, why.clone())),
        }
    }
    out
}

/// One Service port the edge can forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The Service port (the frontend's port).
    pub port: u16,
    /// Its nodePort.
    pub node_port: u16,
}

/// The forwardable ports of a Service (TCP and UDP with a nodePort), and why the others are
/// skipped.
pub fn ports(svc: &ServiceView) -> (Vec<PortSpec>, Vec<String>) {
    let mut ok = Vec::new();
    let mut skipped = svc.skipped_ports.clone();
    for p in &svc.ports {
        let label = p.label();
        if p.protocol == Protocol::Sctp {
            skipped.push(format!(
                "port {label}: protocol {} is not supported by the edge",
                p.protocol
            ));
            continue;
        }
        match p.node_port {
            Some(node_port) => ok.push(PortSpec {
                protocol: p.protocol,
                port: p.port,
                node_port,
            }),
            None => skipped.push(format!(
                "port {label}: no nodePort allocated (allocateLoadBalancerNodePorts: false?)"
            )),
        }
    }
    (ok, skipped)
}
