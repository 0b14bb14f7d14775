//! `kubectl ferrolb why` among many Services (issue 20: "why answers in under 2 s on a lab
//! with 1,000 Services"). A command that writes JSON; never a test.
//!
//! In its own lab: ferrolb installed; Service `web` (single-stack IPv4 from the lab pool
//! `lan`, a pod on each node) in namespace [`NS`]; then N other LoadBalancer Services from the
//! speaker benchmark's ground ([`speaker::ground`], [`speaker::create_services`]: IPv6 from its
//! bench-only pool), all with addresses. `why` has more to read with each: the Services and
//! EndpointSlices from the API and every speaker's `/debug/state`. Measured: the wall time of
//! `kubectl ferrolb why -n NS web` run from the client RUNS times (each must exit 0), and the
//! size of node-a's `/debug/state`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::arp::percentile;
use super::speaker::{self, SpeakerOptions};
use crate::lab::agent::ANN_READY;
use crate::lab::{PLUGIN_BINARY, SPEAKERS};
use crate::{Error, Lab, k8s, wait_for};

/// The namespace of Service `web`.
pub const NS: &str = "bench-why";
/// The IPv4 addresses of the lab pool `lan` (the speaker scenarios' IPv4 range).
pub const LAN_POOL: &str = "198.51.100.200-198.51.100.239";
/// How long `why` may take to say `web` is served before the runs start.
const SERVED_LIMIT: Duration = Duration::from_secs(120);

/// Options of the `why` benchmark.
#[derive(Debug, Clone, Copy)]
pub struct WhyOptions {
    /// Services besides `web`.
    pub services: usize,
    /// Timed runs of `why`.
    pub runs: usize,
    /// Creations in flight at once.
    pub concurrency: usize,
}

/// Wall times of the runs, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    /// Nearest-rank median.
    pub p50_ms: f64,
    /// The slowest run.
    pub max_ms: f64,
}

/// p50 and max of `samples` (milliseconds; 0 for none).
pub fn times(samples: &[f64]) -> Times {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Times {
        p50_ms: percentile(&sorted, 0.5),
        max_ms: percentile(&sorted, 1.0),
    }
}

/// Runs the benchmark in `lab` (up, not yet installed) and returns its JSON.
pub async fn bench(lab: &Lab, repo: &std::path::Path, opts: WhyOptions) -> Result<Value, Error> {
    lab.install(repo).await?;
    let client = lab.client().await?;
    web(&client).await?;

    speaker::ground(&client).await?;
    let t = Instant::now();
    speaker::create_services(
        &client,
        SpeakerOptions {
            services: opts.services,
            concurrency: opts.concurrency,
            probes: 0,
            kube_proxy: crate::lab::KubeProxyMode::None,
        },
    )
    .await?;
    let limit = Duration::from_secs(120 + opts.services as u64 / 5);
    let want = opts.services;
    wait_for("every Service with an address", limit, || async {
        let all = k8s::all_ips(&client, speaker::NS).await.ok()?;
        let done = all.values().filter(|ips| !ips.is_empty()).count();
        tracing::info!(with_address = done, of = want, "why bench");
        (done >= want).then_some(())
    })
    .await?;
    let allocated_seconds = t.elapsed().as_secs_f64();

    let args = ["why", "-n", NS, "web"];
    wait_for("why saying web is served", SERVED_LIMIT, || async {
        let out = lab.ferrolb(&args).ok()?;
        out.status.success().then_some(())
    })
    .await?;

    let mut samples = Vec::with_capacity(opts.runs);
    for run in 0..opts.runs {
        let t = Instant::now();
        let out = lab.ferrolb(&args)?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        if !out.status.success() {
            return Err(Error::msg(format!(
                "why run {run} exited {:?} (each must exit 0): {}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    let Times { p50_ms, max_ms } = times(&samples);

    let speaker = SPEAKERS[0];
    let (code, state) = lab.private_get(speaker, "/debug/state").await?;
    if code != 200 {
        return Err(Error::msg(format!("GET /debug/state of {speaker}: {code}")));
    }
    Ok(json!({
        "benchmark": "why",
        "services": opts.services,
        "runs": opts.runs,
        "p50_ms": p50_ms,
        "max_ms": max_ms,
        "samples_ms": samples,
        "exit_codes": vec![0; opts.runs],
        "debug_state_bytes": state.len(),
        "debug_state_of": speaker.to_string(),
        "allocated_seconds": allocated_seconds,
        "profile": super::profile_of(&lab.bin_dir().join(PLUGIN_BINARY)),
        "kubernetes": crate::lab::plan::K8S_VERSION,
        "note": "wall time of `kubectl ferrolb why -n bench-why web` (human output) run from the client namespace, process start to exit, after a first run said served; services counts the Services besides web; profile is the plugin's and the lab binaries' build",
    }))
}

/// Namespace [`NS`], pool `lan` ([`LAN_POOL`]) with its L2AnnouncementPolicy, a pod of app
/// `web` on each node and Service `web` (single-stack IPv4) with its address.
async fn web(client: &kube::Client) -> Result<(), Error> {
    k8s::namespace(client, NS, json!({})).await?;
    k8s::pool(client, "lan", json!({"addresses": [LAN_POOL]})).await?;
    let l2: kube::Api<ferrolb_api::L2AnnouncementPolicy> = kube::Api::all(client.clone());
    let body = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
        "metadata": {"name": "lan"}, "spec": {"ipPools": ["lan"]}});
    k8s::apply(&l2, &body).await?;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), NS);
    for (pod, node) in [
        ("web-a", "node-a"),
        ("web-b", "node-b"),
        ("web-c", "node-c"),
    ] {
        let body = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "labels": {"app": "web"}, "annotations": {ANN_READY: "true"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "echo", "image": "echo",
                    "ports": [{"containerPort": 9376, "protocol": "TCP"}]}]}});
        k8s::apply(&pods, &body).await?;
    }
    let body = k8s::service_body(
        "web",
        json!({}),
        json!({"ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "p80", "port": 80, "targetPort": 9376, "protocol": "TCP"}]}),
    );
    k8s::apply_service(client, NS, &body).await?;
    k8s::wait_service(client, NS, "web", "an address", |s| !k8s::ips(s).is_empty()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p50_and_max_by_nearest_rank() {
        let t = times(&[300.0, 100.0, 200.0, 400.0]);
        assert_eq!(
            t,
            Times {
                p50_ms: 200.0,
                max_ms: 400.0
            }
        );
        assert_eq!(times(&[]).max_ms, 0.0);
    }
}
