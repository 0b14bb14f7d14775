//! Nodes as backends: which may receive traffic (Ready, not excluded, not being deleted) and
//! their address of each family (an InternalIP preferred, then an ExternalIP).

use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::names::LABEL_EXCLUDE_FROM_LB;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use serde::Serialize;

use super::Candidate;

/// What the edge knows about one Node (also shown in `/debug/state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// The Node's name.
    pub name: String,
    /// Condition `Ready` is `True`.
    pub ready: bool,
    /// Carries [`LABEL_EXCLUDE_FROM_LB`].
    pub excluded: bool,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Its IPv4 address for traffic, if any.
    pub ipv4: Option<IpAddr>,
    /// Its IPv6 address for traffic, if any.
    pub ipv6: Option<IpAddr>,
}

impl NodeView {
    /// Reads a Node.
    pub fn new(node: &Node) -> NodeView {
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let addresses: Vec<(&str, IpAddr)> = status
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a.type_.as_str(), a.address.trim().parse().ok()?)))
            .collect();
        let pick = |v6: bool| {
            ["InternalIP", "ExternalIP"].iter().find_map(|kind| {
                addresses
                    .iter()
                    .find(|(t, ip)| t == kind && ip.is_ipv6() == v6)
                    .map(|(_, ip)| *ip)
            })
        };
        NodeView {
            name: node.name_any(),
            ready,
            excluded: node.labels().contains_key(LABEL_EXCLUDE_FROM_LB),
            deleting: node.metadata.deletion_timestamp.is_some(),
            ipv4: pick(false),
            ipv6: pick(true),
        }
    }

    /// Whether the node may receive traffic at all.
    pub fn eligible(&self) -> bool {
        self.ready && !self.excluded && !self.deleting
    }

    /// Its address of the family of `like`.
    pub fn address_like(&self, like: IpAddr) -> Option<IpAddr> {
        if like.is_ipv4() { self.ipv4 } else { self.ipv6 }
    }
}

/// Every Node, sorted by name.
pub fn views(nodes: &[Arc<Node>]) -> Vec<NodeView> {
    let mut v: Vec<NodeView> = nodes.iter().map(|n| NodeView::new(n)).collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The eligible nodes with an address of the family of `frontend`, sorted by name.
pub fn candidates(nodes: &[NodeView], frontend: IpAddr) -> Vec<Candidate> {
    nodes
        .iter()
        .filter(|n| n.eligible())
        .filter_map(|n| {
            Some(Candidate {
                node: n.name.clone(),
                ip: n.address_like(frontend)?,
            })
        })
        .collect()
}
