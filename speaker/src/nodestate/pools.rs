//! L2AnnouncementPolicies as the election's [`L2Policy`], over the pools of
//! [`ferrolb_adapter::pools::Pools`].

use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::selector::{Selector, optional_matches};
use ferrolb_api::L2AnnouncementPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;

use crate::election::L2Policy;

/// The election's view of an L2AnnouncementPolicy: `ipPools` and `ipPoolSelector` resolved to pool
/// names (neither: every pool); selectors converted, an unconvertible one matching nothing
/// (fail closed).
pub fn policy(pools: &Pools, l2: &L2AnnouncementPolicy) -> L2Policy {
    let spec = &l2.spec;
    let pools = if spec.ip_pools.is_empty() && spec.ip_pool_selector.is_none() {
        pools.iter().map(|(n, _)| n.to_string()).collect()
    } else {
        let by_selector = spec.ip_pool_selector.as_ref().map(convert);
        let mut names = spec.ip_pools.clone();
        names.extend(
            pools
                .iter()
                .filter(|(_, p)| {
                    by_selector
                        .as_ref()
                        .is_some_and(|s| optional_matches(Some(s), &p.labels))
                })
                .map(|(n, _)| n.to_string()),
        );
        names.sort();
        names.dedup();
        names
    };
    L2Policy {
        name: l2.name_any(),
        node_selector: spec.node_selector.as_ref().map(convert),
        interfaces: spec.interfaces.clone(),
        service_selector: spec.service_selector.as_ref().map(convert),
        pools,
        external_ips: spec.external_ips,
    }
}

/// Converts a CRD selector; an unknown operator becomes [`Selector::nothing`].
fn convert(selector: &LabelSelector) -> Selector {
    Selector::try_from(selector).unwrap_or_else(|_| Selector::nothing())
}
