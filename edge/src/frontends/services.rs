//! Reading one Service: is it an edge Service, which of its status addresses may be served
//! (CVE-2020-8554: only addresses the controller wrote, from an edge pool the controller's
//! `ferrolb.io/allocated-from` annotation names), and its ports.

use std::net::IpAddr;

use ferrolb_api::ingress::allocations;
use ferrolb_api::names::{ANN_MODE, LOAD_BALANCER_CLASS, MODE_EDGE};
use ferrolb_api::pools::Pools;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use super::{Protocol, TrafficPolicy};

/// Whether `svc` asks for the edge: `type: LoadBalancer`, class `ferrolb.io/lb` or none, and
/// annotation `ferrolb.io/mode: edge`.
pub fn is_edge(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    spec.type_.as_deref() == Some("LoadBalancer")
        && spec
            .load_balancer_class
            .as_deref()
            .is_none_or(|c| c == LOAD_BALANCER_CLASS)
        && svc.annotations().get(ANN_MODE).map(String::as_str) == Some(MODE_EDGE)
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
/// allocated ([`allocations`]) is served when its pool is an edge pool.
pub fn status_ips(svc: &Service, pools: &Pools) -> StatusIps {
    let mut out = StatusIps::default();
    for (ip, allocation) in allocations(svc, pools, "never served") {
        match allocation {
            Ok(pool) if pools.is_edge(&pool) => out.accepted.push(ip),
            Ok(pool) => out.refused.push((
                ip,
                format!("{ip} lies in IPPool {pool}, which is not an edge pool: never served"),
            )),
            Err(why) => out.refused.push((ip, why)),
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

/// The forwardable ports of `svc`, and why the others are skipped.
pub fn ports(svc: &Service) -> (Vec<PortSpec>, Vec<String>) {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    let listed = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    for p in listed.into_iter().flatten() {
        let label = p
            .name
            .as_deref()
            .map_or_else(|| p.port.to_string(), |n| format!("{n} ({})", p.port));
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            other => {
                skipped.push(format!(
                    "port {label}: protocol {other} is not supported by the edge"
                ));
                continue;
            }
        };
        let Ok(port) = u16::try_from(p.port) else {
            skipped.push(format!("port {label}: not a valid port number"));
            continue;
        };
        match p
            .node_port
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0)
        {
            Some(node_port) if port != 0 => ok.push(PortSpec {
                protocol,
                port,
                node_port,
            }),
            Some(_) => skipped.push(format!("port {label}: not a valid port number")),
            None => skipped.push(format!(
                "port {label}: no nodePort allocated (allocateLoadBalancerNodePorts: false?)"
            )),
        }
    }
    (ok, skipped)
}

/// `spec.externalTrafficPolicy` (Cluster when unset) and `spec.healthCheckNodePort`.
pub fn traffic_policy(svc: &Service) -> (TrafficPolicy, Option<u16>) {
    let spec = svc.spec.as_ref();
    let policy = match spec.and_then(|s| s.external_traffic_policy.as_deref()) {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    };
    let hc = spec
        .and_then(|s| s.health_check_node_port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0);
    (policy, hc)
}

/// `spec.loadBalancerSourceRanges` as written.
pub fn source_ranges(svc: &Service) -> Vec<String> {
    svc.spec
        .as_ref()
        .and_then(|s| s.load_balancer_source_ranges.clone())
        .unwrap_or_default()
}
