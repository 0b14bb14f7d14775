//! `L2AnnouncementPolicy`: which pools are announced over ARP/NDP, from which nodes and interfaces.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cluster-scoped policy: announce the addresses of some pools on Layer 2 (ARP for IPv4, NDP
/// for IPv6) from some nodes, on some interfaces, for some Services. A pool no `L2AnnouncementPolicy`
/// covers is never announced.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "L2AnnouncementPolicy",
    plural = "l2announcementpolicies",
    shortname = "l2ap",
    shortname = "flbl2",
    doc = "A cluster-scoped policy: announce the addresses of some VIPPools on Layer 2 (ARP for IPv4, NDP for IPv6) from some nodes, on some interfaces, for some Services. A pool no L2AnnouncementPolicy covers is never announced.",
    category = "ferrolb",
    printcolumn = r#"{"name":"Pools","type":"string","jsonPath":".spec.ipPools"}"#,
    printcolumn = r#"{"name":"Interfaces","type":"string","jsonPath":".spec.interfaces"}"#,
    printcolumn = r#"{"name":"ExternalIPs","type":"boolean","jsonPath":".spec.externalIPs"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct L2AnnouncementPolicySpec {
    /// Pools to announce, by name. With `ipPoolSelector` too, a pool matching either is
    /// announced. Neither: every pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_list")]
    pub ip_pools: Vec<String>,

    /// Pools to announce, by the pool's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_pool_selector: Option<LabelSelector>,

    /// Nodes that may announce, by the node's labels. Empty: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,

    /// Interfaces to answer ARP/NDP on, by name or glob (* and ?), e.g. eth0, enp*s0. Empty:
    /// every up, broadcast-capable interface that is not loopback, a bridge port or a container
    /// veth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::interface_list")]
    pub interfaces: Vec<String>,

    /// Services whose addresses are announced, by the Service's labels. Empty: every Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_selector: Option<LabelSelector>,

    /// Also announce Services' `spec.externalIPs` that an `ExternalIPPolicy` allows. Default
    /// false.
    #[serde(default, rename = "externalIPs")]
    pub external_ips: bool,
}
