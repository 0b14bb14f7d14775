//! Benchmarks: commands that write JSON. Never run as tests.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Service;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::lab::components::CONTROLLERS;
use crate::lab::{Component, process};
use crate::{Error, Lab, k8s, wait_for};

/// Options of the allocation benchmark.
#[derive(Debug, Clone, Copy)]
pub struct AllocOptions {
    /// Services to allocate.
    pub services: usize,
    /// Writes in flight at once (the floor client and the controller alike).
    pub concurrency: usize,
}

const FLOOR_NS: &str = "bench-floor";
const ALLOC_NS: &str = "bench-alloc";

/// Time to allocate `services` Services on the lab's real apiserver, against the floor: the
/// time for one client to just write as many statuses. The lab must be up; the benchmark
/// installs ferrolb, stops the controllers while it creates Services, then starts one replica
/// and waits until every Service has its address.
pub async fn alloc(lab: &Lab, repo: &std::path::Path, opts: AllocOptions) -> Result<Value, Error> {
    lab.install(repo).await?;
    let client = lab.client().await?;
    k8s::namespace(&client, FLOOR_NS, json!({})).await?;
    k8s::namespace(&client, ALLOC_NS, json!({})).await?;
    k8s::pool(
        &client,
        "bench",
        json!({"addresses": ["2001:db8:400::/64"], "serviceAllocation": {"namespaces": [ALLOC_NS]}}),
    )
    .await?;
    // Services are created with the controllers stopped (ordinary Services do not go through
    // the webhook), so the measurement starts from a cold controller.
    for c in CONTROLLERS {
        lab.stop(c)?;
    }

    // The floor: Services of another class (the controller ignores them) get a status written
    // by this client alone.
    let t = Instant::now();
    create(&client, FLOOR_NS, opts, Some("example.com/floor")).await?;
    let create_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let api: Api<Service> = Api::namespaced(client.clone(), FLOOR_NS);
    let api = &api;
    let results: Vec<Result<(), Error>> = stream::iter(0..opts.services)
        .map(|i| async move {
            let ip = format!("2001:db8:400:0:ffff::{:x}", i + 1);
            let body = json!({"apiVersion": "v1", "kind": "Service",
                "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}});
            api.patch_status(
                &name(i),
                &PatchParams::apply("bench-floor").force(),
                &Patch::Apply(body),
            )
            .await
            .map(|_| ())
            .map_err(|e| Error::kube("writing a floor status", e))
        })
        .buffer_unordered(opts.concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, Error>>()?;
    let floor_seconds = t.elapsed().as_secs_f64();

    create(&client, ALLOC_NS, opts, None).await?;
    let t = Instant::now();
    lab.start(Component::Controller(0))?;
    let limit = Duration::from_secs(60 + opts.services as u64 / 10);
    wait_for("every Service allocated", limit, || async {
        let api: Api<Service> = Api::namespaced(client.clone(), ALLOC_NS);
        let list = api.list(&ListParams::default()).await.ok()?;
        let done = list
            .items
            .iter()
            .filter(|s| !k8s::ips(s).is_empty())
            .count();
        (done == opts.services).then_some(())
    })
    .await?;
    let alloc_seconds = t.elapsed().as_secs_f64();
    let rss = lab.pid(Component::Controller(0)).and_then(peak_rss);
    Ok(json!({
        "benchmark": "allocation",
        "services": opts.services,
        "concurrency": opts.concurrency,
        "create_seconds": create_seconds,
        "floor_status_writes_seconds": floor_seconds,
        "controller_allocation_seconds": alloc_seconds,
        "ratio": alloc_seconds / floor_seconds,
        "controller_peak_rss_bytes": rss,
        "kubernetes": crate::lab::plan::K8S_VERSION,
        "note": "controller time runs from process start (list, plan, write status + annotation + event per Service) to the last address visible in a list",
    }))
}

fn name(i: usize) -> String {
    format!("b{i:05}")
}

async fn create(
    client: &Client,
    ns: &str,
    opts: AllocOptions,
    class: Option<&str>,
) -> Result<(), Error> {
    let mut spec = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
        "allocateLoadBalancerNodePorts": false});
    if let Some(c) = class {
        spec["loadBalancerClass"] = json!(c);
    }
    let spec = &spec;
    let results: Vec<Result<Service, Error>> = stream::iter(0..opts.services)
        .map(|i| async move {
            k8s::apply_service(
                client,
                ns,
                &k8s::service_body(&name(i), json!({}), spec.clone()),
            )
            .await
        })
        .buffer_unordered(opts.concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

/// Peak resident set size of a process (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    process::status_bytes(pid, "VmHWM:")
}
