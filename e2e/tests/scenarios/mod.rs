//! Scenario steps of the controller test and what they share.

mod echoes;
mod finalizer;
mod lifecycle;
mod pods;
mod pools;
mod rules;
mod scale;

use ferrolb_e2e::k8s;
use ferrolb_e2e::testlab::{TestLab, Turn};
use k8s_openapi::api::core::v1::Service;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// The lab and a client.
pub struct Scenarios<'a> {
    pub lab: &'a TestLab,
    pub client: Client,
}

impl Scenarios<'_> {
    /// The scenarios on the lab of `turn`.
    pub fn of(turn: &Turn) -> Scenarios<'static> {
        Scenarios {
            lab: turn.lab,
            client: turn.client.clone(),
        }
    }

    /// Creates (or updates) a namespace with labels.
    async fn ns(&self, name: &str, labels: Value) {
        k8s::namespace(&self.client, name, labels)
            .await
            .expect("namespace");
    }

    /// Applies a pool and waits until the controller has seen this version of it (so a
    /// Service created next is planned with it).
    async fn pool(&self, name: &str, spec: Value) {
        k8s::pool(&self.client, name, spec).await.expect("pool");
        k8s::wait_pool(&self.client, name, "observed by the controller", |p| {
            p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
        })
        .await
        .expect("pool observed");
    }

    /// Applies a Service.
    async fn svc(&self, ns: &str, name: &str, annotations: Value, spec: Value) -> Service {
        k8s::apply_service(
            &self.client,
            ns,
            &k8s::service_body(name, annotations, spec),
        )
        .await
        .expect("service")
    }

    /// Waits until the Service has exactly `n` addresses and a True condition.
    async fn allocated(&self, ns: &str, name: &str, n: usize) -> Vec<String> {
        let svc = k8s::wait_service(&self.client, ns, name, "allocated", |s| {
            k8s::ips(s).len() == n && k8s::condition(s).is_some_and(|c| c.0 == "True")
        })
        .await
        .expect("allocated");
        k8s::ips(&svc)
    }

    /// Waits until the Service's condition has `reason`; returns (status, message, ips).
    async fn reason(&self, ns: &str, name: &str, reason: &str) -> (String, String, Vec<String>) {
        let svc = k8s::wait_service(&self.client, ns, name, &format!("reason {reason}"), |s| {
            k8s::condition(s).is_some_and(|c| c.1 == reason)
        })
        .await
        .expect("condition");
        let (status, _, message) = k8s::condition(&svc).unwrap_or_default();
        (status, message, k8s::ips(&svc))
    }

    /// The `ferrolb.io/allocated-from` annotation.
    async fn allocated_from(&self, ns: &str, name: &str) -> String {
        let svc = k8s::wait_service(&self.client, ns, name, "annotated", |s| {
            s.annotations().contains_key("ferrolb.io/allocated-from")
        })
        .await
        .expect("annotation");
        svc.annotations()
            .get("ferrolb.io/allocated-from")
            .cloned()
            .unwrap_or_default()
    }

    /// Removes pools, even while Services hold their addresses (force annotation).
    async fn drop_pools(&self, names: &[&str]) {
        for n in names {
            k8s::force_pool(&self.client, n).await.expect("force pool");
            k8s::delete_pool(&self.client, n)
                .await
                .expect("delete pool");
        }
    }
}

/// A pool spec limited to one namespace (so scenarios never take each other's addresses).
fn only(ns: &str, addresses: &[&str]) -> Value {
    json!({"addresses": addresses, "serviceAllocation": {"namespaces": [ns]}})
}

/// An IPv6 single-stack spec fragment.
fn v6() -> Value {
    json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack"})
}
