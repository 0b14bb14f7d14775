//! Objects for the tests: the lab's nodes and pools, edge Services.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Value, json};

use super::super::*;
use ferrolb_adapter::stores::ServiceObjects;
use ferrolb_api::VIPPool;
use k8s_openapi::api::core::v1::Node;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn pool(name: &str, addresses: &[&str], edge: bool) -> Arc<VIPPool> {
    let labels = if edge {
        json!({"ferrolb.io/mode": "edge"})
    } else {
        json!({})
    };
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
            "metadata": {"name": name, "labels": labels},
            "spec": {"addresses": addresses},
        }))
        .unwrap(),
    )
}

pub fn node(name: &str, ready: bool, addresses: &[(&str, &str)], labels: Value) -> Arc<Node> {
    let addrs: Vec<Value> = addresses
        .iter()
        .map(|(t, a)| json!({"type": t, "address": a}))
        .collect();
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {
                "addresses": addrs,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            },
        }))
        .unwrap(),
    )
}

pub fn controller_owns_ingress() -> Value {
    json!([{
        "manager": "ferrolb-controller", "operation": "Apply", "subresource": "status",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
    }])
}

/// An edge Service with ports 80/TCP (nodePort 30080) and 53/UDP (30053).
pub fn service(name: &str, ips: &[&str], pool: &str) -> Value {
    let ingress: Vec<Value> = ips
        .iter()
        .map(|i| json!({"ip": i, "ipMode": "Proxy"}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": name, "namespace": "web", "generation": 3,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "annotations": {"ferrolb.io/mode": "edge", "ferrolb.io/allocated-from": pool},
            "managedFields": controller_owns_ingress(),
        },
        "spec": {
            "type": "LoadBalancer", "loadBalancerClass": "ferrolb.io/lb",
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
            ],
        },
        "status": {"loadBalancer": {"ingress": ingress}},
    })
}

/// A Service; signed with the test key where its managedFields say the controller wrote it.
pub fn svc(v: Value) -> Arc<Service> {
    Arc::new(
        ferrolb_adapter::proof::testing::signed_where_the_controller_wrote(
            serde_json::from_value(v).unwrap(),
        ),
    )
}

pub fn lab() -> ServiceObjects {
    ServiceObjects {
        proof_keys: ferrolb_adapter::proof::testing::verify_keys(),
        services: vec![],
        slices: vec![],
        nodes: vec![
            node(
                "node-a",
                true,
                &[
                    ("InternalIP", "198.51.100.11"),
                    ("InternalIP", "2001:db8:100::11"),
                ],
                json!({}),
            ),
            node(
                "node-b",
                true,
                &[
                    ("ExternalIP", "203.0.113.12"),
                    ("InternalIP", "198.51.100.12"),
                ],
                json!({}),
            ),
            node(
                "node-c",
                false,
                &[("InternalIP", "198.51.100.13")],
                json!({}),
            ),
            node(
                "node-d",
                true,
                &[("InternalIP", "198.51.100.14")],
                json!({"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
            ),
            node(
                "node-e",
                true,
                &[("ExternalIP", "198.51.100.15")],
                json!({}),
            ),
        ],
        pools: vec![
            pool(
                "edge",
                &["198.51.100.150-198.51.100.159", "2001:db8:100::150/124"],
                true,
            ),
            pool("lan", &["198.51.100.200-198.51.100.249"], false),
        ],
    }
}

pub const OPTS: Options = Options { health_port: 10256 };

pub fn with(services: Vec<Value>) -> Desired {
    let mut snap = lab();
    snap.services = services.into_iter().map(svc).collect();
    desired(&snap, OPTS)
}

pub fn names(f: &Frontend) -> Vec<(&str, IpAddr)> {
    f.candidates
        .iter()
        .map(|c| (c.node.as_str(), c.ip))
        .collect()
}
