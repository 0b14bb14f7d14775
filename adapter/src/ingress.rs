//! A Service's LoadBalancer addresses as its status and annotations say: the parsed
//! `status.loadBalancer.ingress` and the pools of the controller's [`ANN_ALLOCATED_FROM`]
//! annotation. Whether the controller allocated them is [`crate::allocations`]' question.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use kube::ResourceExt;

use crate::pools::Pools;
use ferrolb_api::names::ANN_ALLOCATED_FROM;

/// The addresses of `status.loadBalancer.ingress[].ip` that parse, sorted, without duplicates.
pub fn ingress_ips(svc: &Service) -> BTreeSet<IpAddr> {
    ingress_ip_list(svc).into_iter().collect()
}

/// The addresses of `status.loadBalancer.ingress[].ip` that parse, in status order
/// (hostnames and unparsable entries skipped).
pub fn ingress_ip_list(svc: &Service) -> Vec<IpAddr> {
    ingress_ip_iter(svc).collect()
}

/// [`ingress_ip_list`] without collecting it (a pass over every Service allocates nothing).
pub fn ingress_ip_iter(svc: &Service) -> impl Iterator<Item = IpAddr> + '_ {
    entry_ips(
        svc.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_deref())
            .unwrap_or_default(),
    )
}

/// The addresses of `ingress` entries' `ip` that parse, in order.
pub fn entry_ips(ingress: &[LoadBalancerIngress]) -> impl Iterator<Item = IpAddr> + '_ {
    ingress
        .iter()
        .filter_map(|i| i.ip.as_deref()?.trim().parse().ok())
}

/// The pools the [`ANN_ALLOCATED_FROM`] annotation names, in its order (none without it).
pub fn allocated_from(svc: &Service) -> Vec<&str> {
    svc.annotations()
        .get(ANN_ALLOCATED_FROM)
        .map(|a| {
            a.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn not_in_named_pool(
    ip: IpAddr,
    named: &[&str],
    pools: &Pools,
    outcome: &str,
) -> String {
    let containing = pools.containing(ip);
    let lies_in = if containing.is_empty() {
        "no VIPPool".to_string()
    } else {
        format!("VIPPool {}", containing.join(", "))
    };
    if named.is_empty() {
        format!("no {ANN_ALLOCATED_FROM} annotation; {ip} lies in {lies_in}: {outcome}")
    } else {
        format!(
            "{ip} lies in {lies_in}, not in the pool(s) {ANN_ALLOCATED_FROM} names ({}): {outcome}",
            named.join(", ")
        )
    }
}
