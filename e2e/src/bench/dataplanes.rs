//! kube-proxy and ferrolb's dataplane side by side (issue 21): the real kube-proxy in nftables
//! mode and a ferrolb speaker programming the same Services, in one lab, on one machine, at
//! each of a list of sizes. A command that writes JSON; never a test.
//!
//! The lab runs kube-proxy on every node and the speakers with `--dataplane=auto`; node-c's
//! kube-proxy is then removed as an operator does (`kube-proxy --cleanup`), so node-c's
//! speaker programs `inet ferrolb` there, while node-b's
//! kube-proxy programs its tables beside a speaker that only announces. The Services are
//! [`super::speaker`]'s (IPv6, one endpoint each), plus Service `probe` with two pods, one of
//! which the benchmark makes ready and unready. At each size, for both:
//! - memory: kube-proxy's resident set, and the speaker's (node-c's programs the rules and
//!   announces; node-a's and node-b's only announce);
//! - the table: bytes and chains as `nft list table` prints them;
//! - the time from an EndpointSlice change (the benchmark's own watch seeing pod `probe-b`'s
//!   endpoint ready) to the first line naming its address that `nft monitor` prints for that
//!   node's table: the rule in the kernel;
//! - a full sync: kube-proxy's first after it is restarted
//!   (`kubeproxy_sync_full_proxy_rules_duration_seconds`, IPv6), ferrolb's after its table is
//!   deleted (the speaker notices within 5 s and writes the whole table;
//!   `ferrolb_speaker_rule_sync_seconds`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::arp::percentile;
use super::prom::{self, Histogram};
use super::speaker::{self, NS};
use crate::lab::agent::ANN_READY;
use crate::lab::{Component, KubeProxyMode, Node, install, kubeproxy};
use crate::{Error, Lab, k8s, wait_for};

/// Options of the side-by-side benchmark.
#[derive(Debug, Clone)]
pub struct DataplanesOptions {
    /// Sizes measured in turn, ascending: Services are created up to each.
    pub sizes: Vec<usize>,
    /// Creations in flight at once.
    pub concurrency: usize,
    /// Endpoint changes timed at each size.
    pub trials: usize,
}

/// The node whose kube-proxy is measured.
const PROXY_NODE: Node = Node::B;
/// The node whose speaker programs the rules (its kube-proxy removed).
const FERROLB_NODE: Node = Node::C;
/// The Service whose endpoint changes are timed.
const PROBE: &str = "probe";
/// The pod made ready and unready.
const FLIPPED: &str = "probe-b";

/// Runs the benchmark in `lab` (up with kube-proxy in nftables mode, not yet installed).
pub async fn dataplanes(
    lab: &Lab,
    repo: &std::path::Path,
    opts: DataplanesOptions,
) -> Result<Value, Error> {
    if opts.sizes.windows(2).any(|w| w[0] >= w[1]) || opts.sizes.is_empty() {
        return Err(Error::msg(format!(
            "sizes {:?}: give one or more, ascending (e.g. --services 1000,10000)",
            opts.sizes
        )));
    }
    lab.install(repo).await?;
    let client = lab.client().await?;
    // deploy/'s speakers only announce beside kube-proxy; with `auto` node-c's programs the
    // rules once its kube-proxy is gone, the others keep only announcing. ferrolb's rules
    // serve LoadBalancer Services, not ClusterIPs: the speakers reach the apiserver at its
    // own address, as on clusters without kube-proxy.
    let apiserver = install::apiserver_for_pods(KubeProxyMode::None, lab.ip_stack()?);
    let env = [
        ("KUBERNETES_SERVICE_HOST", apiserver.ip().to_string()),
        ("KUBERNETES_SERVICE_PORT", apiserver.port().to_string()),
    ];
    install::speaker_dataplane(&client, &["--dataplane=auto"], &env).await?;
    kubeproxy::stop(lab, FERROLB_NODE);
    kubeproxy::cleanup(lab, FERROLB_NODE)?;
    wait_for(
        "node-c's speaker to program inet ferrolb once kube-proxy was removed",
        Duration::from_secs(90),
        || async { speaker::table_listing(lab, FERROLB_NODE.name(), FERROLB_TABLE).map(|_| ()) },
    )
    .await?;
    speaker::ground(&client).await?;
    probe_ground(&client).await?;

    let mut sizes = Vec::new();
    let mut created = 0;
    for &size in &opts.sizes {
        let t = Instant::now();
        speaker::create_range(&client, created..size, opts.concurrency).await?;
        created = size;
        let create_seconds = t.elapsed().as_secs_f64();
        speaker::wait_announced(lab, size + 1).await?;
        quiet(lab).await?;
        let mut out = measure(lab, &client, opts.trials).await?;
        out["services"] = json!(size);
        out["create_seconds"] = json!(create_seconds);
        // Kept in the output should a later size fail.
        eprintln!("dataplanes at {size} Services: {out}");
        sizes.push(out);
    }
    Ok(json!({
        "benchmark": "dataplanes",
        "kubernetes": crate::lab::plan::K8S_VERSION,
        "kube_proxy_node": PROXY_NODE.name(),
        "ferrolb_node": FERROLB_NODE.name(),
        "trials": opts.trials,
        "sizes": sizes,
        "note": "at each size: memory from /proc/PID/status after the Services were announced and both dataplanes had gone quiet; endpoint_change_ms from the benchmark's watch seeing pod probe-b's endpoint ready in Service probe's EndpointSlice to nft monitor printing a line of that node's table with its address (negative when the node was faster than the benchmark's watch); full_sync: kube-proxy restarted, its first sync a full one (its full-sync histogram, IPv6), ferrolb's table deleted and written again by its speaker (its rule-sync histogram); ratios are kube-proxy's figure over ferrolb's",
    }))
}

/// ferrolb's table, as `nft list table` names it.
const FERROLB_TABLE: [&str; 2] = ["inet", "ferrolb"];
/// kube-proxy's table for the IPv6 Services.
const PROXY_TABLE: [&str; 2] = ["ip6", "kube-proxy"];

/// Everything measured at one size.
async fn measure(lab: &Lab, client: &kube::Client, trials: usize) -> Result<Value, Error> {
    let speakers = speaker::memory(lab);
    let proxy_memory = speaker::rss_of(kubeproxy::pid(lab, PROXY_NODE));
    let tables = json!({
        "kube_proxy": speaker::table_size(lab, PROXY_NODE.name(), PROXY_TABLE),
        "ferrolb": speaker::table_size(lab, FERROLB_NODE.name(), FERROLB_TABLE),
    });
    let changes = endpoint_changes(lab, client, trials).await?;
    let proxy_full = proxy_full_sync(lab).await?;
    let ferrolb_full = ferrolb_full_sync(lab).await?;
    quiet(lab).await?;

    let ferrolb_speaker = Component::Speaker(FERROLB_NODE);
    let ferrolb_rss = speakers[ferrolb_speaker.to_string()]["rss_bytes"].as_f64();
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let p50 = |side: &[f64]| (!side.is_empty()).then(|| percentile(side, 0.5));
    Ok(json!({
        "memory": {
            "kube_proxy": proxy_memory,
            "speakers": speakers,
            "method": "kube-proxy on node-b; the speakers: node-c's programs the rules and announces, node-a's and node-b's only announce",
        },
        "tables": tables,
        "endpoint_change_ms": {
            "kube_proxy": quantiles(&changes.proxy),
            "ferrolb": quantiles(&changes.ferrolb),
        },
        "full_sync": {"kube_proxy": proxy_full.json, "ferrolb": ferrolb_full.json},
        "ratios": {
            "memory": ratio(proxy_memory["rss_bytes"].as_f64(), ferrolb_rss),
            "endpoint_change_p50": ratio(p50(&changes.proxy), p50(&changes.ferrolb)),
            "full_sync": ratio(proxy_full.mean_ms, ferrolb_full.mean_ms),
        },
    }))
}

/// Sorted milliseconds with their p50, p95 and maximum.
fn quantiles(sorted: &[f64]) -> Value {
    json!({
        "ms_sorted": sorted,
        "p50_ms": percentile(sorted, 0.5),
        "p95_ms": percentile(sorted, 0.95),
        "max_ms": percentile(sorted, 1.0),
    })
}

/// Service [`PROBE`] (IPv6, from the bench pool) and its pods: `probe-a` on node-a, ready, and
/// [`FLIPPED`] on node-b, not ready.
async fn probe_ground(client: &kube::Client) -> Result<(), Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for (name, node, ready) in [("probe-a", "node-a", "true"), (FLIPPED, "node-b", "false")] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": PROBE}, "annotations": {ANN_READY: ready}},
            "spec": {"nodeName": node, "containers": [{"name": "echo", "image": "echo",
                "ports": [{"containerPort": 9376, "protocol": "TCP"}]}]}});
        pods.patch(
            name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(pod),
        )
        .await
        .map_err(|e| Error::kube(format!("creating pod {name}"), e))?;
    }
    let spec = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
        "allocateLoadBalancerNodePorts": false, "selector": {"app": PROBE},
        "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}]});
    k8s::apply_service(client, NS, &k8s::service_body(PROBE, json!({}), spec)).await?;
    Ok(())
}

/// Sets [`FLIPPED`]'s readiness (the lab agent reports it in the pod's status).
async fn set_ready(client: &kube::Client, ready: bool) -> Result<(), Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let patch = json!({"metadata": {"annotations": {ANN_READY: ready.to_string()}}});
    pods.patch(FLIPPED, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|e| Error::kube(format!("setting {FLIPPED} ready={ready}"), e))?;
    Ok(())
}

/// The address and readiness of [`FLIPPED`]'s endpoint in `slice`, if it lists it.
fn flipped_endpoint(slice: &EndpointSlice) -> Option<(String, bool)> {
    slice.endpoints.iter().find_map(|e| {
        let pod = e.target_ref.as_ref()?.name.as_deref()?;
        (pod == FLIPPED).then(|| {
            let ready = e.conditions.as_ref().and_then(|c| c.ready) == Some(true);
            (e.addresses.first().cloned().unwrap_or_default(), ready)
        })
    })
}

/// Each side's times of the endpoint changes, sorted (milliseconds).
struct Changes {
    proxy: Vec<f64>,
    ferrolb: Vec<f64>,
}

/// `trials` times: [`FLIPPED`] made ready, timed from the watch event showing its endpoint
/// ready to each node's `nft monitor` printing its address; then made unready again and left
/// [`SETTLE`] for both to finish.
async fn endpoint_changes(
    lab: &Lab,
    client: &kube::Client,
    trials: usize,
) -> Result<Changes, Error> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NS);
    let config = watcher::Config::default().labels(&format!("kubernetes.io/service-name={PROBE}"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(async move {
        let mut events = watcher(slices, config).boxed();
        while let Some(event) = events.next().await {
            if let Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) = event
                && let Some(seen) = flipped_endpoint(&s)
                && tx.send((Instant::now(), seen)).is_err()
            {
                return;
            }
        }
    });
    // Each trial starts after SETTLE: the monitors have subscribed before the first change.
    let mut proxy = Monitor::start(lab, PROXY_NODE, PROXY_TABLE)?;
    let mut ferrolb = Monitor::start(lab, FERROLB_NODE, FERROLB_TABLE)?;
    let mut out = Changes {
        proxy: Vec::new(),
        ferrolb: Vec::new(),
    };
    let result = async {
        for trial in 0..trials {
            tokio::time::sleep(SETTLE).await;
            proxy.drain();
            ferrolb.drain();
            while rx.try_recv().is_ok() {}
            set_ready(client, true).await?;
            let (seen, address) = next_flip(&mut rx, true).await?;
            let at_proxy = proxy.first_naming(&address)?;
            let at_ferrolb = ferrolb.first_naming(&address)?;
            let ms = |at: Instant| signed_ms(at, seen);
            tracing::info!(
                trial,
                kube_proxy_ms = ms(at_proxy),
                ferrolb_ms = ms(at_ferrolb),
                "endpoint change in the kernel"
            );
            out.proxy.push(ms(at_proxy));
            out.ferrolb.push(ms(at_ferrolb));
            set_ready(client, false).await?;
            next_flip(&mut rx, false).await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    watch.abort();
    proxy.stop();
    ferrolb.stop();
    result?;
    out.proxy.sort_by(f64::total_cmp);
    out.ferrolb.sort_by(f64::total_cmp);
    Ok(out)
}

/// Milliseconds from `from` to `at`, negative when `at` came first.
fn signed_ms(at: Instant, from: Instant) -> f64 {
    match at.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(from.duration_since(at).as_secs_f64() * 1e3),
    }
}

/// The pause before each endpoint change: both dataplanes done with the one before
/// (kube-proxy syncs at most once a second).
const SETTLE: Duration = Duration::from_secs(3);

/// The next watch event showing [`FLIPPED`]'s endpoint with readiness `ready`: when, and its
/// address.
async fn next_flip(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(Instant, (String, bool))>,
    ready: bool,
) -> Result<(Instant, String), Error> {
    let limit = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((at, (address, r)))) if r == ready => return Ok((at, address)),
            Ok(Some(_)) => {}
            Ok(None) => return Err(Error::msg("the EndpointSlice watch ended")),
            Err(_) => {
                return Err(Error::msg(format!(
                    "{FLIPPED}'s endpoint not shown ready={ready} within {limit:?}"
                )));
            }
        }
    }
}

/// `nft monitor` in a node's namespace: each line with the time it was read, of one table.
struct Monitor {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    what: String,
}

impl Monitor {
    fn start(lab: &Lab, node: Node, [family, table]: [&str; 2]) -> Result<Monitor, Error> {
        let argv = ["nft", "monitor"].map(String::from);
        let mut child = lab
            .exec(node.name(), &argv)?
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io("running nft monitor", e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::msg("nft monitor without its stdout"))?;
        let (tx, lines) = mpsc::channel();
        let mark = format!(" {family} {table} ");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(&mark) && tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Ok(Monitor {
            child,
            lines,
            what: format!("{family} {table} on {node}"),
        })
    }

    /// Forgets the lines read so far.
    fn drain(&mut self) {
        while self.lines.try_recv().is_ok() {}
    }

    /// When the first line naming `address` was read (waiting up to 30 s).
    fn first_naming(&mut self, address: &str) -> Result<Instant, Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if names(&line, address) => return Ok(at),
                Ok(_) => {}
                Err(_) => {
                    return Err(Error::msg(format!(
                        "nft monitor printed no line of {} naming {address} within 30 s",
                        self.what
                    )));
                }
            }
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `line` names `address` as a whole (not as part of a longer one).
fn names(line: &str, address: &str) -> bool {
    let part = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    line.match_indices(address).any(|(at, _)| {
        !part(line[..at].chars().next_back()) && !part(line[at + address.len()..].chars().next())
    })
}

/// A full sync's figures.
struct FullSync {
    json: Value,
    mean_ms: Option<f64>,
}

/// kube-proxy on [`PROXY_NODE`] restarted (SIGTERM, its rules stay: removed, node-b's speaker
/// would take over after 10 s): its first sync is a full one, rewriting its whole table. Its
/// full syncs (IPv6) since, and the wall time from its start to its `/healthz` answering 200.
async fn proxy_full_sync(lab: &Lab) -> Result<FullSync, Error> {
    kubeproxy::stop(lab, PROXY_NODE);
    let t = Instant::now();
    kubeproxy::start(lab, PROXY_NODE)?;
    kubeproxy::wait_ready(lab, PROXY_NODE, Duration::from_secs(600)).await?;
    let ready_seconds = t.elapsed().as_secs_f64();
    // `/healthz` may answer 200 before the IPv6 proxier's first sync is done.
    let name = "kubeproxy_sync_full_proxy_rules_duration_seconds";
    let full = wait_for(
        &format!("{name}{{ip_family=\"IPv6\"}} on {PROXY_NODE}"),
        Duration::from_secs(600),
        || async {
            let text = kubeproxy::metrics(lab, PROXY_NODE).ok()?;
            prom::histogram_with(&text, name, ("ip_family", "IPv6")).filter(|h| h.count > 0.0)
        },
    )
    .await?;
    quiet(lab).await?;
    Ok(FullSync {
        mean_ms: mean_ms(&full),
        json: json!({"metric": name, "ip_family": "IPv6", "syncs": full.count,
            "mean_ms": mean_ms(&full), "start_to_healthy_seconds": ready_seconds}),
    })
}

/// `inet ferrolb` deleted on [`FERROLB_NODE`]: the syncs its speaker made until the table was
/// whole again, and the wall time from the deletion.
async fn ferrolb_full_sync(lab: &Lab) -> Result<FullSync, Error> {
    let speaker = Component::Speaker(FERROLB_NODE);
    let name = "ferrolb_speaker_rule_sync_seconds";
    let syncs = || async {
        let text = speaker::metrics_of(lab, speaker).await?;
        prom::histogram(&text, name).ok_or_else(|| Error::msg(format!("no {name} on {speaker}")))
    };
    let before = syncs().await?;
    let [family, table] = FERROLB_TABLE;
    let node = lab.names.netns(FERROLB_NODE.name());
    ferrolb_testkit::exec(&node, &["nft", "delete", "table", family, table])?;
    let t = Instant::now();
    let whole: Histogram = wait_for(
        "ferrolb's table written again",
        Duration::from_secs(120),
        || async {
            let now = syncs().await.ok()?;
            (now.count > before.count).then(|| now.since(&before))
        },
    )
    .await?;
    let rewritten_seconds = t.elapsed().as_secs_f64();
    Ok(FullSync {
        mean_ms: mean_ms(&whole),
        json: json!({"metric": name, "syncs": whole.count, "mean_ms": mean_ms(&whole),
            "deleted_to_written_seconds": rewritten_seconds,
            "note": "the speaker checks its table every 5 s; the sync itself is the figure"}),
    })
}

fn mean_ms(h: &Histogram) -> Option<f64> {
    (h.count > 0.0).then(|| h.sum / h.count * 1e3)
}

/// Waits until neither kube-proxy on [`PROXY_NODE`] nor the speaker on [`FERROLB_NODE`] has
/// synced for [`QUIET`] (read every second, up to 10 minutes).
async fn quiet(lab: &Lab) -> Result<(), Error> {
    let speaker = Component::Speaker(FERROLB_NODE);
    let counts = || async {
        let proxy = kubeproxy::metrics(lab, PROXY_NODE).ok().and_then(|t| {
            prom::histogram(&t, "kubeproxy_sync_proxy_rules_duration_seconds").map(|h| h.count)
        });
        let ours = speaker::metrics_of(lab, speaker).await.ok().and_then(|t| {
            prom::histogram(&t, "ferrolb_speaker_rule_sync_seconds").map(|h| h.count)
        });
        (proxy, ours)
    };
    let limit = Duration::from_secs(600);
    let started = Instant::now();
    let mut last = counts().await;
    let mut since = Instant::now();
    while since.elapsed() < QUIET {
        if started.elapsed() > limit {
            return Err(Error::Timeout {
                what: "both dataplanes quiet".into(),
                secs: limit.as_secs_f64(),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = counts().await;
        if now != last || now.0.is_none() || now.1.is_none() {
            last = now;
            since = Instant::now();
        }
    }
    Ok(())
}

/// How long both dataplanes must not sync for [`quiet`].
const QUIET: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_an_address_only_as_a_whole() {
        let kp = "add rule ip6 kube-proxy service-X vmap { 0 : goto endpoint-Y-ns/probe/tcp/__2001:db8:200::5/9376 }";
        assert!(names(kp, "2001:db8:200::5"));
        assert!(!names(kp, "2001:db8:200::"));
        assert!(!names(
            "add element inet ferrolb endpoints6_tcp { 2001:db8::1 . 80 . 1 : 2001:db8:200::51 . 9376 }",
            "2001:db8:200::5"
        ));
        assert!(names(
            "add element inet ferrolb endpoints4_tcp { 192.0.2.10 . 80 . 1 : 10.244.2.7 . 8080 }",
            "10.244.2.7"
        ));
        assert!(!names("10.244.2.70 . 8080", "10.244.2.7"));
        assert!(!names("110.244.2.7 . 8080", "10.244.2.7"));
    }

    #[test]
    fn negative_when_the_node_was_first() {
        let from = Instant::now();
        let later = from + Duration::from_millis(5);
        assert!((signed_ms(later, from) - 5.0).abs() < 1e-6);
        assert!((signed_ms(from, later) + 5.0).abs() < 1e-6);
    }
}
