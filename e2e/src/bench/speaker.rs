//! Speaker scale benchmark (issue 6): the speakers' memory and the time to announce, with N
//! Services announced at once. A command that writes JSON; never a test.
//!
//! In its own lab: ferrolb installed, one ready pod on node-a, an IPv6 pool from the bench-only
//! on-link range [`POOL`] covered by an L2AnnouncementPolicy, and N single-stack IPv6 LoadBalancer
//! Services (no NodePorts) selecting that pod. Measured: from the first Service created to
//! every address announced (the speakers' `announced_addresses` gauges add up to N), each
//! speaker's resident and peak memory then, and the size of node-a's nft table; then Services
//! created one at a time, each timed to its first Neighbor Advertisement, and the rule syncs
//! they caused.
//!
//! Side by side with kube-proxy (`--kube-proxy nftables`): the same run in a lab whose nodes
//! run the real kube-proxy, which then programs the Service rules while the speakers only
//! announce; its memory, table and sync times are recorded the same way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::arp::percentile;
use super::prom::{self, Histogram};
use crate::lab::{Component, KubeProxyMode, Node, SPEAKERS, kubeproxy, process};
use crate::{Error, Lab, k8s, wait_for};

/// The bench-only pool: on the lab LAN's IPv6 prefix, announced only in the bench lab.
pub const POOL: &str = "2001:db8:100::3:0/112";
/// The namespace of the scale Services.
pub const NS: &str = "bench-speaker";

/// Options of the speaker benchmark.
#[derive(Debug, Clone, Copy)]
pub struct SpeakerOptions {
    /// Services to announce.
    pub services: usize,
    /// Creations in flight at once.
    pub concurrency: usize,
    /// Services created one at a time afterwards, each timed to its first answer on the wire.
    pub probes: usize,
    /// What programs the nodes' Service rules: ferrolb's speakers (none), or kube-proxy in
    /// this mode beside speakers that only announce (the side-by-side comparison).
    pub kube_proxy: KubeProxyMode,
}

/// Runs the benchmark in `lab` (up, not yet installed) and returns its JSON.
pub async fn speakers(
    lab: &Lab,
    repo: &std::path::Path,
    opts: SpeakerOptions,
) -> Result<Value, Error> {
    lab.install(repo).await?;
    let client = lab.client().await?;
    ground(&client).await?;

    let before = memory(lab);
    let t = Instant::now();
    create_services(&client, opts).await?;
    let create_seconds = t.elapsed().as_secs_f64();

    wait_announced(lab, opts.services).await?;
    let announce_seconds = t.elapsed().as_secs_f64();
    let after = memory(lab);
    let allocators_after = allocators(lab).await?;
    let controllers = memory_of(lab, &[Component::Controller(0), Component::Controller(1)]);
    let proxies = kube_proxy_memory(lab, opts.kube_proxy);
    let rules = nft_size(lab, "node-a", opts.kube_proxy);
    let syncs_before = rule_syncs(lab, opts.kube_proxy).await?;
    let steps_before = steps(lab).await?;
    let step_times_before = speaker_steps(lab).await?;
    let passes_before = controllers_histogram(lab, CONTROLLER_PASSES).await?;
    let decisions_before = controllers_histogram(lab, CONTROLLER_DECISIONS).await?;
    let timings = one_more(lab, &client, (0, opts.probes), Pace::Settled).await?;
    let passes = controllers_histogram(lab, CONTROLLER_PASSES)
        .await?
        .since(&passes_before);
    let decisions = controllers_histogram(lab, CONTROLLER_DECISIONS)
        .await?
        .since(&decisions_before);
    let takeovers = takeovers(lab).await?;
    let syncs = rule_syncs(lab, opts.kube_proxy).await?.since(&syncs_before);
    let steps = steps(lab).await? - steps_before;
    let step_times: serde_json::Map<String, Value> = SPEAKER_STEPS
        .into_iter()
        .zip(speaker_steps(lab).await?)
        .zip(&step_times_before)
        .map(|((name, after), before)| (name.to_string(), after.since(before).summary_ms()))
        .collect();
    let per_speaker_and_service = steps / (SPEAKERS.len() * timings.len().max(1)) as f64;
    let back_to_back = one_more(lab, &client, (opts.probes, opts.probes), Pace::BackToBack).await?;
    // What the speakers hold once nothing happens: the allocator has returned freed pages
    // (within 250 ms, `.cargo/config.toml`) and no step runs.
    tokio::time::sleep(QUIET).await;
    let settled = memory(lab);
    let allocators_settled = allocators(lab).await?;
    Ok(json!({
        "benchmark": "speaker",
        "services": opts.services,
        "concurrency": opts.concurrency,
        "create_seconds": create_seconds,
        "all_announced_seconds": announce_seconds,
        "speakers_before": before,
        "speakers_after": after,
        "max_rss_bytes": max_of(&after, "rss_bytes"),
        "max_peak_rss_bytes": max_of(&after, "peak_rss_bytes"),
        "speakers_allocator_after": allocators_after,
        "speakers_settled": settled,
        "max_settled_rss_bytes": max_of(&settled, "rss_bytes"),
        "speakers_allocator_settled": allocators_settled,
        "max_allocated_bytes": max_of(&allocators_after, "allocated"),
        "controllers_after": controllers,
        "max_controller_peak_rss_bytes": max_of(&controllers, "peak_rss_bytes"),
        "takeovers_by_reason": takeovers,
        "kube_proxy": opts.kube_proxy.name(),
        "kube_proxy_after": proxies,
        "max_kube_proxy_rss_bytes": max_of(&proxies, "rss_bytes"),
        "node_a_nft": rules,
        "rule_syncs_during_one_more": {
            "method": "the change, over the one_more Services, of the rule-sync time histogram of whatever programs the nodes' rules, added up over the three nodes; quantiles are bucket bounds",
            "metric": sync_metric(opts.kube_proxy),
            "summary": syncs.summary_ms(),
        },
        "steps_during_one_more": {
            "method": "the change, over the one_more Services, of the desired states the speakers computed (ferrolb_speaker_computations_total), added up over the three speakers",
            "total": steps,
            "per_speaker_and_service": per_speaker_and_service,
        },
        "step_times_during_one_more": {
            "method": "the change, over the one_more Services, of the speakers' step histograms, each added up over the three speakers: step_seconds every step (computed or not, the ruleset built included); elect_seconds a computed step's time to the announcer handed its part; to_announce_seconds from the loop noticing the change to the announcer handed its part (the pause after the step before included); quantiles are bucket bounds",
            "histograms": step_times,
        },
        "controller_passes_during_one_more": {
            "method": "the change, over the one_more Services, of the controllers' plan-and-apply time histogram (passes that wrote), both replicas added up; quantiles are bucket bounds",
            "metric": CONTROLLER_PASSES,
            "summary": passes.summary_ms(),
        },
        "controller_decisions_during_one_more": {
            "method": "the change, over the one_more Services, of the controllers' decision time histogram (every snapshot planned, written or not), both replicas added up; quantiles are bucket bounds",
            "metric": CONTROLLER_DECISIONS,
            "per_service": decisions.count / timings.len().max(1) as f64,
            "summary": decisions.summary_ms(),
        },
        "one_more": timed(
            "after every address was announced, Services created one at a time, each 2 s after the one before answered (the lab finished with it), with a requested address (annotation ferrolb.io/load-balancer-ips) from the same pool; time from the create request to the first Neighbor Advertisement the client receives for it (ndisc6 -1 from the client, a solicitation every 10 ms, returning at the first advertisement), split at the watch event showing the address in the Service's status (allocated: the controller's part; answered_after_allocation: the speakers', with up to one 10 ms solicitation interval); afterwards each address answered by exactly one node over a second. The *_during_one_more figures are of these Services",
            &timings,
        ),
        "one_more_back_to_back": timed(
            "as one_more, after it, each Service created as soon as the one before answered, while the lab still finished the work that one caused (the speakers' rules, the controller-manager's EndpointSlice, the winner's ServiceAnnouncement)",
            &back_to_back,
        ),
        "kubernetes": crate::lab::plan::K8S_VERSION,
        "note": "all_announced_seconds runs from the first Service created (controller allocation included) to the speakers' announced_addresses gauges adding up to the number of Services; memory from /proc/PID/status (VmRSS, VmHWM)",
    }))
}

/// `method` with the times of `timings`: to the first answer (sorted, p50, p95, maximum), and
/// its parts before and after the status showed the address.
fn timed(method: &str, timings: &[OneMore]) -> Value {
    let mut answered_ms: Vec<f64> = timings.iter().map(|t| t.answered_ms).collect();
    answered_ms.sort_by(f64::total_cmp);
    json!({
        "method": method,
        "services": answered_ms.len(),
        "ms_sorted": answered_ms,
        "p50_ms": percentile(&answered_ms, 0.5),
        "p95_ms": percentile(&answered_ms, 0.95),
        "max_ms": percentile(&answered_ms, 1.0),
        "allocated": quantiles_ms("the controller's part", timings.iter().map(|t| t.allocated_ms)),
        "answered_after_allocation": quantiles_ms(
            "the speakers' part",
            timings.iter().map(|t| t.answered_ms - t.allocated_ms),
        ),
    })
}

/// `method` with the p50, p95 and maximum of `values` (milliseconds).
fn quantiles_ms(method: &str, values: impl Iterator<Item = f64>) -> Value {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    json!({
        "method": method,
        "p50_ms": percentile(&sorted, 0.5),
        "p95_ms": percentile(&sorted, 0.95),
        "max_ms": percentile(&sorted, 1.0),
    })
}

/// One of [`one_more`]'s Services: from its create request, when its status showed the
/// address, and when the client got the first Neighbor Advertisement for it.
struct OneMore {
    allocated_ms: f64,
    answered_ms: f64,
}

/// How [`one_more`]'s Services follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// Each created [`SETTLE`] after the one before answered: a Service created in a cluster
    /// that has finished with the last change (issue 21's bound).
    Settled,
    /// Each created as soon as the one before answered, while the speakers, the controller and
    /// the controller-manager still finish the work it caused.
    BackToBack,
}

/// The pause before each [`Pace::Settled`] Service.
const SETTLE: Duration = Duration::from_secs(2);

/// How long the lab stays quiet before the speakers' settled memory is read
/// (`speakers_settled`): many times the allocator's decay of freed pages.
const QUIET: Duration = Duration::from_secs(30);

/// Creates `count` more Services, one at a time at `pace`, each requesting an address from
/// the top of [`POOL`] (above the bulk; the `first`-th on), and times each from its create
/// request to the watch event showing the address in its status, and to the first Neighbor
/// Advertisement the client gets for that address. Then every address must be answered by
/// exactly one node (all advertisements to one solicitation over a second).
async fn one_more(
    lab: &Lab,
    client: &kube::Client,
    (first, count): (usize, usize),
    pace: Pace,
) -> Result<Vec<OneMore>, Error> {
    let spec = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
        "allocateLoadBalancerNodePorts": false, "selector": {"app": "scale"},
        "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}]});
    let mut out = Vec::new();
    let mut ips = Vec::new();
    for i in first..first + count {
        let ip: std::net::IpAddr = format!("2001:db8:100::3:ff{i:02x}")
            .parse()
            .map_err(|e| Error::msg(format!("a probe address: {e}")))?;
        let name = format!("one-more-{i}");
        if pace == Pace::Settled {
            tokio::time::sleep(SETTLE).await;
        }
        let allocated = allocated_at(client, &name, ip).await?;
        let body = k8s::service_body(
            &name,
            json!({ferrolb_api::names::ANN_LOAD_BALANCER_IPS: ip.to_string()}),
            spec.clone(),
        );
        let t = Instant::now();
        k8s::apply_service(client, NS, &body).await?;
        let limit = Duration::from_secs(30);
        loop {
            if answered(lab, ip)? {
                break;
            }
            if t.elapsed() > limit {
                return Err(Error::msg(format!(
                    "{ip} (Service {name}) not answered within {limit:?}"
                )));
            }
        }
        let answered_ms = t.elapsed().as_secs_f64() * 1e3;
        let at = tokio::time::timeout(limit, allocated)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .ok_or_else(|| Error::msg(format!("no watch event showed {ip} in {name}'s status")))?;
        let allocated_ms = at.saturating_duration_since(t).as_secs_f64() * 1e3;
        tracing::info!(
            service = i,
            ?pace,
            answered_ms,
            allocated_ms,
            "one more Service answered"
        );
        out.push(OneMore {
            allocated_ms,
            answered_ms,
        });
        ips.push(ip);
    }
    for ip in ips {
        exactly_one_answers(lab, ip)?;
    }
    Ok(out)
}

/// Fails unless exactly one node answers a solicitation for `ip` (every advertisement over a
/// second counted): two or more fail at once; none is asked again, [`ASKS`] times in all, as
/// one solicitation or advertisement among the LAN's can be lost (the 10,000 bench at e8cba31
/// failed once so, its address answered before and after). Each silent second is printed.
fn exactly_one_answers(lab: &Lab, ip: std::net::IpAddr) -> Result<(), Error> {
    for ask in 1..=ASKS {
        let macs = crate::traffic::wire::ndisc(lab, "client", ip)?;
        match macs.len() {
            1 => return Ok(()),
            0 if ask < ASKS => {
                eprintln!(
                    "{ip}: nobody answered solicitation {ask} of {ASKS} over a second; asking again"
                );
            }
            _ => {
                return Err(Error::msg(format!(
                    "{ip} was answered by {macs:?} over a second (solicitation {ask} of {ASKS}): one node must answer"
                )));
            }
        }
    }
    Ok(())
}

/// How many solicitations [`exactly_one_answers`] sends while nobody answers.
const ASKS: u32 = 3;

/// Watches Service `name` (its watch listed before this returns) and resolves to when an
/// event first shows `ip` in its status.
async fn allocated_at(
    client: &kube::Client,
    name: &str,
    ip: std::net::IpAddr,
) -> Result<tokio::task::JoinHandle<Option<Instant>>, Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), NS);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let (listed, on_list) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut listed = Some(listed);
        let mut events = watcher(api, config).boxed();
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline.into(), events.next()).await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(svc) | watcher::Event::InitApply(svc))
                    if shows(&svc, ip) =>
                {
                    return Some(Instant::now());
                }
                _ => {}
            }
        }
        None
    });
    tokio::time::timeout(Duration::from_secs(30), on_list)
        .await
        .map_err(|_| Error::msg(format!("the watch of Service {name} did not list in 30 s")))?
        .map_err(|_| {
            Error::msg(format!(
                "the watch of Service {name} ended before it listed"
            ))
        })?;
    Ok(task)
}

/// Whether `svc`'s status holds `ip`.
fn shows(svc: &Service, ip: std::net::IpAddr) -> bool {
    let want = ip.to_string();
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .is_some_and(|ingress| {
            ingress
                .iter()
                .any(|i| i.ip.as_deref() == Some(want.as_str()))
        })
}

/// Solicitations for `ip` from the client every [`SOLICIT_EVERY`], up to
/// [`SOLICITS_PER_RUN`]: whether anyone answered. ndisc6 returns at the first answer, so the
/// time measured ends within one interval of the first advertisement, not after a wait.
fn answered(lab: &Lab, ip: std::net::IpAddr) -> Result<bool, Error> {
    let answers =
        crate::traffic::wire::ndisc_first(lab, "client", ip, (SOLICITS_PER_RUN, SOLICIT_EVERY))?;
    Ok(!answers.is_empty())
}

/// The interval between [`answered`]'s solicitations.
const SOLICIT_EVERY: Duration = Duration::from_millis(10);
/// Solicitations per ndisc6 run in [`answered`] (a run lasts at most a quarter second).
const SOLICITS_PER_RUN: u32 = 25;

/// The ground of the scale Services: namespace [`NS`], pool `scale` over [`POOL`] with its
/// L2AnnouncementPolicy, and their backend: pod `scale-a` (app `scale`) on node-a.
pub async fn ground(client: &kube::Client) -> Result<(), Error> {
    k8s::namespace(client, NS, json!({})).await?;
    k8s::pool(client, "scale", json!({"addresses": [POOL]})).await?;
    let l2: Api<ferrolb_api::L2AnnouncementPolicy> = Api::all(client.clone());
    let body = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
        "metadata": {"name": "scale"}, "spec": {"ipPools": ["scale"]}});
    l2.patch(
        "scale",
        &PatchParams::apply("bench").force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(|e| Error::kube("applying the L2AnnouncementPolicy", e))?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "scale-a", "labels": {"app": "scale"}},
        "spec": {"nodeName": "node-a", "containers": [{"name": "echo", "image": "echo",
            "ports": [{"containerPort": 9376, "protocol": "TCP"}]}]}});
    pods.patch(
        "scale-a",
        &PatchParams::apply("bench").force(),
        &Patch::Apply(pod),
    )
    .await
    .map_err(|e| Error::kube("creating the pod", e))?;
    Ok(())
}

/// Creates `opts.services` single-stack IPv6 LoadBalancer Services `s00000`, `s00001`, ... in
/// [`NS`] (no NodePorts, selecting the pod of [`ground`]), `opts.concurrency` in flight.
pub async fn create_services(client: &kube::Client, opts: SpeakerOptions) -> Result<(), Error> {
    create_range(client, 0..opts.services, opts.concurrency).await
}

/// Creates the Services of [`create_services`] numbered `range`, `concurrency` in flight.
pub async fn create_range(
    client: &kube::Client,
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> Result<(), Error> {
    let spec = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
        "allocateLoadBalancerNodePorts": false, "selector": {"app": "scale"},
        "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}]});
    let spec = &spec;
    let created: Vec<Result<_, Error>> = stream::iter(range)
        .map(|i| async move {
            let body = k8s::service_body(&format!("s{i:05}"), json!({}), spec.clone());
            k8s::apply_service(client, NS, &body).await
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    created.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

/// Waits until the speakers' `announced_addresses` gauges add up to `want` (two minutes, and
/// a second per 5 addresses).
pub(super) async fn wait_announced(lab: &Lab, want: usize) -> Result<(), Error> {
    let limit = Duration::from_secs(120 + want as u64 / 5);
    let want = want as f64;
    wait_for("every address announced", limit, || async {
        let mut total = 0.0;
        for c in SPEAKERS {
            total += announced(lab, c).await.unwrap_or(0.0);
        }
        tracing::info!(announced = total, of = want, "speaker bench");
        (total >= want).then_some(())
    })
    .await
}

/// The `ferrolb_speaker_announced_addresses` gauge of speaker `c` (its private endpoint,
/// with the lab scraper's token).
async fn announced(lab: &Lab, c: Component) -> Option<f64> {
    let body = metrics_of(lab, c).await.ok()?;
    prom::gauge(&body, "ferrolb_speaker_announced_addresses")
}

/// Component `c`'s `/metrics` (its private endpoint, with the lab scraper's token).
pub(super) async fn metrics_of(lab: &Lab, c: Component) -> Result<String, Error> {
    let (code, body) = lab.private_get(c, "/metrics").await?;
    if code != 200 {
        return Err(Error::msg(format!("{c}'s /metrics answered {code}")));
    }
    Ok(body)
}

/// VmRSS and VmHWM of each speaker, in bytes.
pub(super) fn memory(lab: &Lab) -> Value {
    memory_of(lab, &SPEAKERS)
}

/// VmRSS and VmHWM of each of `components`, in bytes.
fn memory_of(lab: &Lab, components: &[Component]) -> Value {
    let out = components
        .iter()
        .map(|&c| (c.to_string(), rss_of(lab.pid(c))))
        .collect();
    Value::Object(out)
}

/// VmRSS and VmHWM of process `pid`, in bytes (null where unknown).
pub(super) fn rss_of(pid: Option<u32>) -> Value {
    let field = |key: &str| pid.and_then(|pid| process::status_bytes(pid, key));
    json!({"rss_bytes": field("VmRSS:"), "peak_rss_bytes": field("VmHWM:")})
}

/// The largest `key` of the processes in `memory` (null when none was read).
fn max_of(memory: &Value, key: &str) -> Option<u64> {
    memory
        .as_object()?
        .values()
        .filter_map(|speaker| speaker[key].as_u64())
        .max()
}

/// VmRSS and VmHWM of kube-proxy on each node, in bytes (empty when the nodes run none).
fn kube_proxy_memory(lab: &Lab, mode: KubeProxyMode) -> Value {
    let out = Node::ALL
        .into_iter()
        .filter(|_| mode.runs())
        .map(|node| (node.name().to_string(), rss_of(kubeproxy::pid(lab, node))))
        .collect();
    Value::Object(out)
}

/// The histogram of rule-sync times of whatever programs the nodes' rules in `mode`.
fn sync_metric(mode: KubeProxyMode) -> &'static str {
    if mode.runs() {
        "kubeproxy_sync_proxy_rules_duration_seconds"
    } else {
        "ferrolb_speaker_rule_sync_seconds"
    }
}

/// The rule-sync histogram ([`sync_metric`]) of every node, added up.
async fn rule_syncs(lab: &Lab, mode: KubeProxyMode) -> Result<Histogram, Error> {
    let name = sync_metric(mode);
    let mut total = Histogram::default();
    for (node, speaker) in Node::ALL.into_iter().zip(SPEAKERS) {
        let text = if mode.runs() {
            kubeproxy::metrics(lab, node)?
        } else {
            metrics_of(lab, speaker).await?
        };
        let h = prom::histogram(&text, name)
            .ok_or_else(|| Error::msg(format!("no histogram {name} on {node}")))?;
        total = total.plus(&h);
    }
    Ok(total)
}

/// The controllers' plan-and-apply histogram (passes that wrote).
const CONTROLLER_PASSES: &str = "ferrolb_controller_reconcile_duration_seconds";

/// The controllers' decision histogram (every snapshot planned).
const CONTROLLER_DECISIONS: &str = "ferrolb_controller_decision_duration_seconds";

/// The controllers' histogram `name`, both replicas added up; a replica without it is an
/// error (both register it when they start, the standby's stays empty).
async fn controllers_histogram(lab: &Lab, name: &str) -> Result<Histogram, Error> {
    histogram_of(
        lab,
        &[Component::Controller(0), Component::Controller(1)],
        name,
    )
    .await
}

/// The speakers' step histograms, each the three speakers added up: every step's time, the
/// computed steps' time to the election, and their time from noticing a change to the
/// announcer handed its part.
const SPEAKER_STEPS: [&str; 3] = [
    "ferrolb_speaker_step_seconds",
    "ferrolb_speaker_elect_seconds",
    "ferrolb_speaker_to_announce_seconds",
];

/// [`SPEAKER_STEPS`], each added up over the speakers.
async fn speaker_steps(lab: &Lab) -> Result<Vec<Histogram>, Error> {
    let mut out = Vec::new();
    for name in SPEAKER_STEPS {
        out.push(histogram_of(lab, &SPEAKERS, name).await?);
    }
    Ok(out)
}

/// The histogram `name` of each of `components`, added up; one without it is an error.
async fn histogram_of(lab: &Lab, components: &[Component], name: &str) -> Result<Histogram, Error> {
    let mut total = Histogram::default();
    for &c in components {
        let text = metrics_of(lab, c).await?;
        let h = prom::histogram(&text, name)
            .ok_or_else(|| Error::msg(format!("no histogram {name} on {c}")))?;
        total = total.plus(&h);
    }
    Ok(total)
}

/// Desired states the speakers computed since they started
/// (`ferrolb_speaker_computations_total`), added up.
async fn steps(lab: &Lab) -> Result<f64, Error> {
    const NAME: &str = "ferrolb_speaker_computations_total";
    let mut total = 0.0;
    for speaker in SPEAKERS {
        let body = metrics_of(lab, speaker).await?;
        total += prom::gauge(&body, NAME)
            .ok_or_else(|| Error::msg(format!("no {NAME} on {speaker}")))?;
    }
    Ok(total)
}

/// Each speaker's allocator counters by kind (`ferrolb_speaker_allocator_bytes`: allocated,
/// active, metadata, resident, mapped), read with its resident set: how much of it is the live
/// heap.
async fn allocators(lab: &Lab) -> Result<Value, Error> {
    const NAME: &str = "ferrolb_speaker_allocator_bytes";
    let mut out = serde_json::Map::new();
    for speaker in SPEAKERS {
        let body = metrics_of(lab, speaker).await?;
        let kinds = prom::by_label(&body, NAME, "kind");
        if kinds.is_empty() {
            return Err(Error::msg(format!("no {NAME} on {speaker}")));
        }
        let kinds = kinds
            .into_iter()
            .map(|(k, v)| (k, json!(v as u64)))
            .collect();
        out.insert(speaker.to_string(), Value::Object(kinds));
    }
    Ok(Value::Object(out))
}

/// Addresses the speakers took over from one another since they started, added up over the
/// speakers by `reason` (`ferrolb_speaker_takeovers_total`): with no node failing, nothing but
/// `unassigned` should be there; `speaker_down` means the gossip declared a live speaker down.
async fn takeovers(lab: &Lab) -> Result<BTreeMap<String, f64>, Error> {
    let mut total = BTreeMap::new();
    for speaker in SPEAKERS {
        let body = metrics_of(lab, speaker).await?;
        for (reason, n) in prom::by_label(&body, "ferrolb_speaker_takeovers_total", "reason") {
            *total.entry(reason).or_insert(0.0) += n;
        }
    }
    Ok(total)
}

/// The table that holds the Service rules in `mode`, as `nft list table` names it.
fn service_table(mode: KubeProxyMode) -> [&'static str; 2] {
    match mode {
        KubeProxyMode::None => ["inet", "ferrolb"],
        KubeProxyMode::Nftables => ["ip6", "kube-proxy"],
        KubeProxyMode::Iptables => ["ip6", "nat"],
    }
}

/// Chains and bytes of the table holding the (IPv6) Service rules on `node`.
fn nft_size(lab: &Lab, node: &str, mode: KubeProxyMode) -> Value {
    table_size(lab, node, service_table(mode))
}

/// `nft list table FAMILY TABLE` on `node` (None when it fails, e.g. no such table).
pub(super) fn table_listing(lab: &Lab, node: &str, [family, table]: [&str; 2]) -> Option<String> {
    let argv = ["nft", "list", "table", family, table].map(String::from);
    let out = lab.exec(node, &argv).ok()?.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Bytes and chains of a table on `node` as `nft list table` prints it (none when missing).
pub(super) fn table_size(lab: &Lab, node: &str, which: [&str; 2]) -> Value {
    let listing = table_listing(lab, node, which).unwrap_or_default();
    json!({"table": which.join(" "), "bytes": listing.len(),
        "chains": listing.matches("\tchain ").count()})
}
