//! `L2Advertisement` → `L2AnnouncementPolicy`.
//!
//! | MetalLB | ferrolb |
//! |---|---|
//! | `spec.ipAddressPools` | `spec.ipPools` |
//! | `spec.ipAddressPoolSelectors` (ORed) | `spec.ipPoolSelector` |
//! | `spec.nodeSelectors` (ORed) | `spec.nodeSelector` |
//! | `spec.interfaces` | `spec.interfaces` |
//!
//! MetalLB announces a pool with the union of every advertisement naming it, and so does
//! ferrolb with its policies. An advertisement with several pool or node selectors therefore
//! becomes one policy per combination (`NAME-1`, `NAME-2`, ...), which announces exactly what
//! the advertisement did; with at most one of each, one policy named like it.

use ferrolb_api::{L2AnnouncementPolicy, L2AnnouncementPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::{describe, unknown_fields};

/// Converts one L2Advertisement.
pub fn convert(obj: &Value, warnings: &mut Vec<String>) -> Vec<L2AnnouncementPolicy> {
    let Some(name) = obj["metadata"]["name"].as_str() else {
        return Vec::new();
    };
    let spec = &obj["spec"];
    unknown_fields(
        obj,
        "spec",
        spec,
        &[
            "ipAddressPools",
            "ipAddressPoolSelectors",
            "nodeSelectors",
            "interfaces",
        ],
        warnings,
    );
    let strings = |field: &str| -> Vec<String> {
        spec[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let ip_pools = strings("ipAddressPools");
    let interfaces = strings("interfaces");
    let mut selectors = |field: &str| -> Vec<Option<LabelSelector>> {
        let list: Vec<LabelSelector> = spec[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| match serde_json::from_value(s.clone()) {
                Ok(s) => Some(s),
                Err(e) => {
                    warnings.push(format!(
                        "{}: spec.{field}: an entry is not a label selector ({e}); not imported",
                        describe(obj)
                    ));
                    None
                }
            })
            .collect();
        if list.is_empty() {
            vec![None]
        } else {
            list.into_iter().map(Some).collect()
        }
    };
    let pool_selectors = selectors("ipAddressPoolSelectors");
    let node_selectors = selectors("nodeSelectors");
    let many = pool_selectors.len() * node_selectors.len() > 1;
    let mut out = Vec::new();
    for pool_selector in &pool_selectors {
        for node_selector in &node_selectors {
            let policy_name = if many {
                format!("{name}-{}", out.len() + 1)
            } else {
                name.to_string()
            };
            out.push(L2AnnouncementPolicy::new(
                &policy_name,
                L2AnnouncementPolicySpec {
                    ip_pools: ip_pools.clone(),
                    ip_pool_selector: pool_selector.clone(),
                    node_selector: node_selector.clone(),
                    interfaces: interfaces.clone(),
                    service_selector: None,
                    external_ips: false,
                },
            ));
        }
    }
    out
}
