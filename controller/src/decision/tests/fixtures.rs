//! Fixture clusters for the decision's tests: small builders for Services, VIPPools, Nodes,
//! Namespaces and ExternalIPPolicies, and a stand-in apiserver that applies planned writes
//! the way server-side apply would.

use std::sync::Arc;

use ferrolb_api::{ExternalIPPolicy, VIPPool};
use ferrolb_core::names::MANAGER_CONTROLLER;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::apply::{annotation_body, finalizer_patch, status_body};
use crate::decision::Writes;
use crate::diff::FinalizerWrite;
use crate::inputs::Watched;
use ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER;

/// The decision's clock in every test.
pub fn now() -> Time {
    at(1_800_000_000)
}

/// A time `second`s after the epoch.
pub fn at(second: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(second).expect("a valid time"))
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid fixture object")
}

/// A fixture cluster under construction.
#[derive(Default)]
pub struct Cluster {
    watched: Watched,
}

impl Cluster {
    /// An empty cluster with namespace `default`.
    pub fn new() -> Cluster {
        Cluster::default().namespace("default")
    }

    /// Adds a Namespace (with the `kubernetes.io/metadata.name` label the apiserver sets).
    pub fn namespace(mut self, name: &str) -> Cluster {
        self.watched
            .namespaces
            .push(Arc::new(parse::<Namespace>(json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            }))));
        self
    }

    /// Adds a VIPPool with `addresses`, created after the pools before it.
    pub fn pool(mut self, name: &str, addresses: &[&str]) -> Cluster {
        let age = self.watched.pools.len() as i64;
        self.watched.pools.push(Arc::new(parse::<VIPPool>(json!({
            "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
            "metadata": {"name": name, "uid": format!("uid-pool-{name}"), "generation": 1,
                "creationTimestamp": at(1_700_000_000 + age)},
            "spec": {"addresses": addresses},
        }))));
        self
    }

    /// Sets the adoption records (`spec.adoptedAddresses`) of pool `name`.
    pub fn adopting(mut self, name: &str, records: Value) -> Cluster {
        let slot = self
            .watched
            .pools
            .iter_mut()
            .find(|p| p.name_any() == name)
            .expect("a fixture pool of that name");
        let mut pool = slot.as_ref().clone();
        pool.spec.adopted_addresses = parse(records);
        *slot = Arc::new(pool);
        self
    }

    /// Adds a Node with one InternalIP.
    pub fn node(mut self, name: &str, internal_ip: &str) -> Cluster {
        self.watched.nodes.push(Arc::new(parse::<Node>(json!({
            "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": internal_ip}]},
        }))));
        self
    }

    /// Adds an ExternalIPPolicy allowing `cidrs` to everyone (`users` empty) or to `users`.
    pub fn policy(mut self, name: &str, cidrs: &[&str], users: &[&str]) -> Cluster {
        self.watched
            .policies
            .push(Arc::new(parse::<ExternalIPPolicy>(json!({
                "apiVersion": "ferrolb.io/v1alpha1", "kind": "ExternalIPPolicy",
                "metadata": {"name": name},
                "spec": {"allowedCIDRs": cidrs, "allowedUsers": users},
            }))));
        self
    }

    /// Adds a Service.
    pub fn service(mut self, svc: Svc) -> Cluster {
        self.watched.services.push(Arc::new(svc.0));
        self
    }

    /// The snapshot.
    pub fn build(self) -> Watched {
        self.watched
    }
}

impl From<Watched> for Cluster {
    fn from(watched: Watched) -> Cluster {
        Cluster { watched }
    }
}

/// A Service under construction.
pub struct Svc(Service);

impl Svc {
    /// A `type: LoadBalancer` Service of class `ferrolb.io/lb` in namespace `default`, port 80,
    /// created `age` seconds after the first fixture Service.
    pub fn lb(name: &str, age: i64) -> Svc {
        Svc(parse(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                "generation": 1, "creationTimestamp": at(1_700_000_100 + age)},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": "ferrolb.io/lb",
                "ports": [{"port": 80, "protocol": "TCP"}]},
        })))
    }

    /// A `type: ClusterIP` Service in namespace `default`.
    pub fn cluster_ip(name: &str) -> Svc {
        let mut s = Svc::lb(name, 0);
        let spec = s.0.spec.as_mut().expect("a spec");
        spec.type_ = Some("ClusterIP".into());
        spec.load_balancer_class = None;
        s
    }

    /// Sets `spec.loadBalancerClass`.
    pub fn class(mut self, class: Option<&str>) -> Svc {
        self.spec().load_balancer_class = class.map(String::from);
        self
    }

    /// Sets `spec.externalIPs`.
    pub fn external_ips(mut self, ips: &[&str]) -> Svc {
        self.spec().external_ips = Some(ips.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Sets `spec.ipFamilies` (single-stack for one family).
    pub fn families(mut self, families: &[&str]) -> Svc {
        self.spec().ip_families = Some(families.iter().map(|f| f.to_string()).collect());
        self
    }

    /// Sets the one port's number.
    pub fn port(mut self, port: i32) -> Svc {
        if let Some(p) = self.spec().ports.as_mut().and_then(|ps| ps.first_mut()) {
            p.port = port;
        }
        self
    }

    /// Sets an annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Svc {
        self.0
            .annotations_mut()
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Puts `ips` into `status.loadBalancer.ingress` as field manager `manager` would.
    pub fn status_ips_by(mut self, manager: &str, ips: &[&str]) -> Svc {
        let ingress: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        self.0.status = Some(parse(json!({"loadBalancer": {"ingress": ingress}})));
        self.0.metadata.managed_fields = Some(vec![parse(json!({
            "manager": manager, "operation": "Update", "subresource": "status",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
        }))]);
        self
    }

    /// Changes `spec.type` as the apiserver does: away from LoadBalancer, the class and
    /// `status.loadBalancer` are cleared.
    pub fn type_(mut self, type_: &str) -> Svc {
        let spec = self.spec();
        spec.type_ = Some(type_.into());
        if type_ != "LoadBalancer" {
            spec.load_balancer_class = None;
            if let Some(status) = self.0.status.as_mut() {
                status.load_balancer = None;
            }
        }
        self
    }

    /// Adds the cleanup finalizer as field manager `manager` would.
    pub fn finalizer_by(mut self, manager: &str) -> Svc {
        finalizer_added_by(&mut self.0, manager);
        self
    }

    /// Removes every finalizer (as `kubectl edit` could).
    pub fn without_finalizers(mut self) -> Svc {
        self.0.finalizers_mut().clear();
        self
    }

    /// Marks the Service deleted (`metadata.deletionTimestamp`), as the apiserver does when a
    /// finalizer holds it.
    pub fn deleted(mut self) -> Svc {
        self.0.metadata.deletion_timestamp = Some(now());
        self
    }

    fn spec(&mut self) -> &mut k8s_openapi::api::core::v1::ServiceSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }
}

/// Adds a Service to `watched`.
pub fn add(watched: &mut Watched, svc: Svc) {
    watched.services.push(Arc::new(svc.0));
}

/// Changes the Service `name` of `watched`.
pub fn edit(watched: &mut Watched, name: &str, change: impl FnOnce(Svc) -> Svc) {
    let slot = watched
        .services
        .iter_mut()
        .find(|s| s.name_any() == name)
        .expect("a fixture Service of that name");
    *slot = Arc::new(change(Svc(slot.as_ref().clone())).0);
}

/// What the apiserver holds after `writes` were applied to `watched`: the status the
/// controller applies (its own `status` fields replaced, owned by its field manager), its
/// annotation, and the pools' statuses.
pub fn applied(watched: &Watched, writes: &Writes) -> Watched {
    let mut out = watched.clone();
    for w in &writes.services {
        let slot = out
            .services
            .iter_mut()
            .find(|s| s.uid() == w.service.uid())
            .expect("the written Service");
        let mut svc = slot.as_ref().clone();
        if w.diff.finalizer == Some(FinalizerWrite::Add) {
            finalizer_added_by(&mut svc, MANAGER_CONTROLLER);
        }
        if w.diff.write_status {
            let status = status_body(w)["status"].clone();
            svc.status = Some(parse(status));
            let managed = svc.metadata.managed_fields.get_or_insert_with(Vec::new);
            managed.retain(|m| m.subresource.as_deref() != Some("status"));
            managed.push(parse(json!({
                "manager": MANAGER_CONTROLLER, "operation": "Apply", "subresource": "status",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
            })));
        }
        if w.diff.write_annotation {
            let body = annotation_body(w);
            let annotations = svc.annotations_mut();
            annotations.remove(ferrolb_api::names::ANN_ALLOCATED_FROM);
            annotations.remove(ferrolb_api::names::ANN_ALLOCATION_PROOF);
            annotations.remove(ferrolb_api::names::ANN_EXTERNAL_IPS_PROOF);
            if let Some(Value::Object(set)) = body["metadata"].get("annotations") {
                for (k, v) in set {
                    annotations.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
        }
        if w.diff.finalizer == Some(FinalizerWrite::Remove) {
            let finalizers = svc.finalizers_mut();
            finalizers.retain(|f| f != LOAD_BALANCER_CLEANUP_FINALIZER);
            if let Some(managed) = svc.metadata.managed_fields.as_mut() {
                managed.retain(|m| {
                    m.fields_v1
                        .as_ref()
                        .and_then(|f| f.0.get("f:metadata")?.get("f:finalizers"))
                        .is_none()
                });
            }
        }
        *slot = Arc::new(svc);
    }
    // The apiserver deletes a deleted object once no finalizer is left.
    out.services
        .retain(|s| s.metadata.deletion_timestamp.is_none() || !s.finalizers().is_empty());
    for w in &writes.pools {
        let slot = out
            .pools
            .iter_mut()
            .find(|p| p.name_any() == w.name)
            .expect("the written pool");
        let mut pool = slot.as_ref().clone();
        pool.status = Some(w.status.clone());
        *slot = Arc::new(pool);
    }
    out
}

/// Adds the cleanup finalizer to `svc` as field manager `manager` would (a strategic merge
/// patch: its managedFields entry lists the finalizer).
pub fn finalizer_added_by(svc: &mut Service, manager: &str) {
    let finalizers = svc.finalizers_mut();
    if !finalizers
        .iter()
        .any(|f| f == LOAD_BALANCER_CLEANUP_FINALIZER)
    {
        finalizers.push(LOAD_BALANCER_CLEANUP_FINALIZER.to_string());
    }
    let member = format!("v:{}", json!(LOAD_BALANCER_CLEANUP_FINALIZER));
    svc.metadata
        .managed_fields
        .get_or_insert_with(Vec::new)
        .push(parse(json!({
            "manager": manager, "operation": "Update", "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, member: {}}}},
        })));
}

/// A planned Service write as the apiserver would receive it.
#[derive(Debug, Serialize)]
pub struct ShownServiceWrite {
    /// `namespace/name`.
    pub service: String,
    /// The status body, when the status is written.
    pub status: Option<Value>,
    /// The metadata body, when the annotation is written.
    pub annotation: Option<Value>,
    /// The finalizer patch, when the finalizer is added or removed.
    pub finalizer: Option<Value>,
    /// Events as `Warning|Normal reason: note`.
    pub events: Vec<String>,
    /// The failure reason counted in metrics.
    pub failure: Option<String>,
}

/// The planned writes of a decision, as golden-snapshot material.
#[derive(Debug, Serialize)]
pub struct Shown {
    /// Service writes.
    pub services: Vec<ShownServiceWrite>,
    /// Pool status writes, by pool name.
    pub pools: Vec<(String, ferrolb_api::VIPPoolStatus)>,
}

/// Renders `writes` for a golden snapshot.
pub fn show(writes: &Writes) -> Shown {
    Shown {
        services: writes
            .services
            .iter()
            .map(|w| ShownServiceWrite {
                service: format!(
                    "{}/{}",
                    w.service.namespace().unwrap_or_default(),
                    w.service.name_any()
                ),
                status: w.diff.write_status.then(|| status_body(w)),
                annotation: w.diff.write_annotation.then(|| annotation_body(w)),
                finalizer: w.diff.finalizer.map(|f| finalizer_patch(w, f)),
                events: w
                    .diff
                    .events
                    .iter()
                    .map(|e| {
                        let kind = if e.warning { "Warning" } else { "Normal" };
                        format!("{kind} {}: {}", e.reason, e.note)
                    })
                    .collect(),
                failure: w.failure.clone(),
            })
            .collect(),
        pools: writes
            .pools
            .iter()
            .map(|p| (p.name.clone(), p.status.clone()))
            .collect(),
    }
}
