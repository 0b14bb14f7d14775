//! Plain input types: what the speaker knows about this node and its Services.
//!
//! These are deliberately free of Kubernetes types; the adapter that watches
//! Services and EndpointSlices fills them in.

use std::fmt;
use std::net::IpAddr;

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
    pub services: Vec<ServiceInput>,
}

/// Identity of a Service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct ServiceKey {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
}

impl ServiceKey {
    /// Builds a key from namespace and name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
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
    pub etp: ExternalTrafficPolicy,
    /// `spec.loadBalancerSourceRanges`; empty means every source is allowed.
    /// Applies to VIP traffic only, not to NodePorts.
    pub source_ranges: Vec<ipnet::IpNet>,
    /// `ClientIP` session affinity timeout in seconds (`None` = no affinity).
    /// Kubernetes allows 1..=86400; 0 disables affinity with a warning.
    pub affinity: Option<u32>,
    /// All endpoints of the Service (every EndpointSlice, both families).
    pub endpoints: Vec<Endpoint>,
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

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The nft keyword (`tcp`, `udp`, `sctp`), also used in chain names.
    pub fn nft_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.nft_name())
    }
}

/// `targetPort` of a Service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TargetPort {
    /// A port number, used for every endpoint (0 is invalid: such endpoints
    /// are skipped).
    Number(u16),
    /// A named port, resolved per endpoint, see [`Endpoint::ports`].
    Named(String),
}

/// `spec.externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum ExternalTrafficPolicy {
    /// Any ready endpoint in the cluster; the client address is masqueraded.
    #[default]
    Cluster,
    /// Only endpoints on this node; the client address is preserved.
    Local,
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
