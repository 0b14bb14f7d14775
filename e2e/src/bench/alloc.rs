//! Benchmarks: commands that write JSON. Never run as tests.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Service;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource};
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
/// time for one client to make the controller's writes for as many Services (finalizer,
/// status, annotations, event). The lab must be up; the benchmark
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

    // The floor: Services of another class (the controller ignores them) get, from this
    // client alone, the writes the controller makes for each Service it allocates, in the same
    // order (`ferrolb_controller::apply::service`): the cleanup finalizer (a strategic merge
    // patch), then the status and the annotations (two server-side applies at once, the
    // annotation carrying a proof-sized value), then an event.
    let t = Instant::now();
    create(&client, FLOOR_NS, opts, Some("example.com/floor")).await?;
    let create_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let api: Api<Service> = Api::namespaced(client.clone(), FLOOR_NS);
    let (api, client) = (&api, &client);
    let results: Vec<Result<(), Error>> = stream::iter(0..opts.services)
        .map(|i| async move { floor_writes(client, api, i).await })
        .buffer_unordered(opts.concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, Error>>()?;
    let floor_seconds = t.elapsed().as_secs_f64();

    create(client, ALLOC_NS, opts, None).await?;
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
        "floor": "per Service, as the controller: finalizer (strategic merge patch), then status and annotations (two server-side applies at once), then an event (events.k8s.io)",
        "note": "controller time runs from process start (list, plan, sign, write finalizer + status + annotation + event per Service) to the last address visible in a list",
    }))
}

/// The controller's writes for one allocated Service, made by the floor client for Service
/// `i` of [`FLOOR_NS`].
async fn floor_writes(client: &Client, api: &Api<Service>, i: usize) -> Result<(), Error> {
    let name = name(i);
    let finalizer =
        json!({"metadata": {"finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}});
    let svc = api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(finalizer))
        .await
        .map_err(|e| Error::kube("writing a floor finalizer", e))?;
    let ip = format!("2001:db8:400:0:ffff::{:x}", i + 1);
    let params = PatchParams::apply("bench-floor").force();
    let status = json!({"apiVersion": "v1", "kind": "Service",
        "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]},
            "conditions": [{"type": "example.com/Allocated", "status": "True",
                "reason": "Allocated", "message": format!("{ip} from pool bench"),
                "lastTransitionTime": jiff::Timestamp::now().to_string()}]}});
    // The size of an allocation proof: version, key id, claim and Ed25519 signature (base64).
    let proof = format!("v1.k1.{}", "A".repeat(240));
    let annotations = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "annotations": {
            "example.com/allocated-from": "bench", "example.com/allocation-proof": proof}}});
    let (status, annotations) = (Patch::Apply(status), Patch::Apply(annotations));
    tokio::try_join!(
        api.patch_status(&name, &params, &status),
        api.patch(&name, &params, &annotations),
    )
    .map_err(|e| Error::kube("writing a floor status and annotations", e))?;
    let reporter = Reporter {
        controller: "bench-floor".into(),
        instance: None,
    };
    Recorder::new(client.clone(), reporter)
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "IPAllocated".into(),
                note: Some(format!("{ip} from pool bench")),
                action: "Allocate".into(),
                secondary: None,
            },
            &svc.object_ref(&()),
        )
        .await
        .map_err(|e| Error::kube("publishing a floor event", e))
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
