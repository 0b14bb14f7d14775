//! Speaker scale benchmark (issue 6): the speakers' memory and the time to announce, with N
//! Services announced at once. A command that writes JSON; never a test.
//!
//! In its own lab: ferrolb installed, one ready pod on node-a, an IPv6 pool from the bench-only
//! on-link range [`POOL`] covered by an L2AnnouncementPolicy, and N single-stack IPv6 LoadBalancer
//! Services (no NodePorts) selecting that pod. Measured: from the first Service created to
//! every address announced (the speakers' `announced_addresses` gauges add up to N), each
//! speaker's resident and peak memory then, and the size of node-a's nft table.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::arp::percentile;
use crate::lab::process;
use crate::lab::{Component, SPEAKERS};
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

    let limit = Duration::from_secs(120 + opts.services as u64 / 5);
    let want = opts.services as f64;
    wait_for("every address announced", limit, || async {
        let mut total = 0.0;
        for c in SPEAKERS {
            total += announced(lab, c).await.unwrap_or(0.0);
        }
        tracing::info!(announced = total, of = want, "speaker bench");
        (total >= want).then_some(())
    })
    .await?;
    let announce_seconds = t.elapsed().as_secs_f64();
    let after = memory(lab);
    let rules = nft_size(lab, "node-a");
    let mut answered_ms = one_more(lab, &client, opts.probes).await?;
    answered_ms.sort_by(f64::total_cmp);
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
        "node_a_nft": rules,
        "one_more": {
            "method": "after every address was announced, Services created one at a time with a requested address (annotation ferrolb.io/load-balancer-ips) from the same pool; time from the create request to the first Neighbor Advertisement the client receives for it (ndisc6 from the client, 40 ms per solicitation)",
            "services": answered_ms.len(),
            "ms_sorted": answered_ms,
            "p50_ms": percentile(&answered_ms, 0.5),
            "p95_ms": percentile(&answered_ms, 0.95),
            "max_ms": percentile(&answered_ms, 1.0),
        },
        "kubernetes": crate::lab::plan::K8S_VERSION,
        "note": "all_announced_seconds runs from the first Service created (controller allocation included) to the speakers' announced_addresses gauges adding up to the number of Services; memory from /proc/PID/status (VmRSS, VmHWM)",
    }))
}

/// Creates `count` more Services, one at a time, each requesting an address from the top of
/// [`POOL`] (above the bulk), and times each from its create request to the first Neighbor
/// Advertisement the client gets for that address.
async fn one_more(lab: &Lab, client: &kube::Client, count: usize) -> Result<Vec<f64>, Error> {
    let spec = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
        "allocateLoadBalancerNodePorts": false, "selector": {"app": "scale"},
        "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}]});
    let mut out = Vec::new();
    for i in 0..count {
        let ip: std::net::IpAddr = format!("2001:db8:100::3:ff{i:02x}")
            .parse()
            .map_err(|e| Error::msg(format!("a probe address: {e}")))?;
        let body = k8s::service_body(
            &format!("one-more-{i}"),
            json!({ferrolb_api::names::ANN_LOAD_BALANCER_IPS: ip.to_string()}),
            spec.clone(),
        );
        let t = Instant::now();
        k8s::apply_service(client, NS, &body).await?;
        let limit = Duration::from_secs(30);
        loop {
            if solicit(lab, ip)? {
                break;
            }
            if t.elapsed() > limit {
                return Err(Error::msg(format!(
                    "{ip} (Service one-more-{i}) not answered within {limit:?}"
                )));
            }
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        tracing::info!(service = i, ms, "one more Service answered");
        out.push(ms);
    }
    Ok(out)
}

/// One Neighbor Solicitation for `ip` from the client, waiting 40 ms: whether anyone answered.
fn solicit(lab: &Lab, ip: std::net::IpAddr) -> Result<bool, Error> {
    let answers = crate::traffic::wire::ndisc_within(lab, "client", ip, Duration::from_millis(40))?;
    Ok(!answers.is_empty())
}

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
    let spec = json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
        "allocateLoadBalancerNodePorts": false, "selector": {"app": "scale"},
        "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}]});
    let spec = &spec;
    let created: Vec<Result<_, Error>> = stream::iter(0..opts.services)
        .map(|i| async move {
            let body = k8s::service_body(&format!("s{i:05}"), json!({}), spec.clone());
            k8s::apply_service(client, NS, &body).await
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    created.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

/// The `ferrolb_speaker_announced_addresses` gauge of speaker `c` (its private endpoint,
/// with the lab scraper's token).
async fn announced(lab: &Lab, c: Component) -> Option<f64> {
    let (code, body) = lab.private_get(c, "/metrics").await.ok()?;
    (code == 200).then_some(())?;
    gauge(&body, "ferrolb_speaker_announced_addresses")
}

/// The value of an unlabelled metric in Prometheus text format.
pub fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (metric, value) = l.split_once(' ')?;
        (metric == name).then(|| value.trim().parse().ok())?
    })
}

/// VmRSS and VmHWM of each speaker, in bytes.
fn memory(lab: &Lab) -> Value {
    let mut out = serde_json::Map::new();
    for c in SPEAKERS {
        let name = c.to_string();
        let pid = lab.pid(c);
        let field = |key: &str| pid.and_then(|pid| process::status_bytes(pid, key));
        out.insert(
            name.to_string(),
            json!({"rss_bytes": field("VmRSS:"), "peak_rss_bytes": field("VmHWM:")}),
        );
    }
    Value::Object(out)
}

/// The largest `key` of the speakers in `memory` (null when none was read).
fn max_of(memory: &Value, key: &str) -> Option<u64> {
    memory
        .as_object()?
        .values()
        .filter_map(|speaker| speaker[key].as_u64())
        .max()
}

/// Rules and bytes of `nft list table inet ferrolb` in `node`.
fn nft_size(lab: &Lab, node: &str) -> Value {
    let argv = ["nft", "list", "table", "inet", "ferrolb"].map(String::from);
    let listing = lab
        .exec(node, &argv)
        .ok()
        .and_then(|mut c| c.output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    json!({"bytes": listing.len(), "chains": listing.matches("\tchain ").count()})
}

#[cfg(test)]
mod tests {
    use super::gauge;

    #[test]
    fn reads_an_unlabelled_gauge() {
        let text = "# HELP x\nferrolb_speaker_announced_addresses 42\nother 1\n";
        assert_eq!(
            gauge(text, "ferrolb_speaker_announced_addresses"),
            Some(42.0)
        );
        assert_eq!(gauge(text, "missing"), None);
    }
}
