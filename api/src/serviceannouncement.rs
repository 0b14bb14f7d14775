//! `ServiceAnnouncement`: which node answers for a Service's addresses, and why.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One per Service (same namespace and name, owned by the Service), written by the speakers:
/// which node answers ARP/NDP for which of the Service's addresses, on which interfaces, since
/// when and why, and which addresses nobody answers for and why. Every field may change, so any
/// node can take over.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "ServiceAnnouncement",
    plural = "serviceannouncements",
    shortname = "sva",
    shortname = "flbsva",
    doc = "Written by the speakers, one per Service (same namespace and name): which node answers ARP/NDP for which of the Service's addresses, on which interfaces, since when and why, and which addresses nobody answers for and why.",
    category = "ferrolb",
    namespaced,
    status = "ServiceAnnouncementStatus",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.serviceName"}"#,
    printcolumn = r#"{"name":"Addresses","type":"string","jsonPath":".status.announcements[*].ip"}"#,
    printcolumn = r#"{"name":"Nodes","type":"string","jsonPath":".status.announcements[*].node"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnnouncementSpec {
    /// The Service this object describes (same namespace).
    pub service_name: String,
}

/// The announcements in force for the Service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnnouncementStatus {
    /// Addresses being answered for, one entry per address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announcements: Vec<Announcement>,

    /// Addresses of the Service nobody answers for, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silent: Vec<SilentAddress>,
}

/// One address answered by one node.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    /// The address (IPv4 answered with ARP, IPv6 with NDP).
    pub ip: String,
    /// Whether it is a LoadBalancer IP or an allowed externalIP.
    pub kind: AnnouncementKind,
    /// The node that answers.
    pub node: String,
    /// The node's interfaces it answers on.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// When this node started answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// Why this node: the election's explanation.
    #[serde(default)]
    pub reason: String,
}

/// The kind of an announced address.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AnnouncementKind {
    /// An address from `status.loadBalancer.ingress`, allocated by the controller.
    #[default]
    LoadBalancerIP,
    /// An address from `spec.externalIPs` that an `ExternalIPPolicy` allows.
    ExternalIP,
}

/// An address of the Service that no node answers for.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SilentAddress {
    /// The address.
    pub ip: String,
    /// Why nobody answers (no L2AnnouncementPolicy covers the pool, no ready endpoint, ...).
    pub reason: String,
}
