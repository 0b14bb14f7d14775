//! A Service as the speaker keeps it in its store: [`NodeService`], what [`project::service`]
//! keeps of a Service, in a smaller shape.
//!
//! Issue 21: a projected `k8s-openapi` Service still took about 2 KB (its struct alone 824
//! bytes, nearly all of it `None` fields; a one-entry annotation map a 544-byte B-tree node):
//! at 10,000 Services 20 MB of a speaker's heap. [`NodeService`] holds the fields a
//! LoadBalancer Service sets in exact-size boxes, and whatever else the projection keeps in one
//! boxed [`Service`] of its own, absent when nothing else is set.
//!
//! Code that reads a Service reads the one [`NodeService::service`] gives back, equal to the
//! projected Service ([`project::service`]): every reading of a Service stays in one place
//! ([`crate::service`], [`crate::classify`], [`crate::proof`], ...). The speaker does so only
//! for a Service that changed (its step memo keeps the rest).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_core::ServiceKey;
use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::project;

/// A Service as the speaker keeps it (deserialized from a Service, projected).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(from = "Service")]
pub struct NodeService {
    /// Shared with every [`ServiceKey`] made from it ([`NodeService::key`]): a speaker keeps
    /// a key per Service in its row, claim and rules.
    namespace: Option<Arc<str>>,
    name: Option<Arc<str>>,
    uid: Option<Box<str>>,
    resource_version: Option<Box<str>>,
    generation: Option<i64>,
    creation_timestamp: Option<Time>,
    labels: Option<Pairs>,
    annotations: Option<Pairs>,
    type_: Option<Box<str>>,
    load_balancer_class: Option<Box<str>>,
    external_traffic_policy: Option<Box<str>>,
    ip_family_policy: Option<Box<str>>,
    session_affinity: Option<Box<str>>,
    ip_families: Option<Box<[Box<str>]>>,
    ports: Option<Box<[ServicePort]>>,
    health_check_node_port: Option<i32>,
    ingress: Option<Box<[LoadBalancerIngress]>>,
    /// Every other field kept; `None`: none is set, and the Service has a spec and a
    /// `status.loadBalancer` ([`usual_rest`]).
    rest: Option<Box<Service>>,
}

/// A label or annotation map, sorted by key.
type Pairs = Box<[(Box<str>, Box<str>)]>;

/// What is left of a LoadBalancer Service once [`NodeService`]'s own fields are taken out: a
/// spec and a load balancer status, both empty.
fn usual_rest() -> Service {
    let mut rest = Service {
        spec: Some(Default::default()),
        status: Some(Default::default()),
        ..Service::default()
    };
    if let Some(status) = rest.status.as_mut() {
        status.load_balancer = Some(Default::default());
    }
    rest
}

fn boxed(text: Option<String>) -> Option<Box<str>> {
    text.map(String::into_boxed_str)
}

fn shared(text: Option<String>) -> Option<Arc<str>> {
    text.map(Arc::from)
}

fn unboxed<T: std::ops::Deref<Target = str>>(text: &Option<T>) -> Option<String> {
    text.as_deref().map(str::to_string)
}

fn pairs(map: Option<BTreeMap<String, String>>) -> Option<Pairs> {
    map.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
            .collect()
    })
}

fn map(pairs: &Option<Pairs>) -> Option<BTreeMap<String, String>> {
    pairs.as_ref().map(|p| {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

impl NodeService {
    /// The namespace and name ("" when unset).
    pub fn key_parts(&self) -> (&str, &str) {
        (
            self.namespace.as_deref().unwrap_or_default(),
            self.name.as_deref().unwrap_or_default(),
        )
    }

    /// The key ([`key_parts`](Self::key_parts)), sharing this Service's strings.
    pub fn key(&self) -> ServiceKey {
        let part = |text: &Option<Arc<str>>| text.clone().unwrap_or_else(|| Arc::from(""));
        ServiceKey {
            namespace: part(&self.namespace),
            name: part(&self.name),
        }
    }

    /// Whether `status.loadBalancer.ingress` has an entry.
    pub fn has_ingress(&self) -> bool {
        self.ingress.as_ref().is_some_and(|i| !i.is_empty())
    }

    /// The addresses of `status.loadBalancer.ingress` that parse, in status order
    /// ([`ingress_ip_iter`](crate::ingress::ingress_ip_iter) of the Service).
    pub fn ingress_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        crate::ingress::entry_ips(self.ingress.as_deref().unwrap_or_default())
    }

    /// Whether `spec.externalIPs` has an entry.
    pub fn has_external_ips(&self) -> bool {
        self.rest
            .as_ref()
            .and_then(|r| r.spec.as_ref())
            .and_then(|s| s.external_ips.as_ref())
            .is_some_and(|e| !e.is_empty())
    }

    /// The Service it was made from, as [`project::service`] leaves it.
    pub fn service(&self) -> Service {
        let mut svc = match &self.rest {
            Some(rest) => Service::clone(rest),
            None => usual_rest(),
        };
        let meta = &mut svc.metadata;
        meta.namespace = unboxed(&self.namespace);
        meta.name = unboxed(&self.name);
        meta.uid = unboxed(&self.uid);
        meta.resource_version = unboxed(&self.resource_version);
        meta.generation = self.generation;
        meta.creation_timestamp = self.creation_timestamp.clone();
        meta.labels = map(&self.labels);
        meta.annotations = map(&self.annotations);
        // Set only on a spec and a load balancer status that were there: the fields were
        // taken from them.
        if let Some(spec) = svc.spec.as_mut() {
            spec.type_ = unboxed(&self.type_);
            spec.load_balancer_class = unboxed(&self.load_balancer_class);
            spec.external_traffic_policy = unboxed(&self.external_traffic_policy);
            spec.ip_family_policy = unboxed(&self.ip_family_policy);
            spec.session_affinity = unboxed(&self.session_affinity);
            spec.ip_families = self
                .ip_families
                .as_ref()
                .map(|f| f.iter().map(|f| f.to_string()).collect());
            spec.ports = self.ports.as_ref().map(|p| p.to_vec());
            spec.health_check_node_port = self.health_check_node_port;
        }
        if let Some(lb) = svc.status.as_mut().and_then(|s| s.load_balancer.as_mut()) {
            lb.ingress = self.ingress.as_ref().map(|i| i.to_vec());
        }
        svc
    }
}

impl From<Service> for NodeService {
    fn from(mut svc: Service) -> NodeService {
        project::service(&mut svc);
        let meta = &mut svc.metadata;
        let mut kept = NodeService {
            namespace: shared(meta.namespace.take()),
            name: shared(meta.name.take()),
            uid: boxed(meta.uid.take()),
            resource_version: boxed(meta.resource_version.take()),
            generation: meta.generation.take(),
            creation_timestamp: meta.creation_timestamp.take(),
            labels: pairs(meta.labels.take()),
            annotations: pairs(meta.annotations.take()),
            type_: None,
            load_balancer_class: None,
            external_traffic_policy: None,
            ip_family_policy: None,
            session_affinity: None,
            ip_families: None,
            ports: None,
            health_check_node_port: None,
            ingress: None,
            rest: None,
        };
        if let Some(spec) = svc.spec.as_mut() {
            kept.type_ = boxed(spec.type_.take());
            kept.load_balancer_class = boxed(spec.load_balancer_class.take());
            kept.external_traffic_policy = boxed(spec.external_traffic_policy.take());
            kept.ip_family_policy = boxed(spec.ip_family_policy.take());
            kept.session_affinity = boxed(spec.session_affinity.take());
            kept.ip_families = spec
                .ip_families
                .take()
                .map(|f| f.into_iter().map(String::into_boxed_str).collect());
            kept.ports = spec.ports.take().map(Vec::into_boxed_slice);
            kept.health_check_node_port = spec.health_check_node_port.take();
        }
        if let Some(lb) = svc.status.as_mut().and_then(|s| s.load_balancer.as_mut()) {
            kept.ingress = lb.ingress.take().map(Vec::into_boxed_slice);
        }
        if svc != usual_rest() {
            kept.rest = Some(Box::new(svc));
        }
        kept
    }
}

crate::kept_lookup!(NodeService, Service, |s| (
    s.namespace.as_deref().unwrap_or_default(),
    s.name.as_deref().unwrap_or_default()
));

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use ferrolb_core::names::MANAGER_EDGE;

    fn parsed(value: serde_json::Value) -> Service {
        serde_json::from_value(value).unwrap()
    }

    /// Every Service gives back what the projection keeps of it, whatever it sets.
    #[test]
    fn a_kept_service_is_the_projected_service() {
        let services = [
            json!({
                "metadata": {"name": "web", "namespace": "shop", "uid": "u1",
                    "resourceVersion": "7", "generation": 2,
                    "creationTimestamp": "2026-01-01T00:00:00Z",
                    "labels": {"app": "web"},
                    "annotations": {"ferrolb.io/allocation-proof": "p", "kubectl.kubernetes.io/x": "y"},
                    "managedFields": [{"manager": MANAGER_EDGE, "subresource": "status"}],
                    "finalizers": ["f"]},
                "spec": {"type": "LoadBalancer", "loadBalancerClass": "ferrolb.io/lb",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}],
                    "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "PreferDualStack",
                    "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
                    "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                    "externalIPs": ["192.0.2.9"], "loadBalancerSourceRanges": ["198.51.100.0/24"],
                    "clusterIP": "10.96.0.1", "selector": {"app": "web"}},
                "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"}]},
                    "conditions": [{"type": "ferrolb.io/ExternalIPsAllowed", "status": "True",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "R", "message": "m"}]},
            }),
            json!({
                "metadata": {"name": "plain", "namespace": "shop"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
                "status": {"loadBalancer": {}},
            }),
            json!({"metadata": {"name": "bare", "namespace": "shop"}}),
            json!({"metadata": {"name": "empty", "namespace": "shop", "labels": {}},
                "spec": {"ports": []}, "status": {}}),
        ];
        for value in services {
            let mut projected = parsed(value.clone());
            project::service(&mut projected);
            let kept = NodeService::from(parsed(value));
            assert_eq!(kept.service(), projected);
            let (namespace, name) = kept.key_parts();
            assert_eq!(
                (Some(namespace), Some(name)),
                (
                    projected.metadata.namespace.as_deref(),
                    projected.metadata.name.as_deref()
                )
            );
        }
    }

    /// A usual LoadBalancer Service keeps nothing in the boxed rest; its ingress and external
    /// IPs are read without one.
    #[test]
    fn a_load_balancer_service_needs_no_rest() {
        let kept = NodeService::from(parsed(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
                "annotations": {"ferrolb.io/allocated-from": "blue"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "clusterIP": "10.96.0.1",
                "clusterIPs": ["10.96.0.1"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
                "internalTrafficPolicy": "Cluster", "selector": {"app": "web"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
        })));
        assert_eq!(kept.rest, None);
        assert!(kept.has_ingress());
        assert_eq!(
            kept.ingress_ips().collect::<Vec<_>>(),
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert!(!kept.has_external_ips());
        let with_external = NodeService::from(parsed(json!({
            "metadata": {"name": "x", "namespace": "shop"},
            "spec": {"externalIPs": ["192.0.2.9"]},
        })));
        assert!(with_external.has_external_ips());
        assert!(!with_external.has_ingress());
    }

    #[test]
    fn a_kept_service_is_smaller() {
        assert!(
            std::mem::size_of::<NodeService>() < std::mem::size_of::<Service>() / 2,
            "{} bytes",
            std::mem::size_of::<NodeService>()
        );
    }

    /// Its keys share the Service's namespace and name: a speaker makes one per Service in
    /// its row, claim and rule input, which would each copy both strings.
    #[test]
    fn keys_share_the_services_strings() {
        let kept = NodeService::from(parsed(
            json!({"metadata": {"name": "web", "namespace": "shop"}}),
        ));
        let (one, other) = (kept.key(), kept.key());
        assert_eq!(one, ServiceKey::new("shop", "web"));
        assert!(Arc::ptr_eq(&one.namespace, &other.namespace));
        assert!(Arc::ptr_eq(&one.name, &other.name));
        let unnamed = NodeService::from(parsed(json!({"metadata": {}})));
        assert_eq!(unnamed.key(), ServiceKey::new("", ""));
    }
}
