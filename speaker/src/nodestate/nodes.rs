//! Nodes → the election's [`NodeView`]s, and this node's addresses for NodePorts.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;

use ferrolb_api::names::LABEL_EXCLUDE_FROM_LB;

use super::Local;
use crate::election::NodeView;

/// One [`NodeView`] per Node. Interfaces come from `local.interfaces_of` for every node, this
/// one included, so that every speaker elects from the same inputs; this node falls back to
/// `local.interfaces` while gossip has no entry for it yet.
pub fn views(nodes: &[Arc<Node>], local: &Local) -> Vec<NodeView> {
    nodes
        .iter()
        .map(|node| {
            let name = node.name_any();
            let interfaces = match local.interfaces_of.get(&name) {
                Some(gossiped) => gossiped.clone(),
                None if name == local.node => local.interfaces.clone(),
                None => Vec::new(),
            };
            NodeView {
                labels: node.labels().clone(),
                ready: is_ready(node),
                excluded: node.labels().contains_key(LABEL_EXCLUDE_FROM_LB),
                speaker_alive: local.live_speakers.contains(&name),
                interfaces,
                name,
            }
        })
        .collect()
}

/// The Node's `Ready` condition is `True`.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// This node's `InternalIP` and `ExternalIP` addresses (kube-proxy's default "primary" NodePort
/// addresses), sorted; empty (every local address) when the Node is not known or lists none.
pub fn node_ips(nodes: &[Arc<Node>], this: &str) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = nodes
        .iter()
        .filter(|n| n.name_any() == this)
        .filter_map(|n| n.status.as_ref()?.addresses.as_ref())
        .flatten()
        .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
        .filter_map(|a| a.address.trim().parse().ok())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}
