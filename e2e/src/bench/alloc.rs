//! Benchmarks: commands that write JSON. Never run as tests.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::lab::components::{CONTROLLERS, SPEAKERS};
use crate::lab::{Component, process};
use crate::{Error, Lab, k8s};

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
/// status, annotations, event). The lab must be up; the benchmark installs ferrolb, stops the
/// controllers, the speakers and the edge, creates the Services, waits for a quiet control
/// plane (its CPU use low for a few seconds), then starts one controller replica and waits
/// until every Service has its address.
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
    // the webhook), so the measurement starts from a cold controller. The speakers and the
    // edge stop too: on this one machine they would take CPU from the apiserver, and the
    // speakers would add their own writes (announcements) to the controller's phase only;
    // `bench speaker` measures them.
    for c in CONTROLLERS
        .into_iter()
        .chain(SPEAKERS)
        .chain([Component::Edge])
    {
        lab.stop(c)?;
    }

    // The floor: Services of another class (the controller ignores them) get, from this
    // client alone, the writes the controller makes for each Service it allocates, in the same
    // order (`ferrolb_controller::apply::rounds`): the cleanup finalizer (a strategic merge
    // patch) and the annotations (a server-side apply carrying a proof-sized value) at once,
    // then the status (a server-side apply), then an event.
    let t = Instant::now();
    create(&client, FLOOR_NS, opts, Some("example.com/floor")).await?;
    let create_seconds = t.elapsed().as_secs_f64();
    // Both phases end when one watch, listed before the phase starts, has seen every Service
    // with its address: the same observer and the same end for the floor and the controller
    // (a list polled again and again would cost the apiserver more than the writes measured).
    let limit = Duration::from_secs(60 + opts.services as u64 / 10);
    let floor_settle = settle(lab, limit).await?;
    let mut progress = Allocated::watch(&client, FLOOR_NS, opts.services).await?;
    let t = Instant::now();
    let floor_cpu = Cpu::start(lab, None);
    let api: Api<Service> = Api::namespaced(client.clone(), FLOOR_NS);
    let (api, client) = (&api, &client);
    let writes = stream::iter(0..opts.services)
        .map(|i| async move { floor_writes(client, api, i).await })
        .buffer_unordered(opts.concurrency)
        .collect::<Vec<Result<(), Error>>>();
    let (results, seen) = tokio::join!(writes, progress.all_within(limit));
    results.into_iter().collect::<Result<Vec<()>, Error>>()?;
    seen?;
    let floor_seconds = t.elapsed().as_secs_f64();
    let floor_cpu = floor_cpu.seconds(lab);

    create(client, ALLOC_NS, opts, None).await?;
    let controller_settle = settle(lab, limit).await?;
    let mut progress = Allocated::watch(client, ALLOC_NS, opts.services).await?;
    let t = Instant::now();
    let controller_cpu = Cpu::start(lab, Some(Component::Controller(0)));
    lab.start(Component::Controller(0))?;
    progress.all_within(limit).await?;
    let alloc_seconds = t.elapsed().as_secs_f64();
    let controller_cpu = controller_cpu.seconds(lab);
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
        "settle_seconds": {"floor": floor_settle, "controller": controller_settle,
            "note": "before each phase, the wait until the apiserver, etcd and kube-controller-manager used less than 0.15 of a core together over 3 s (the controller-manager syncs EndpointSlices after every Service change, and was still working off the floor's and the creation's changes when the controller's phase started)"},
        "cpu_seconds": {"floor": floor_cpu, "controller": controller_cpu,
            "note": "CPU time each process used during the phase (user + system); the client is this benchmark's own process: the floor's writes, and the watch of each phase"},
        "kubernetes": crate::lab::plan::K8S_VERSION,
        "floor": "per Service, as the controller: finalizer (strategic merge patch) and annotations (server-side apply) at once, then the status (server-side apply), then an event (events.k8s.io)",
        "note": "both phases end when one watch of their namespace (listed before the phase) has seen every Service with its address; controller time runs from process start (list, plan, sign, write finalizer + status + annotation + event per Service); the speakers and the edge are stopped for the whole run",
    }))
}

/// The controller's writes for one allocated Service, made by the floor client for Service
/// `i` of [`FLOOR_NS`].
async fn floor_writes(client: &Client, api: &Api<Service>, i: usize) -> Result<(), Error> {
    let name = name(i);
    let finalizer =
        json!({"metadata": {"finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}});
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
    let (finalizer, annotations) = (Patch::Strategic(finalizer), Patch::Apply(annotations));
    let merge = PatchParams::default();
    let (svc, _) = tokio::try_join!(
        api.patch(&name, &merge, &finalizer),
        api.patch(&name, &params, &annotations),
    )
    .map_err(|e| Error::kube("writing a floor finalizer and annotations", e))?;
    api.patch_status(&name, &params, &Patch::Apply(status))
        .await
        .map_err(|e| Error::kube("writing a floor status", e))?;
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

/// The Services of one namespace that show an address, followed by one watch.
struct Allocated {
    events: futures::stream::BoxStream<'static, Result<watcher::Event<Service>, watcher::Error>>,
    with_address: HashSet<String>,
    want: usize,
}

impl Allocated {
    /// Starts the watch and takes in its initial list.
    async fn watch(client: &Client, ns: &str, want: usize) -> Result<Self, Error> {
        let api: Api<Service> = Api::namespaced(client.clone(), ns);
        let mut progress = Allocated {
            events: watcher(api, watcher::Config::default()).boxed(),
            with_address: HashSet::new(),
            want,
        };
        while !progress.next().await? {}
        Ok(progress)
    }

    /// Returns once every Service shows an address, or fails after `limit`.
    async fn all_within(&mut self, limit: Duration) -> Result<(), Error> {
        let all = async {
            while self.with_address.len() < self.want {
                self.next().await?;
            }
            Ok(())
        };
        tokio::time::timeout(limit, all)
            .await
            .map_err(|_| Error::Timeout {
                what: format!("{} Services with an address", self.want),
                secs: limit.as_secs_f64(),
            })?
    }

    /// Takes in the next event; true when it ends the initial list.
    async fn next(&mut self) -> Result<bool, Error> {
        let event = self
            .events
            .try_next()
            .await
            .map_err(|e| Error::msg(format!("watching the benchmark's Services: {e}")))?
            .ok_or_else(|| Error::msg("the watch of the benchmark's Services ended"))?;
        match event {
            watcher::Event::Apply(svc) | watcher::Event::InitApply(svc)
                if !k8s::ips(&svc).is_empty() =>
            {
                self.with_address.insert(svc.name_any());
            }
            watcher::Event::Apply(svc)
            | watcher::Event::InitApply(svc)
            | watcher::Event::Delete(svc) => {
                self.with_address.remove(&svc.name_any());
            }
            watcher::Event::Init => {}
            watcher::Event::InitDone => return Ok(true),
        }
        Ok(false)
    }
}

/// CPU time used during one phase by the control plane (etcd, apiserver, controller-manager),
/// this process and, when given, a component started in the phase (counted from its start).
struct Cpu {
    at_start: Vec<(&'static str, f64)>,
    component: Option<Component>,
}

/// Processes whose CPU time is counted (by lab role), and this process.
const CPU_ROLES: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

/// The control plane counts as quiet below this share of one core, over [`QUIET_WINDOW`].
const QUIET_CORES: f64 = 0.15;
/// The window over which the control plane must stay under [`QUIET_CORES`].
const QUIET_WINDOW: Duration = Duration::from_secs(3);

/// Waits until the control plane (every process of [`CPU_ROLES`]) is quiet, so that a phase
/// does not pay for the work the previous one left behind; returns the seconds waited, or an
/// error after `limit`.
async fn settle(lab: &Lab, limit: Duration) -> Result<f64, Error> {
    let started = Instant::now();
    let total = |lab: &Lab| -> f64 {
        Cpu::now(lab)
            .iter()
            .filter(|(n, _)| *n != "client")
            .map(|(_, s)| s)
            .sum()
    };
    let mut last = total(lab);
    loop {
        tokio::time::sleep(QUIET_WINDOW).await;
        let now = total(lab);
        let cores = (now - last) / QUIET_WINDOW.as_secs_f64();
        if cores < QUIET_CORES {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > limit {
            return Err(Error::msg(format!(
                "the control plane (etcd, kube-apiserver, kube-controller-manager) still used {cores:.2} cores after {limit:?}; a phase started now would pay for the previous one's work"
            )));
        }
        last = now;
    }
}

impl Cpu {
    fn start(lab: &Lab, component: Option<Component>) -> Self {
        Cpu {
            at_start: Self::now(lab),
            component,
        }
    }

    fn now(lab: &Lab) -> Vec<(&'static str, f64)> {
        let role = |r: &str| process::find(&lab.names.lab, Some(r)).first().copied();
        CPU_ROLES
            .iter()
            .map(|r| (*r, role(r)))
            .chain([("client", Some(std::process::id()))])
            .filter_map(|(name, pid)| Some((name, process::cpu_seconds(pid?)?)))
            .collect()
    }

    /// Seconds used since [`Cpu::start`], by process.
    fn seconds(&self, lab: &Lab) -> Value {
        let mut out = serde_json::Map::new();
        for (name, now) in Self::now(lab) {
            if let Some((_, then)) = self.at_start.iter().find(|(n, _)| *n == name) {
                out.insert(name.into(), json!(now - then));
            }
        }
        if let Some(c) = self.component
            && let Some(seconds) = lab.pid(c).and_then(process::cpu_seconds)
        {
            out.insert("controller".into(), json!(seconds));
        }
        Value::Object(out)
    }
}

/// Peak resident set size of a process (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    process::status_bytes(pid, "VmHWM:")
}
