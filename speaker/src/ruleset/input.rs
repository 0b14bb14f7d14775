//! Plain input types: what the speaker knows about this node and its Services.
//!
//! These are deliberately free of Kubernetes types; the adapter that watches
//! Services and EndpointSlices fills them in.

use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_core::{Protocol, ServiceKey, SourceRanges, TargetPort, TrafficPolicy};
use serde::Serialize;

/// Everything the rule builder needs for one node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInput {
    /// Name of this node, compared with [`Endpoint::node`] for
    /// `externalTrafficPolicy: Local`.
    pub node_name: String,
    /// Addresses on which NodePorts are served. Empty means "every local
    /// address except loopback" (`fib daddr type local`).
    pub node_ips: Vec<IpAddr>,
    /// The Services to deliver; order does not matter (output is sorted).
    pub services: Vec<Arc<ServiceInput>>,
}

/// One Service as the node must deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInput {
    /// Namespace and name.
    pub key: ServiceKey,
    /// Destination addresses answered on this node: announced LoadBalancer
    /// IPs plus allowed externalIPs. IPv4 and IPv6 may be mixed.
    pub vips: Vec<IpAddr>,
    /// Service ports.
    pub ports: Vec<PortInput>,
    /// `spec.externalTrafficPolicy`.
    pub etp: TrafficPolicy,
    /// `spec.loadBalancerSourceRanges` (fail-safe: entries given but none valid allow
    /// nobody). Applies to VIP traffic only, not to NodePorts.
    pub source_ranges: SourceRanges,
    /// `ClientIP` session affinity timeout in seconds (`None` = no affinity).
    /// Kubernetes allows 1..=86400; 0 disables affinity with a warning.
    pub affinity: Option<u32>,
    /// All endpoints of the Service (every EndpointSlice, both families).
    pub endpoints: Vec<Endpoint>,
}

impl ServiceInput {
    /// Service `key` on `vips` and `ports` with `endpoints`, and the defaults of an unset spec:
    /// externalTrafficPolicy Cluster, no source ranges, no session affinity.
    pub fn new(
        key: ServiceKey,
        vips: Vec<IpAddr>,
        ports: Vec<PortInput>,
        endpoints: Vec<Endpoint>,
    ) -> ServiceInput {
        ServiceInput {
            key,
            vips,
            ports,
            etp: TrafficPolicy::Cluster,
            source_ranges: SourceRanges::Any,
            affinity: None,
            endpoints,
        }
    }
}

/// One Service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortInput {
    /// Port name (`None` for the single unnamed port).
    pub name: Option<String>,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Service port, matched as destination port on the VIPs.
    pub port: u16,
    /// NodePort, if allocated (0 is treated as none).
    pub node_port: Option<u16>,
    /// Where to send the traffic on the endpoint.
    pub target: TargetPort,
}

/// One endpoint (one address of an EndpointSlice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Endpoint address; only VIPs of the same family are sent to it.
    pub ip: IpAddr,
    /// Node hosting the endpoint (`nodeName`), if known.
    pub node: Option<String>,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
    /// Ports of this endpoint. For [`TargetPort::Named`] the builder looks
    /// for an entry with that name and protocol; failing that, for an entry
    /// named like the Service port (EndpointSlices list resolved ports under
    /// the Service port name). An endpoint with neither is skipped for that
    /// Service port. Unused for [`TargetPort::Number`].
    pub ports: Vec<EndpointPort>,
}

impl Endpoint {
    /// A ready, serving, not terminating endpoint `ip` on `node`, without named ports.
    pub fn ready(ip: IpAddr, node: &str) -> Endpoint {
        Endpoint {
            ip,
            node: Some(node.to_string()),
            ready: true,
            serving: true,
            terminating: false,
            ports: Vec::new(),
        }
    }
}

/// A named port of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    /// Port name (`None` for an unnamed port).
    pub name: Option<String>,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Port number on the endpoint.
    pub port: u16,
}
