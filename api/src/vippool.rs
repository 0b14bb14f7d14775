//! `VIPPool`: addresses the controller hands out to LoadBalancer Services.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cluster-scoped pool of addresses for LoadBalancer Services.
///
/// The controller allocates from pools whose `serviceAllocation` matches a Service first (lowest
/// `priority` first), then from pools without `serviceAllocation`. An address, once given, stays
/// with its Service while the pool still covers it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "VIPPool",
    plural = "vippools",
    shortname = "vpool",
    shortname = "flbpool",
    doc = "A cluster-scoped pool of addresses for LoadBalancer Services: the controller allocates from pools whose serviceAllocation matches a Service (lowest priority first), then from pools without one; an address stays with its Service while the pool covers it.",
    category = "ferrolb",
    status = "VIPPoolStatus",
    printcolumn = r#"{"name":"Addresses","type":"string","jsonPath":".spec.addresses"}"#,
    printcolumn = r#"{"name":"Used","type":"string","jsonPath":".status.used"}"#,
    printcolumn = r#"{"name":"Available","type":"string","jsonPath":".status.available"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct VIPPoolSpec {
    /// Addresses this pool hands out: CIDRs (198.51.100.0/24, 2001:db8::/64), single addresses,
    /// or inclusive ranges start-end (198.51.100.10-198.51.100.20). IPv4 and IPv6 may be mixed
    /// across entries, never inside one range. At least one entry.
    #[schemars(schema_with = "crate::schema::pool_addresses")]
    pub addresses: Vec<String>,

    /// Whether Services that do not ask for this pool (or one of its addresses) may get an
    /// address from it. `false`: only explicit requests are served. Default true.
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub auto_assign: bool,

    /// Skip IPv4 addresses ending in .0 and .255, which some old clients and routers mishandle.
    #[serde(default)]
    pub avoid_buggy_ips: bool,

    /// Stop allocating new addresses from this pool. Addresses already given stay with their
    /// Services.
    #[serde(default)]
    pub disabled: bool,

    /// Limit this pool to some Services and give it a priority among pools. Without it, the
    /// pool serves any Service, after every pool whose `serviceAllocation` matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,

    /// Addresses Services already hold from another load balancer (MetalLB), which the
    /// controller keeps through a migration. A status address the controller did not allocate
    /// is normally replaced; one listed here for that very Service, inside this pool and not
    /// held by another Service the controller allocated, is kept and signed instead. Only
    /// writers of VIPPools (cluster administrators) can add entries, so a Service owner cannot
    /// adopt an address by writing its own status. `kubectl ferrolb import-metallb` writes
    /// them; once every listed Service carries `ferrolb.io/allocation-proof` the list may be
    /// removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopted_addresses: Vec<AdoptedAddress>,
}

/// One Service's addresses that the controller adopts from its status (see
/// `spec.adoptedAddresses`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptedAddress {
    /// The Service's namespace.
    pub namespace: String,

    /// The Service's name.
    pub name: String,

    /// The Service's `metadata.uid`. When given, only the Service with this UID adopts the
    /// addresses: a Service deleted and created again under the same name does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,

    /// The addresses the Service holds in `status.loadBalancer.ingress` (one per family),
    /// each inside this pool.
    pub addresses: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// Which Services a pool serves, and its priority among the pools that match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    /// Lower is preferred. Pools that match a Service are tried by priority; pools without a
    /// priority come after those with one. Ties break by age, then name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub priority: Option<i32>,

    /// Namespaces whose Services this pool serves (by name). Empty: any namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::name_list")]
    pub namespaces: Vec<String>,

    /// Namespaces whose Services this pool serves, by the namespace's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Services this pool serves, by the Service's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_selector: Option<LabelSelector>,
}

/// What the controller observed about a pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VIPPoolStatus {
    /// IPv4 address counts (absent when the pool has no IPv4 entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<FamilyCounts>,

    /// IPv6 address counts (absent when the pool has no IPv6 entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<FamilyCounts>,

    /// Addresses in use, both families, in decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<String>,

    /// Addresses still free, both families, in decimal (saturates at 2^128-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<String>,

    /// Node addresses inside this pool: never allocated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved_node_addresses: Vec<String>,

    /// `Ready`: the pool's addresses are usable. `Conflict`: the pool overlaps another pool (the
    /// message names it); the later pool does not allocate the overlapping addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Address counts of one family. Decimal strings, because an IPv6 /64 holds 2^64 addresses,
/// more than a 64-bit integer can.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilyCounts {
    /// Addresses in the pool's entries of this family (saturates at 2^128-1).
    pub total: String,
    /// Addresses given to Services.
    pub used: String,
    /// Addresses still free (excludes skipped and reserved addresses).
    pub available: String,
}
