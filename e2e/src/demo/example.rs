//! The objects the demo creates: the pool and its `L2AnnouncementPolicy`, the `hostnames`
//! Deployment and its LoadBalancer Service, each waited for with a deadline.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use super::{NAME, NS, POOL, POOL_ADDRESSES, PORT, REPLICAS};
use crate::{Error, k8s, wait_for};

/// Field manager of the demo's objects.
const MANAGER: &str = "ferrolb-demo";

fn apply() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

/// Applies the pool and an `L2AnnouncementPolicy` of it (every node, every suitable interface).
pub(super) async fn pool(client: &Client) -> Result<(), Error> {
    k8s::announced_pool(client, POOL, &POOL_ADDRESSES).await
}

/// Applies the Deployment and waits until its pods are ready.
pub(super) async fn deployment(client: &Client) -> Result<(), Error> {
    let labels = json!({ "app": NAME });
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                "name": NAME, "image": "registry.k8s.io/serve_hostname",
                "ports": [{"containerPort": PORT, "protocol": "TCP"}]}]}}}});
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    api.patch(NAME, &apply(), &Patch::Apply(body))
        .await
        .map_err(|e| Error::kube("applying the Deployment", e))?;
    let api = &api;
    wait_for(
        &format!("Deployment {NAME}: {REPLICAS} pods ready"),
        Duration::from_secs(120),
        || async move {
            let s = api.get_opt(NAME).await.ok().flatten()?.status?;
            let want = Some(REPLICAS);
            (s.ready_replicas == want && s.updated_replicas == want && s.replicas == want)
                .then_some(())
        },
    )
    .await
}

/// Applies the Service (dual-stack if the cluster is) and waits for its addresses and for every
/// EndpointSlice to list the pods ready; returns the addresses, IPv4 first.
pub(super) async fn service(client: &Client) -> Result<Vec<IpAddr>, Error> {
    let spec = json!({"ipFamilyPolicy": "PreferDualStack",
        "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}]});
    k8s::apply_service(client, NS, &k8s::service_body(NAME, json!({}), spec)).await?;
    let svc = k8s::wait_service(client, NS, NAME, "an address per family", |s| {
        let families = s.spec.as_ref().and_then(|s| s.ip_families.as_ref());
        families.is_some_and(|f| !f.is_empty() && k8s::ips(s).len() == f.len())
    })
    .await?;
    let mut vips: Vec<IpAddr> = k8s::ips(&svc)
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    vips.sort_by_key(IpAddr::is_ipv6);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NS);
    let params = ListParams::default().labels(&format!("kubernetes.io/service-name={NAME}"));
    let (slices, params) = (&slices, &params);
    wait_for(
        &format!("the EndpointSlices of {NAME} to list {REPLICAS} ready pods"),
        Duration::from_secs(30),
        || async move {
            let list = slices.list(params).await.ok()?;
            let ready = |s: &EndpointSlice| {
                let ok = |e: &&Endpoint| e.conditions.as_ref().and_then(|c| c.ready) == Some(true);
                s.endpoints.iter().filter(ok).count()
            };
            (!list.items.is_empty() && list.items.iter().all(|s| ready(s) == REPLICAS as usize))
                .then_some(())
        },
    )
    .await?;
    Ok(vips)
}
