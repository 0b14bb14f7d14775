//! Small builders for election inputs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::super::model::{EndpointView, InterfaceView, L2Policy, NodeView, VipInput, VipKind};
use ferrolb_core::{ServiceKey, TrafficPolicy};

/// A ready node with a live speaker and one default-set interface `eth0` on 192.0.2.0/24 and
/// 2001:db8::/64.
pub fn node(name: &str) -> NodeView {
    NodeView {
        name: name.into(),
        labels: BTreeMap::new(),
        ready: true,
        excluded: false,
        speaker_alive: true,
        interfaces: vec![iface("eth0", &["192.0.2.10/24", "2001:db8::10/64"])],
    }
}

/// An up, broadcast-capable interface with a MAC and the given subnets.
pub fn iface(name: &str, subnets: &[&str]) -> InterfaceView {
    InterfaceView::ethernet(name, subnets.iter().map(|s| s.parse().unwrap()).collect())
}

/// A policy covering `pools`, all nodes, all services, default interfaces.
pub fn policy(name: &str, pools: &[&str]) -> L2Policy {
    L2Policy {
        name: name.into(),
        pools: pools.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Service key `default/<name>`.
pub fn svc(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

/// A ready endpoint on `node`.
pub fn ready_on(node: &str) -> EndpointView {
    EndpointView {
        node: Some(node.into()),
        ready: true,
        serving: true,
        terminating: false,
    }
}

/// A terminating endpoint on `node` that is still serving.
pub fn terminating_on(node: &str) -> EndpointView {
    EndpointView {
        node: Some(node.into()),
        ready: false,
        serving: true,
        terminating: true,
    }
}

/// A Cluster-policy LoadBalancer VIP from pool `blue` with one ready endpoint (node unknown).
pub fn vip(service: &str, ip: &str) -> VipInput {
    VipInput {
        service: svc(service),
        ip: ip.parse().unwrap(),
        pool: Some("blue".into()),
        kind: VipKind::LoadBalancerIp,
        service_labels: BTreeMap::new(),
        etp: TrafficPolicy::Cluster,
        endpoints: vec![EndpointView {
            node: None,
            ready: true,
            serving: true,
            terminating: false,
        }],
    }
}

/// The same VIP with `externalTrafficPolicy: Local` and the given endpoints.
pub fn local(mut v: VipInput, endpoints: Vec<EndpointView>) -> VipInput {
    v.etp = TrafficPolicy::Local;
    v.endpoints = endpoints;
    v
}

/// Parses an IP literal.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Label map from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
