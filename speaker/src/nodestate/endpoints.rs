//! EndpointSlices → each Service's endpoints, in the shapes the election and the rule builder
//! want.
//!
//! Conditions read as kube-proxy reads them ([`NodeSlice`]). Slices of `addressType: FQDN` and
//! addresses that do not parse are skipped; an address listed by several slices (during a
//! slice migration) counts once.
//! Each endpoint carries its slice's ports, named after the Service ports, so the rule builder
//! resolves named `targetPort`s per endpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_adapter::slice::NodeSlice;

use crate::election::EndpointView;
use crate::ruleset::{Endpoint, EndpointPort};
use ferrolb_core::ServiceKey;

pub use ferrolb_adapter::slice::LABEL_SERVICE_NAME;

/// Every Service's endpoints (rule-builder shape; [`election_view`] derives the election's).
pub fn by_service(slices: &[Arc<NodeSlice>]) -> BTreeMap<ServiceKey, Vec<Endpoint>> {
    let mut sorted: Vec<&NodeSlice> = slices.iter().map(Arc::as_ref).collect();
    sorted.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut out: BTreeMap<ServiceKey, Vec<Endpoint>> = BTreeMap::new();
    let mut seen: BTreeSet<(ServiceKey, IpAddr)> = BTreeSet::new();
    for slice in sorted {
        let Some(service) = &slice.service else {
            continue;
        };
        if !slice.has_ip_addresses() {
            continue;
        }
        let key = ServiceKey::new(slice.namespace.clone(), service.clone());
        let ports = slice_ports(slice);
        for ep in &slice.endpoints {
            for &ip in &ep.addresses {
                if !seen.insert((key.clone(), ip)) {
                    continue;
                }
                out.entry(key.clone()).or_default().push(Endpoint {
                    ip,
                    node: ep.node.clone(),
                    ready: ep.ready,
                    serving: ep.serving,
                    terminating: ep.terminating,
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}

/// The ports of a slice.
fn slice_ports(slice: &NodeSlice) -> Vec<EndpointPort> {
    slice
        .ports
        .iter()
        .map(|p| EndpointPort {
            name: p.name.clone(),
            protocol: p.protocol,
            port: p.port,
        })
        .collect()
}

/// The election's view of endpoints.
pub fn election_view(endpoints: &[Endpoint]) -> Vec<EndpointView> {
    endpoints
        .iter()
        .map(|e| EndpointView {
            node: e.node.clone(),
            ready: e.ready,
            serving: e.serving,
            terminating: e.terminating,
        })
        .collect()
}

/// Ready, not terminating endpoints on `node` (kube-proxy's `localEndpoints`), counted per IP
/// family as kube-proxy's per-family proxiers count them: a dual-stack pod is one endpoint, not
/// two. The speaker answers both families at once, so it gives the larger family's count.
pub fn local_ready(endpoints: &[Endpoint], node: &str) -> u32 {
    let count = |v4: bool| {
        endpoints
            .iter()
            .filter(|e| e.ready && !e.terminating && e.node.as_deref() == Some(node))
            .filter(|e| e.ip.is_ipv4() == v4)
            .count()
    };
    u32::try_from(count(true).max(count(false))).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints_are_counted_per_family() {
        let ep = |ip: &str, node: &str| Endpoint::ready(ip.parse().unwrap(), node);
        let dual_pod = [
            ep("192.0.2.70", "node-b"),
            ep("2001:db8:200:b::7", "node-b"),
        ];
        assert_eq!(local_ready(&dual_pod, "node-b"), 1);
        assert_eq!(local_ready(&dual_pod, "node-a"), 0);
        let mut more = dual_pod.to_vec();
        more.push(ep("192.0.2.71", "node-b"));
        assert_eq!(local_ready(&more, "node-b"), 2);
        let mut unready = ep("192.0.2.72", "node-b");
        unready.ready = false;
        more.extend([unready.clone(), unready]);
        assert_eq!(local_ready(&more, "node-b"), 2);
    }
}
