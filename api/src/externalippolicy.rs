//! `ExternalIPPolicy`: which addresses Services may put in `spec.externalIPs` (CVE-2020-8554).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cluster-scoped allowance for `spec.externalIPs`. Without any policy every externalIP is
/// refused. Node addresses, ClusterIP ranges, pool addresses, other namespaces' addresses and
/// special addresses (loopback, link-local, multicast, ...) are refused whatever a policy says.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "ExternalIPPolicy",
    plural = "externalippolicies",
    shortname = "eipp",
    shortname = "flbeip",
    doc = "A cluster-scoped allowance for spec.externalIPs (CVE-2020-8554). Without any policy every externalIP is refused; node addresses, ClusterIP ranges, pool addresses, other namespaces' addresses and special addresses are refused whatever a policy says.",
    category = "ferrolb",
    printcolumn = r#"{"name":"Allowed","type":"string","jsonPath":".spec.allowedCIDRs"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalIPPolicySpec {
    /// CIDRs (198.51.100.160/28, 2001:db8:100::1:0/112) whose addresses Services may use in
    /// spec.externalIPs. At least one entry.
    #[serde(rename = "allowedCIDRs")]
    #[schemars(schema_with = "crate::schema::cidr_list")]
    pub allowed_cidrs: Vec<String>,

    /// Only Services in namespaces matching this selector may use these addresses. Empty:
    /// every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Only these users may set these addresses (checked at admission). With `allowedGroups`,
    /// either matching suffices. Both empty: anyone who may write the Service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_list")]
    pub allowed_users: Vec<String>,

    /// Only members of these groups may set these addresses (checked at admission).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_list")]
    pub allowed_groups: Vec<String>,
}
