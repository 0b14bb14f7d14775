//! Plain input types for the election: what the shell resolves from Nodes, gossip,
//! L2AnnouncementPolicy objects, Services and EndpointSlices before calling
//! [`elect`](super::elect::elect).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_core::{ServiceKey, TrafficPolicy};
use serde::{Deserialize, Serialize};

use ferrolb_adapter::selector::Selector;

/// Label whose presence excludes a node from external load balancers (Kubernetes well-known
/// label). The shell sets [`NodeView::excluded`] when a node carries it, whatever its value.
pub const EXCLUDE_FROM_EXTERNAL_LB_LABEL: &str = ferrolb_api::names::LABEL_EXCLUDE_FROM_LB;

/// One cluster node as the speaker sees it.
///
/// Not serde-serializable: `ipnet` is built without its `serde` feature in this workspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeView {
    /// Kubernetes node name (unique in a cluster; also the rendezvous-hash identity).
    pub name: String,
    /// Node labels, matched against [`L2Policy::node_selector`].
    pub labels: BTreeMap<String, String>,
    /// The node's `Ready` condition is `True`.
    pub ready: bool,
    /// The node carries [`EXCLUDE_FROM_EXTERNAL_LB_LABEL`].
    pub excluded: bool,
    /// Gossip says the ferrolb speaker on this node is alive.
    pub speaker_alive: bool,
    /// The node's network interfaces (as reported by its speaker).
    pub interfaces: Vec<InterfaceView>,
}

/// One network interface of a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InterfaceView {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Administratively and operationally up.
    pub up: bool,
    /// Broadcast-capable (`IFF_BROADCAST`).
    pub broadcast: bool,
    /// Loopback interface.
    pub loopback: bool,
    /// Enslaved to a bridge (answering on the port would duplicate the bridge's answers).
    pub bridge_port: bool,
    /// Host side of a container veth pair.
    pub container_veth: bool,
    /// Has a link-layer (MAC) address; ARP/NDP replies cannot be sent without one.
    pub has_lladdr: bool,
    /// Subnets configured on the interface (address + prefix length).
    pub subnets: Vec<ipnet::IpNet>,
}

impl InterfaceView {
    /// A plain Ethernet interface `name` on `subnets`: up, broadcast-capable, with a MAC, and
    /// neither loopback, bridge port nor container veth — one the election may answer on.
    pub fn ethernet(name: impl Into<String>, subnets: Vec<ipnet::IpNet>) -> InterfaceView {
        InterfaceView {
            name: name.into(),
            up: true,
            broadcast: true,
            loopback: false,
            bridge_port: false,
            container_veth: false,
            has_lladdr: true,
            subnets,
        }
    }
}

/// An L2AnnouncementPolicy object, already resolved by the shell to plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Policy {
    /// Name of the L2AnnouncementPolicy object (used in reasons).
    pub name: String,
    /// Nodes allowed to announce; `None` means every node.
    pub node_selector: Option<Selector>,
    /// Interface names or globs (`*`, `?`); empty means the default interface set.
    pub interfaces: Vec<String>,
    /// Services covered; `None` means every Service.
    pub service_selector: Option<Selector>,
    /// Names of the address pools covered (a pool selector is resolved to names by the shell).
    pub pools: Vec<String>,
    /// Also covers `spec.externalIPs` of matching Services.
    pub external_ips: bool,
}

/// Where a VIP comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VipKind {
    /// Allocated from a pool into `status.loadBalancer.ingress`.
    LoadBalancerIp,
    /// Listed in the Service's `spec.externalIPs`.
    ExternalIp,
}

/// One endpoint of a Service (from its EndpointSlices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// Node hosting the endpoint, if known.
    pub node: Option<String>,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving` (the shell passes `ready` when the API leaves it unset).
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
}

impl EndpointView {
    /// Ready and not terminating: preferred target for traffic.
    pub fn is_ready(&self) -> bool {
        self.ready && !self.terminating
    }

    /// Terminating but still serving: used only when no ready endpoint is available
    /// (Kubernetes' terminating-endpoint fallback).
    pub fn is_serving_terminating(&self) -> bool {
        self.terminating && self.serving
    }
}

/// One (Service, IP) pair to announce. Services sharing an IP arrive as several inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VipInput {
    /// The Service this IP belongs to.
    pub service: ServiceKey,
    /// The virtual IP.
    pub ip: IpAddr,
    /// Pool the IP was allocated from; `None` for external IPs.
    pub pool: Option<String>,
    /// Where the IP comes from.
    pub kind: VipKind,
    /// Service labels, matched against [`L2Policy::service_selector`].
    pub service_labels: BTreeMap<String, String>,
    /// The Service's `externalTrafficPolicy`.
    pub etp: TrafficPolicy,
    /// The Service's endpoints.
    pub endpoints: Vec<EndpointView>,
}
