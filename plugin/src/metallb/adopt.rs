//! Services → adoption records (`VIPPool.spec.adoptedAddresses`), and notes on Services using
//! MetalLB's annotations.
//!
//! Every Service of type LoadBalancer whose `status.loadBalancer.ingress` holds addresses
//! inside an imported pool gets one record in that pool: namespace, name, UID (when known:
//! always from the cluster, from files when they carry `metadata.uid`) and those addresses.
//! The UID pins the record to this very Service: one deleted and created again under the same
//! name before the cutover (a new UID) adopts nothing, so the record never outlives the
//! Service MetalLB served. Addresses in no imported pool are named in a warning: the
//! controller would replace them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_api::AdoptedAddress;
use ferrolb_api::names::{
    METALLB_ANN_ADDRESS_POOL, METALLB_ANN_ADDRESS_POOL_OLD, METALLB_ANN_ALLOW_SHARED_IP,
    METALLB_ANN_ALLOW_SHARED_IP_OLD, METALLB_ANN_LOAD_BALANCER_IPS,
    METALLB_ANN_LOAD_BALANCER_IPS_OLD,
};
use ferrolb_core::parse_address;
use serde_json::Value;

use super::{Imported, describe};

/// MetalLB's Service annotations the controller honours with `--metallb-annotations`.
const METALLB_ANNOTATIONS: [&str; 6] = [
    METALLB_ANN_LOAD_BALANCER_IPS,
    METALLB_ANN_LOAD_BALANCER_IPS_OLD,
    METALLB_ANN_ADDRESS_POOL,
    METALLB_ANN_ADDRESS_POOL_OLD,
    METALLB_ANN_ALLOW_SHARED_IP,
    METALLB_ANN_ALLOW_SHARED_IP_OLD,
];

/// Adds the records of `services` to `out.pools`, and notes and warnings to `out`.
pub fn record(services: &[Value], out: &mut Imported) {
    let ranges: Vec<(String, Vec<ferrolb_core::AddrRange>)> = out
        .pools
        .iter()
        .map(|p| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                p.spec
                    .addresses
                    .iter()
                    .filter_map(|a| parse_address(a).ok())
                    .collect(),
            )
        })
        .collect();
    let mut sorted: Vec<&Value> = services.iter().collect();
    sorted.sort_by_key(|s| describe(s));
    for svc in sorted {
        if svc["spec"]["type"].as_str() != Some("LoadBalancer") {
            continue;
        }
        let annotations: Vec<&str> = METALLB_ANNOTATIONS
            .into_iter()
            .filter(|a| svc["metadata"]["annotations"].get(*a).is_some())
            .collect();
        if !annotations.is_empty() {
            out.notes.push(format!(
                "{}: uses {}: run the controller with --metallb-annotations, or write ferrolb's annotations",
                describe(svc),
                annotations.join(", ")
            ));
        }
        let ips: Vec<IpAddr> = svc["status"]["loadBalancer"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["ip"].as_str()?.parse().ok())
            .collect();
        let mut by_pool: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for ip in ips {
            match ranges
                .iter()
                .position(|(_, rs)| rs.iter().any(|r| r.contains(ip)))
            {
                Some(i) => by_pool.entry(i).or_default().push(ip.to_string()),
                None => out.warnings.push(format!(
                    "{}: status.loadBalancer.ingress {ip} is in no imported pool; not recorded, the controller will replace it",
                    describe(svc)
                )),
            }
        }
        for (i, addresses) in by_pool {
            out.pools[i].spec.adopted_addresses.push(AdoptedAddress {
                namespace: svc["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
                name: svc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                uid: svc["metadata"]["uid"].as_str().map(str::to_string),
                addresses,
            });
        }
    }
}
