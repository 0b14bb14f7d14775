//! Kubernetes objects from JSON literals, and a three-node cluster around them.

use ferrolb_adapter::node_service::NodeService;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use ferrolb_adapter::proof::testing::{signed_where_the_controller_wrote, verify_keys};
use ferrolb_adapter::stores::ServiceObjects;

use super::super::{Local, NodeDesired, Since, Snapshot, desired};
use crate::election::InterfaceView;

/// The nodes of the test cluster.
pub const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];

/// Parses an IP literal.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// RFC 7386 merge patch: objects merge, everything else (arrays included) replaces.
pub fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

fn object<T: DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).unwrap())
}

/// The controller's status entry in managedFields, owning the ingress and the given conditions.
pub fn controller_status(manager: &str, ingress: bool, conditions: &[&str]) -> Value {
    let mut status = json!({});
    if ingress {
        status["f:loadBalancer"] = json!({"f:ingress": {}});
    }
    if !conditions.is_empty() {
        let keys: serde_json::Map<String, Value> = conditions
            .iter()
            .map(|t| (format!("k:{}", json!({ "type": t })), json!({".": {}})))
            .collect();
        status["f:conditions"] = Value::Object(keys);
    }
    json!({
        "manager": manager, "operation": "Apply", "apiVersion": "v1",
        "subresource": "status", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": status},
    })
}

/// A ferrolb LoadBalancer Service `default/<name>` the controller allocated `ips` (from
/// `pool`) to: port `web` 80/TCP → 8080, nodePort 30080, eTP Cluster, generation 1.
pub fn lb_json(name: &str, ips: &[&str], pool: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": name, "namespace": "default", "generation": 1,
            "labels": {"app": name},
            "annotations": {"ferrolb.io/allocated-from": pool},
            "managedFields": [controller_status("ferrolb-controller", true, &["ferrolb.io/Allocated"])],
        },
        "spec": {
            "type": "LoadBalancer", "loadBalancerClass": "ferrolb.io/lb",
            "externalTrafficPolicy": "Cluster",
            "ports": [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}],
        },
        "status": {"loadBalancer": {"ingress": ips.iter().map(|i| json!({"ip": i, "ipMode": "VIP"})).collect::<Vec<_>>()}},
    })
}

/// A ClusterIP Service `default/<name>` with `externalIPs` and the controller's condition.
pub fn eip_json(name: &str, ips: &[&str], allowed: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": name, "namespace": "default", "generation": 3,
            "managedFields": [controller_status("ferrolb-controller", false, &["ferrolb.io/ExternalIPsAllowed"])],
        },
        "spec": {
            "type": "ClusterIP", "externalIPs": ips,
            "ports": [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        },
        "status": {"conditions": [{
            "type": "ferrolb.io/ExternalIPsAllowed", "status": if allowed { "True" } else { "False" },
            "reason": if allowed { "Allowed" } else { "ExternalIPRefused" }, "message": "review",
            "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 3,
        }]},
    })
}

/// An IPv4 EndpointSlice of `default/<service>`: (address, node, ready, terminating) with
/// port `web` 8080/TCP.
pub fn slice_json(service: &str, endpoints: &[(&str, &str, bool, bool)]) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-x1"), "namespace": "default",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints.iter().map(|(a, n, ready, term)| json!({
            "addresses": [a], "nodeName": n,
            "conditions": {"ready": ready, "serving": *ready || *term, "terminating": term},
        })).collect::<Vec<_>>(),
        "ports": [{"name": "web", "protocol": "TCP", "port": 8080}],
    })
}

/// A ready Node with InternalIP `198.51.100.1x`.
pub fn node_json(name: &str, index: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": format!("198.51.100.{}", 11 + index)},
                          {"type": "Hostname", "address": name}],
        },
    })
}

/// An VIPPool.
pub fn pool_json(name: &str, addresses: &[&str]) -> Value {
    json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
           "metadata": {"name": name}, "spec": {"addresses": addresses}})
}

/// An L2AnnouncementPolicy with the given spec.
pub fn l2_json(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
           "metadata": {"name": name}, "spec": spec})
}

/// A cluster: three ready nodes, pools `blue` (198.51.100.200-249) and `red`
/// (203.0.113.0/24), an L2AnnouncementPolicy `lan` for `blue` with externalIPs.
#[derive(Clone)]
pub struct World {
    pub services: Vec<Value>,
    pub slices: Vec<Value>,
    pub nodes: Vec<Value>,
    pub pools: Vec<Value>,
    pub l2: Vec<Value>,
    pub live: BTreeSet<String>,
}

impl World {
    pub fn new() -> World {
        World {
            services: Vec::new(),
            slices: Vec::new(),
            nodes: NODES
                .iter()
                .enumerate()
                .map(|(i, n)| node_json(n, i))
                .collect(),
            pools: vec![
                pool_json("blue", &["198.51.100.200-198.51.100.249"]),
                pool_json("red", &["203.0.113.0/24"]),
            ],
            l2: vec![l2_json(
                "lan",
                json!({"ipPools": ["blue"], "externalIPs": true}),
            )],
            live: NODES.iter().map(|n| n.to_string()).collect(),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            objects: ServiceObjects {
                services: self
                    .services
                    .iter()
                    .cloned()
                    .map(|s| {
                        Arc::new(NodeService::from(signed_where_the_controller_wrote(
                            serde_json::from_value(s).expect("a Service"),
                        )))
                    })
                    .collect(),
                slices: self.slices.iter().cloned().map(object).collect(),
                nodes: self.nodes.iter().cloned().map(object).collect(),
                pools: self.pools.iter().cloned().map(object).collect(),
                proof_keys: verify_keys(),
            },
            l2: self.l2.iter().cloned().map(object).collect(),
        }
    }

    pub fn local(&self, node: &str) -> Local {
        let interfaces_of: BTreeMap<String, Vec<InterfaceView>> = NODES
            .iter()
            .map(|n| (n.to_string(), vec![eth0()]))
            .collect();
        Local {
            node: node.into(),
            interfaces: vec![eth0()],
            live_speakers: self.live.clone(),
            interfaces_of,
            dataplane: true,
            since: Since::default(),
            now: now(),
        }
    }

    /// The desired state of `node`.
    pub fn on(&self, node: &str) -> NodeDesired {
        desired(&self.snapshot(), &self.local(node))
    }

    /// Nodes whose desired state answers for `addr` (on any interface).
    pub fn announcers(&self, addr: &str) -> Vec<&'static str> {
        NODES
            .iter()
            .copied()
            .filter(|n| self.on(n).announce.values().any(|s| s.contains(&ip(addr))))
            .collect()
    }
}

/// `eth0`: up, broadcast, with a MAC, on 198.51.100.0/24.
pub fn eth0() -> InterfaceView {
    InterfaceView::ethernet("eth0", vec!["198.51.100.11/24".parse().unwrap()])
}

/// The fixed "now" of the tests: 2026-01-01T00:00:00Z.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(1_767_225_600).unwrap())
}

/// The reason `desired` gives for silent `addr`, if it is silent.
pub fn silent_reason(d: &NodeDesired, addr: &str) -> Option<String> {
    d.silent()
        .into_iter()
        .find(|(i, _)| *i == ip(addr))
        .map(|(_, r)| r.to_string())
}

/// The addresses programmed for `default/<service>`, if it is in the rule input.
pub fn programmed(d: &NodeDesired, service: &str) -> Option<Vec<IpAddr>> {
    d.rules
        .input
        .services
        .iter()
        .find(|s| s.key.is("default", service))
        .map(|s| s.vips.clone())
}
