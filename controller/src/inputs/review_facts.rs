//! What the externalIPs review checks against, from the watched objects. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_adapter::selector::Selector;
use ferrolb_api::ExternalIPPolicy;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use super::Watched;
use super::ipam_request;
use crate::externalips::{Claim, ClaimKind, ClusterFacts, Policy, ServiceRef};
use ferrolb_core::parse_address;

/// The review's view of every ExternalIPPolicy. A namespace selector that cannot be converted
/// matches nothing (the policy then allows nothing: fail closed).
pub fn policies(policies: &[impl AsRef<ExternalIPPolicy>]) -> Vec<Policy> {
    policies
        .iter()
        .map(|p| {
            let p = p.as_ref();
            Policy {
                name: p.name_any(),
                allowed_cidrs: p.spec.allowed_cidrs.clone(),
                namespace_selector: p
                    .spec
                    .namespace_selector
                    .as_ref()
                    .map(|s| Selector::try_from(s).unwrap_or_else(|_| Selector::nothing())),
                allowed_users: p.spec.allowed_users.clone(),
                allowed_groups: p.spec.allowed_groups.clone(),
            }
        })
        .collect()
}

/// Node addresses, Service ranges, pools and every Service's claims, except those of
/// `(namespace, name)` (the Service under review).
pub fn cluster(watched: &Watched, service_cidrs: &[String], except: (&str, &str)) -> ClusterFacts {
    let node_addresses = ipam_request::node_addresses(&watched.nodes)
        .into_iter()
        .map(|(ip, node)| (node, ip))
        .collect();
    let pools = watched
        .pools
        .iter()
        .map(|p| {
            let ranges = p
                .spec
                .addresses
                .iter()
                .filter_map(|a| parse_address(a).ok())
                .map(|r| r.first()..=r.last())
                .collect();
            (p.name_any(), ranges)
        })
        .collect();
    let mut claims = Vec::new();
    for svc in &watched.services {
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        if (ns, name) == except {
            continue;
        }
        let written = svc.spec.as_ref().and_then(|s| s.external_ips.as_deref());
        for ip in written
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.parse::<IpAddr>().ok())
        {
            claims.push(claim(ns, name, ip, ClaimKind::ExternalIP));
        }
        for ip in ipam_request::status_ips(svc) {
            claims.push(claim(ns, name, ip, ClaimKind::LoadBalancerIP));
        }
    }
    ClusterFacts {
        node_addresses,
        service_cidrs: service_cidrs.to_vec(),
        pools,
        claims,
    }
}

fn claim(ns: &str, name: &str, ip: IpAddr, kind: ClaimKind) -> Claim {
    Claim {
        namespace: ns.to_string(),
        name: name.to_string(),
        ip,
        kind,
    }
}

/// Whether `svc` writes any `spec.externalIPs` (without copying them).
pub fn has_external_ips(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.external_ips.as_ref())
        .is_some_and(|ips| !ips.is_empty())
}

/// `spec.externalIPs` as written.
pub fn external_ips(svc: &Service) -> Vec<String> {
    svc.spec
        .as_ref()
        .and_then(|s| s.external_ips.clone())
        .unwrap_or_default()
}

/// The review's view of a Service.
pub fn service_ref(svc: &Service, namespace_labels: &BTreeMap<String, String>) -> ServiceRef {
    ServiceRef {
        namespace: svc.namespace().unwrap_or_default(),
        name: svc.name_any(),
        namespace_labels: namespace_labels.clone(),
        external_ips: external_ips(svc),
    }
}
