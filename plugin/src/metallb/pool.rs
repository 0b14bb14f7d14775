//! `IPAddressPool` → `VIPPool` (same name).
//!
//! | MetalLB | ferrolb |
//! |---|---|
//! | `spec.addresses` (CIDRs, `a-b` ranges, addresses) | `spec.addresses`; a CIDR with host bits set (MetalLB masks it) as its network, with a warning |
//! | `spec.autoAssign` (default true) | `spec.autoAssign` |
//! | `spec.avoidBuggyIPs` | `spec.avoidBuggyIPs` |
//! | `serviceAllocation.priority` (0 or unset: last) | `priority` (unset: last; 0 becomes unset; above 10000 clamped) |
//! | `serviceAllocation.namespaces` | `namespaces` |
//! | `serviceAllocation.namespaceSelectors` (ORed) | `namespaceSelector` (see [`super::one_selector`]) |
//! | `serviceAllocation.serviceSelectors` (ORed) | `serviceSelector` |
//!
//! MetalLB serves a namespace that is listed *or* selected; ferrolb one that is listed *and*
//! selected. With both given the import keeps both (narrower) and warns.

use ferrolb_api::{ServiceAllocation, VIPPool, VIPPoolSpec};
use ferrolb_core::addresses::AddressError;
use ferrolb_core::parse_address;
use serde_json::Value;

use super::{describe, one_selector, unknown_fields};

/// Highest priority a VIPPool takes.
const MAX_PRIORITY: i64 = 10_000;

/// Converts one IPAddressPool; `None` (with a warning) when none of its addresses is usable.
pub fn convert(obj: &Value, warnings: &mut Vec<String>) -> Option<VIPPool> {
    let name = obj["metadata"]["name"].as_str()?.to_string();
    let spec = &obj["spec"];
    unknown_fields(
        obj,
        "spec",
        spec,
        &[
            "addresses",
            "autoAssign",
            "avoidBuggyIPs",
            "serviceAllocation",
        ],
        warnings,
    );
    let mut addresses = Vec::new();
    for entry in spec["addresses"].as_array().into_iter().flatten() {
        let Some(text) = entry.as_str() else {
            warnings.push(format!(
                "{}: spec.addresses entry {entry} is not a string; not imported",
                describe(obj)
            ));
            continue;
        };
        match parse_address(text) {
            Ok(_) => addresses.push(text.trim().to_string()),
            Err(AddressError::HostBitsSet {
                network, prefix, ..
            }) => {
                let fixed = format!("{network}/{prefix}");
                warnings.push(format!(
                    "{}: spec.addresses entry {text:?} has host bits set; MetalLB reads it as {fixed}, imported as {fixed}",
                    describe(obj)
                ));
                addresses.push(fixed);
            }
            Err(e) => warnings.push(format!(
                "{}: spec.addresses: {e}; not imported",
                describe(obj)
            )),
        }
    }
    if addresses.is_empty() {
        warnings.push(format!(
            "{}: spec.addresses has no usable entry; pool not imported",
            describe(obj)
        ));
        return None;
    }
    let allocation = &spec["serviceAllocation"];
    let service_allocation = allocation
        .as_object()
        .map(|_| service_allocation(obj, allocation, warnings));
    let mut pool = VIPPool::new(
        &name,
        VIPPoolSpec {
            addresses,
            auto_assign: spec["autoAssign"].as_bool().unwrap_or(true),
            avoid_buggy_ips: spec["avoidBuggyIPs"].as_bool().unwrap_or(false),
            disabled: false,
            service_allocation,
            adopted_addresses: Vec::new(),
        },
    );
    pool.metadata.labels = obj["metadata"]["labels"]
        .as_object()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        });
    Some(pool)
}

fn service_allocation(
    obj: &Value,
    allocation: &Value,
    warnings: &mut Vec<String>,
) -> ServiceAllocation {
    unknown_fields(
        obj,
        "spec.serviceAllocation",
        allocation,
        &[
            "priority",
            "namespaces",
            "namespaceSelectors",
            "serviceSelectors",
        ],
        warnings,
    );
    let priority = match allocation["priority"].as_i64() {
        None | Some(0) => None,
        Some(p) if p < 0 => {
            warnings.push(format!(
                "{}: spec.serviceAllocation.priority {p} is negative; imported without a priority (last, as MetalLB's 0)",
                describe(obj)
            ));
            None
        }
        Some(p) if p > MAX_PRIORITY => {
            warnings.push(format!(
                "{}: spec.serviceAllocation.priority {p} is above ferrolb's {MAX_PRIORITY}; imported as {MAX_PRIORITY}",
                describe(obj)
            ));
            Some(MAX_PRIORITY as i32)
        }
        Some(p) => i32::try_from(p).ok(),
    };
    let namespaces: Vec<String> = allocation["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    let namespace_selector = one_selector(
        obj,
        "spec.serviceAllocation.namespaceSelectors",
        &allocation["namespaceSelectors"],
        warnings,
    );
    if !namespaces.is_empty() && namespace_selector.is_some() {
        warnings.push(format!(
            "{}: spec.serviceAllocation has namespaces and namespaceSelectors: MetalLB serves a namespace listed or selected, ferrolb one listed and selected; imported both (fewer matches than MetalLB)",
            describe(obj)
        ));
    }
    let service_selector = one_selector(
        obj,
        "spec.serviceAllocation.serviceSelectors",
        &allocation["serviceSelectors"],
        warnings,
    );
    let selector = |s: Option<Value>, field: &str, warnings: &mut Vec<String>| {
        s.and_then(|s| match serde_json::from_value(s) {
            Ok(s) => Some(s),
            Err(e) => {
                warnings.push(format!(
                    "{}: {field}: not a label selector ({e}); not imported",
                    describe(obj)
                ));
                None
            }
        })
    };
    ServiceAllocation {
        priority,
        namespaces,
        namespace_selector: selector(
            namespace_selector,
            "spec.serviceAllocation.namespaceSelectors",
            warnings,
        ),
        service_selector: selector(
            service_selector,
            "spec.serviceAllocation.serviceSelectors",
            warnings,
        ),
    }
}
