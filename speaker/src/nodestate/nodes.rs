//! Nodes → the election's [`NodeView`]s and each node's [`NodeEligibility`], this node's
//! `/healthz` facts ([`node_health`]) and its addresses for NodePorts.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use serde::Serialize;

use ferrolb_api::names::LABEL_EXCLUDE_FROM_LB;

use super::Local;
use crate::election::NodeView;
use crate::election::interfaces::in_default_set;

/// Taint the cluster autoscaler puts on a node it is about to delete.
pub const TAINT_TO_BE_DELETED: &str = "ToBeDeletedByClusterAutoscaler";

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

/// Whether a node may announce at all, and why not: the election's node-level checks. The
/// checks that depend on the address (an L2AnnouncementPolicy's node selector, an interface it
/// selects, local endpoints for `externalTrafficPolicy: Local`) are in each address's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeEligibility {
    /// Ready, not excluded and its speaker alive.
    pub eligible: bool,
    /// Why not (empty when eligible), plus a note when no interface is known.
    pub reasons: Vec<String>,
    /// The node's interfaces as its speaker reports them: those of the default set (used by
    /// L2AnnouncementPolicies without an interface list) and the others.
    pub interfaces: InterfaceNames,
}

/// A node's interface names, split by whether they are in the default set (up, broadcast,
/// with a MAC address, not loopback, bridge port or container veth).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceNames {
    /// In the default set.
    pub default: Vec<String>,
    /// Selected only when an L2AnnouncementPolicy names them (and they are up).
    pub other: Vec<String>,
}

/// The node-level part of the election for `view`.
pub fn eligibility(view: &NodeView) -> NodeEligibility {
    let mut reasons = Vec::new();
    if !view.ready {
        reasons.push("not ready (condition Ready is not True)".to_string());
    }
    if view.excluded {
        reasons.push(format!(
            "excluded from external load balancers (label {LABEL_EXCLUDE_FROM_LB})"
        ));
    }
    if !view.speaker_alive {
        reasons.push("speaker not alive (gossip)".to_string());
    }
    let eligible = reasons.is_empty();
    if view.interfaces.is_empty() {
        reasons.push("no interface known (its speaker has not reported any)".to_string());
    }
    let (default, other): (Vec<_>, Vec<_>) = view
        .interfaces
        .iter()
        .partition(|i| in_default_set(i) && i.has_lladdr);
    let names =
        |v: Vec<&crate::election::InterfaceView>| v.into_iter().map(|i| i.name.clone()).collect();
    NodeEligibility {
        eligible,
        reasons,
        interfaces: InterfaceNames {
            default: names(default),
            other: names(other),
        },
    }
}

/// What `/healthz` says about this Node (kube-proxy's `nodeEligible` inputs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeHealth {
    /// The Node is in the store (kube-proxy: `NodeManager.Node()` is not nil).
    pub known: bool,
    /// The Node has a `deletionTimestamp`.
    pub deleting: bool,
    /// Why it is excluded from load balancers, as kube-proxy's `/healthz` sees it: the
    /// cluster autoscaler's `ToBeDeletedByClusterAutoscaler` taint only (the
    /// `node.kubernetes.io/exclude-from-external-load-balancers` label keeps `/healthz` 200,
    /// as with kube-proxy; the election and the edge honour it); `None`: it is not.
    pub excluded: Option<String>,
}

/// This Node's `/healthz` facts; a Node not (yet) known is not eligible, as in kube-proxy.
pub fn node_health(nodes: &[Arc<Node>], this: &str) -> NodeHealth {
    let Some(node) = nodes.iter().find(|n| n.name_any() == this) else {
        return NodeHealth::default();
    };
    let deleting = node.metadata.deletion_timestamp.is_some();
    let excluded = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .and_then(|ts| ts.iter().find(|t| t.key == TAINT_TO_BE_DELETED))
        .map(|_| format!("node carries taint {TAINT_TO_BE_DELETED}"));
    NodeHealth {
        known: true,
        deleting,
        excluded,
    }
}
