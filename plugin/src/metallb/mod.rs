//! MetalLB's configuration → ferrolb objects. Pure: objects in (as JSON values, from the
//! cluster or from files), objects and warnings out ([`import`]).
//!
//! - `IPAddressPool` → `VIPPool` of the same name ([`pool`]);
//! - `L2Advertisement` → `L2AnnouncementPolicy` ([`l2`]), one per combination of its pool
//!   and node selectors when it lists several (MetalLB ORs them, a policy has one of each);
//! - Services of type LoadBalancer with status addresses inside an imported pool → the pool's
//!   `spec.adoptedAddresses` ([`adopt`]), so the controller keeps those addresses;
//! - anything else (BGPAdvertisement, BGPPeer, BFDProfile, Community, unknown fields) → a
//!   warning naming the object and the field. Nothing is dropped silently.

pub mod adopt;
pub mod l2;
pub mod pool;

use std::collections::BTreeSet;

use ferrolb_api::{L2AnnouncementPolicy, VIPPool};
use serde_json::Value;

/// MetalLB's API group.
pub const GROUP: &str = "metallb.io";

/// The result of an import.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// One VIPPool per imported IPAddressPool, by name.
    pub pools: Vec<VIPPool>,
    /// L2AnnouncementPolicies, by name.
    pub policies: Vec<L2AnnouncementPolicy>,
    /// What was not imported or not imported exactly, one line each, naming the object and
    /// the field.
    pub warnings: Vec<String>,
    /// What the operator should know (Services using MetalLB's annotations), one line each.
    pub notes: Vec<String>,
}

/// `Kind namespace/name` of an object, for messages.
pub fn describe(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object");
    let name = obj["metadata"]["name"].as_str().unwrap_or("<unnamed>");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Warns about every key of `map` (the object's `at`) not in `known`.
pub(crate) fn unknown_fields(
    obj: &Value,
    at: &str,
    map: &Value,
    known: &[&str],
    warnings: &mut Vec<String>,
) {
    if let Some(map) = map.as_object() {
        for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
            warnings.push(format!(
                "{}: {at}.{key} is not a field ferrolb imports (MetalLB would ignore an unknown field too); not imported",
                describe(obj)
            ));
        }
    }
}

/// Imports every object of `objects`: MetalLB's kinds become ferrolb objects, Services give
/// adoption records, everything else of group `metallb.io` is named in a warning. Objects of
/// other groups (besides Services) are skipped with a warning too.
pub fn import(objects: &[Value]) -> Imported {
    let mut out = Imported::default();
    let mut services = Vec::new();
    let mut seen_pools = BTreeSet::new();
    let mut seen_policies = BTreeSet::new();
    for obj in objects.iter().flat_map(items) {
        let api = obj["apiVersion"].as_str().unwrap_or_default();
        let group = api.split_once('/').map_or("", |(g, _)| g);
        let kind = obj["kind"].as_str().unwrap_or_default();
        match (group, kind) {
            (GROUP, "IPAddressPool") => {
                if let Some(p) = pool::convert(obj, &mut out.warnings) {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    if seen_pools.insert(name.clone()) {
                        out.pools.push(p);
                    } else {
                        out.warnings.push(format!(
                            "{}: a pool named {name} was imported already (VIPPools are cluster-scoped); not imported",
                            describe(obj)
                        ));
                    }
                }
            }
            (GROUP, "L2Advertisement") => {
                for p in l2::convert(obj, &mut out.warnings) {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    if seen_policies.insert(name.clone()) {
                        out.policies.push(p);
                    } else {
                        out.warnings.push(format!(
                            "{}: a policy named {name} was imported already (L2AnnouncementPolicies are cluster-scoped); not imported",
                            describe(obj)
                        ));
                    }
                }
            }
            (GROUP, "BGPAdvertisement" | "BGPPeer" | "BFDProfile" | "Community") => {
                out.warnings.push(format!(
                    "{}: ferrolb announces on Layer 2 only (ARP/NDP), it does not speak BGP; not imported",
                    describe(obj)
                ));
            }
            (GROUP, _) => out
                .warnings
                .push(format!("{}: kind {kind} is not imported", describe(obj))),
            ("", "Service") => services.push(obj.clone()),
            _ => out.warnings.push(format!(
                "{} ({api}): not a MetalLB object; skipped",
                describe(obj)
            )),
        }
    }
    out.pools
        .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out.policies
        .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    adopt::record(&services, &mut out);
    out
}

/// The object itself, or the items of a `List`.
fn items(obj: &Value) -> Vec<&Value> {
    match (obj["kind"].as_str(), obj["items"].as_array()) {
        (Some(k), Some(items)) if k.ends_with("List") => items.iter().collect(),
        _ => vec![obj],
    }
}

/// ferrolb's label selector from MetalLB's list of selectors (ORed): one selector as is;
/// several with one `matchLabels` entry each, all on one key, as one `In` expression; others
/// cannot be expressed by one selector: the first is kept (narrower than MetalLB) and a
/// warning says so. `None` for an empty list.
pub(crate) fn one_selector(
    obj: &Value,
    field: &str,
    list: &Value,
    warnings: &mut Vec<String>,
) -> Option<Value> {
    let list = list.as_array().filter(|l| !l.is_empty())?;
    if list.len() == 1 {
        return Some(list[0].clone());
    }
    let single_labels: Option<Vec<(&str, &str)>> = list
        .iter()
        .map(|s| {
            let labels = s["matchLabels"].as_object()?;
            let expressions = s["matchExpressions"].as_array().is_none_or(Vec::is_empty);
            match (labels.len(), expressions) {
                (1, true) => labels
                    .iter()
                    .next()
                    .and_then(|(k, v)| Some((k.as_str(), v.as_str()?))),
                _ => None,
            }
        })
        .collect();
    if let Some(labels) = single_labels
        && labels.iter().all(|(k, _)| *k == labels[0].0)
    {
        let values: BTreeSet<&str> = labels.iter().map(|(_, v)| *v).collect();
        return Some(serde_json::json!({"matchExpressions": [
            {"key": labels[0].0, "operator": "In", "values": values}
        ]}));
    }
    warnings.push(format!(
        "{}: {field} lists {} selectors, which MetalLB ORs; one ferrolb selector cannot say that: imported the first only (fewer matches than MetalLB), add the others by hand",
        describe(obj),
        list.len()
    ));
    Some(list[0].clone())
}
