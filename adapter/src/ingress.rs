//! A Service's LoadBalancer IPs as the controller allocated them (CVE-2020-8554): an address of
//! `status.loadBalancer.ingress` counts only when the controller's field manager owns the
//! ingress ([`owns_ingress`]) and the address lies in a pool that the controller's
//! [`ANN_ALLOCATED_FROM`] annotation names. Readers (speaker, edge) decide what to do with the
//! pool; every other address comes with the reason it is refused.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use crate::ownership::owns_ingress;
use crate::pools::Pools;
use ferrolb_api::names::ANN_ALLOCATED_FROM;
use ferrolb_core::names::MANAGER_CONTROLLER;

/// The addresses of `status.loadBalancer.ingress[].ip` that parse, sorted, without duplicates.
pub fn ingress_ips(svc: &Service) -> BTreeSet<IpAddr> {
    ingress_ip_list(svc).into_iter().collect()
}

/// The addresses of `status.loadBalancer.ingress[].ip` that parse, in status order
/// (hostnames and unparsable entries skipped).
pub fn ingress_ip_list(svc: &Service) -> Vec<IpAddr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.trim().parse().ok())
        .collect()
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

/// Every ingress address of `svc` ([`ingress_ips`] order) with the first named pool holding
/// it, or why it is refused; `outcome` ends each reason ("never served", "never announced").
pub fn allocations(
    svc: &Service,
    pools: &Pools,
    outcome: &str,
) -> Vec<(IpAddr, Result<String, String>)> {
    let ingress = ingress_ips(svc);
    if ingress.is_empty() {
        return Vec::new();
    }
    if !owns_ingress(svc) {
        let why = format!(
            "status.loadBalancer.ingress was not written by {MANAGER_CONTROLLER}: {outcome}"
        );
        return ingress
            .into_iter()
            .map(|ip| (ip, Err(why.clone())))
            .collect();
    }
    let named = allocated_from(svc);
    ingress
        .into_iter()
        .map(
            |ip| match named.iter().find(|pool| pools.contains(pool, ip)) {
                Some(pool) => (ip, Ok(pool.to_string())),
                None => (ip, Err(not_in_named_pool(ip, &named, pools, outcome))),
            },
        )
        .collect()
}

fn not_in_named_pool(ip: IpAddr, named: &[&str], pools: &Pools, outcome: &str) -> String {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use ferrolb_api::VIPPool;

    fn pools() -> Pools {
        let pool = |name: &str, addresses: &[&str]| -> Arc<VIPPool> {
            Arc::new(
                serde_json::from_value(json!({
                    "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
                    "metadata": {"name": name}, "spec": {"addresses": addresses},
                }))
                .unwrap(),
            )
        };
        Pools::new(&[
            pool("red", &["198.51.100.0/28"]),
            pool("blue", &["198.51.100.16/28", "2001:db8::/126"]),
        ])
    }

    fn service(annotation: Option<&str>, manager: &str, ips: &[&str]) -> Service {
        let mut annotations = json!({});
        if let Some(a) = annotation {
            annotations[ANN_ALLOCATED_FROM] = json!(a);
        }
        let ingress: Vec<Value> = ips.iter().map(|i| json!({ "ip": i })).collect();
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": "web", "namespace": "default", "annotations": annotations,
                "managedFields": [{
                    "manager": manager, "operation": "Apply", "subresource": "status",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
                }],
            },
            "status": {"loadBalancer": {"ingress": ingress}},
        }))
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_in_a_named_pool_count() {
        let svc = service(
            Some(" red , ,blue"),
            MANAGER_CONTROLLER,
            &[
                "2001:db8::1",
                "198.51.100.17",
                " 198.51.100.1 ",
                "bogus",
                "198.51.100.1",
            ],
        );
        assert_eq!(allocated_from(&svc), ["red", "blue"]);
        assert_eq!(
            allocations(&svc, &pools(), "never served"),
            [
                (ip("198.51.100.1"), Ok("red".to_string())),
                (ip("198.51.100.17"), Ok("blue".to_string())),
                (ip("2001:db8::1"), Ok("blue".to_string())),
            ]
        );
    }

    #[test]
    fn other_addresses_are_refused_with_the_reason() {
        let svc = service(
            Some("red"),
            MANAGER_CONTROLLER,
            &["198.51.100.17", "203.0.113.1"],
        );
        assert_eq!(
            allocations(&svc, &pools(), "never announced"),
            [
                (ip("198.51.100.17"), Err("198.51.100.17 lies in VIPPool blue, not in the pool(s) ferrolb.io/allocated-from names (red): never announced".to_string())),
                (ip("203.0.113.1"), Err("203.0.113.1 lies in no VIPPool, not in the pool(s) ferrolb.io/allocated-from names (red): never announced".to_string())),
            ]
        );
        let bare = service(None, MANAGER_CONTROLLER, &["198.51.100.1"]);
        assert_eq!(
            allocations(&bare, &pools(), "never served"),
            [(ip("198.51.100.1"), Err("no ferrolb.io/allocated-from annotation; 198.51.100.1 lies in VIPPool red: never served".to_string()))]
        );
        let forged = service(Some("red"), "kubectl", &["198.51.100.1", "198.51.100.2"]);
        let why = "status.loadBalancer.ingress was not written by ferrolb-controller: never served";
        assert_eq!(
            allocations(&forged, &pools(), "never served"),
            [
                (ip("198.51.100.1"), Err(why.to_string())),
                (ip("198.51.100.2"), Err(why.to_string())),
            ]
        );
        assert!(allocations(&service(Some("red"), "kubectl", &[]), &pools(), "x").is_empty());
    }
}
