//! Edge benchmark (issue 9): connections per second and added latency through the edge against
//! a direct connection to a node's NodePort, and the time from a node's health flipping (its
//! speaker stopped) to the last new connection it receives. A command that writes JSON; never
//! a test.
//!
//! In its own lab with ferrolb installed (the edge included, as deploy/edge's unit runs it):
//! one pod per node behind an edge Service (eTP=Cluster), probed from the client namespace
//! with `ferrolb-lab probe-loop` (sequential TCP connect, one line, answer, close).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::bench::failover::{Sample, now_us, percentiles};
use crate::lab::plan::{self, forwarded_by as via};
use crate::{Component, Error, Lab, Node, k8s, wait_for};

const NS: &str = "bench-edge";

/// Runs the benchmark in `lab` (up, not yet installed) and returns its JSON.
pub async fn bench(lab: &Lab, repo: &std::path::Path, trials: usize) -> Result<Value, Error> {
    lab.install(repo).await?;
    let client = lab.client().await?;
    k8s::namespace(&client, NS, json!({})).await?;
    let pools: Api<ferrolb_api::VIPPool> = Api::all(client.clone());
    let pool = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
        "metadata": {"name": "edge", "labels": {"ferrolb.io/mode": "edge"}},
        "spec": {"addresses": ["198.51.100.150-198.51.100.159"]}});
    pools
        .patch(
            "edge",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(pool),
        )
        .await
        .map_err(|e| Error::kube("applying the edge pool", e))?;
    for node in ["node-a", "node-b", "node-c"] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("be-{node}"), "namespace": NS, "labels": {"app": "be"}},
            "spec": {"nodeName": node, "containers": [{"name": "echo", "image": "echo",
                "ports": [{"containerPort": 9376, "protocol": "TCP"}]}]}});
        lab.kubectl_input(&["apply", "-f", "-"], &pod.to_string())?;
    }
    let mut body = k8s::service_body("be", json!({"ferrolb.io/mode": "edge"}), json!({}));
    body["spec"]["ports"] =
        json!([{"name": "p80", "port": 80, "targetPort": 9376, "protocol": "TCP"}]);
    body["spec"]["selector"] = json!({"app": "be"});
    k8s::apply_service(&client, NS, &body).await?;
    let svc = k8s::wait_service(&client, NS, "be", "frontend and nodePort", |s| {
        !k8s::ips(s).is_empty() && node_port(s).is_some()
    })
    .await?;
    let frontend: IpAddr = k8s::ips(&svc)
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::msg("the Service has no frontend"))?;
    let node_port = node_port(&svc).ok_or_else(|| Error::msg("no nodePort"))?;
    let front = SocketAddr::new(frontend, 80);
    let node_b = plan::node("node-b").ok_or_else(|| Error::msg("no node-b"))?;
    let direct = SocketAddr::new(node_b.host.v4.into(), node_port);
    // Every node healthy and serving through the edge before measuring.
    wait_for(
        "the frontend reaches every node",
        Duration::from_secs(60),
        || async {
            let samples = probe_loop(lab, front, 0, 1500).ok()?;
            let nodes: Vec<&str> = samples
                .iter()
                .filter_map(|s| s.seen.and_then(via))
                .collect();
            ["node-a", "node-b", "node-c"]
                .iter()
                .all(|n| nodes.contains(n))
                .then_some(())
        },
    )
    .await?;

    let mut rates = serde_json::Map::new();
    for (name, to) in [("direct_node_port", direct), ("through_edge", front)] {
        let samples = probe_loop(lab, to, 0, 3000)?;
        rates.insert(name.into(), summary(&samples, 3.0));
    }

    let mut flips = Vec::new();
    for n in 0..trials.max(1) {
        let samples_fault = flip(lab, front).await?;
        eprintln!("health flip #{n}: {:?} ms", samples_fault);
        if let Some(ms) = samples_fault {
            flips.push(ms);
        }
    }
    Ok(json!({
        "benchmark": "edge",
        "frontend": front.to_string(),
        "direct": direct.to_string(),
        "sequential_connections": rates,
        "health_flip": {
            "trials": trials,
            "fault": "the speaker of node-a stopped (SIGTERM): its /healthz stops answering",
            "last_connection_via_node_after_fault_ms": percentiles(&flips),
            "edge_probe": "interval 1s, timeout 500ms, unhealthy threshold 1 (deploy/edge unit defaults)",
        },
        "method": "ferrolb-lab probe-loop from the client namespace: sequential TCP connect, one line, the echo backend's answer, close; the node that forwarded is read from the source address the pod saw (Cluster masquerades to the node)",
    }))
}

fn node_port(svc: &k8s_openapi::api::core::v1::Service) -> Option<u16> {
    let port = svc.spec.as_ref()?.ports.as_ref()?.first()?.node_port?;
    u16::try_from(port).ok()
}

/// Runs `ferrolb-lab probe-loop` in the client namespace and returns its samples.
fn probe_loop(lab: &Lab, to: SocketAddr, every_ms: u64, for_ms: u64) -> Result<Vec<Sample>, Error> {
    let out = lab
        .exec("client", &loop_argv(lab, to, every_ms, for_ms))?
        .output()
        .map_err(|e| Error::io("running the prober", e))?;
    serde_json::from_slice(&out.stdout).map_err(|e| Error::msg(format!("prober output: {e}")))
}

fn loop_argv(lab: &Lab, to: SocketAddr, every_ms: u64, for_ms: u64) -> Vec<String> {
    vec![
        lab.bin.display().to_string(),
        "probe-loop".into(),
        to.to_string(),
        "--every".into(),
        format!("{every_ms}ms"),
        "--for".into(),
        format!("{for_ms}ms"),
        "--timeout".into(),
        "500ms".into(),
    ]
}

/// Rate and latency of a run of sequential probes lasting `seconds`.
fn summary(samples: &[Sample], seconds: f64) -> Value {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    let latency: Vec<f64> = ok.iter().map(|s| s.took_us as f64 / 1000.0).collect();
    json!({"connections": ok.len(), "failures": samples.len() - ok.len(),
        "per_second": ok.len() as f64 / seconds, "latency_ms": percentiles(&latency)})
}

/// One health flip: probes every 5 ms while node-a's speaker is stopped; returns the time from
/// the stop to the last connection node-a forwarded (0 if none after the stop).
async fn flip(lab: &Lab, front: SocketAddr) -> Result<Option<f64>, Error> {
    let prober = lab
        .exec("client", &loop_argv(lab, front, 5, 4000))?
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("starting the prober", e))?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let fault_us = now_us();
    let speaker = Component::Speaker(Node::A);
    lab.stop(speaker)?;
    let samples = crate::bench::failover::collect(prober).await?;
    lab.start(speaker)?;
    lab.wait_ready(speaker, Duration::from_secs(30)).await?;
    // Node-a healthy again at the edge (two successes) before the next trial.
    wait_for(
        "node-a back behind the edge",
        Duration::from_secs(30),
        || async {
            let again = probe_loop(lab, front, 0, 500).ok()?;
            again
                .iter()
                .any(|s| s.seen.and_then(via) == Some("node-a"))
                .then_some(())
        },
    )
    .await?;
    Ok(last_via_after(&samples, fault_us, "node-a"))
}

/// Milliseconds from `fault_us` to the last sample forwarded by `node` after it (0 when none).
/// `None` when no sample went through `node` before the fault either (nothing to measure).
pub fn last_via_after(samples: &[Sample], fault_us: u64, node: &str) -> Option<f64> {
    let through = |s: &&Sample| s.seen.and_then(via) == Some(node);
    samples.iter().filter(|s| s.t_us < fault_us).find(through)?;
    let last = samples
        .iter()
        .filter(|s| s.t_us >= fault_us)
        .filter(through)
        .map(|s| s.t_us)
        .max();
    Some(last.map_or(0.0, |t| (t - fault_us) as f64 / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t_ms: u64, seen: &str) -> Sample {
        Sample {
            t_us: t_ms * 1000,
            ok: true,
            mac: None,
            took_us: 0,
            seen: seen.parse().ok(),
        }
    }

    #[test]
    fn last_connection_through_the_node_after_the_fault() {
        let a = "198.51.100.11";
        let b = "198.51.100.12";
        let samples = [
            s(10, a),
            s(20, b),
            s(130, a),
            s(140, b),
            s(900, a),
            s(910, b),
        ];
        assert_eq!(last_via_after(&samples, 100_000, "node-a"), Some(800.0));
        assert_eq!(last_via_after(&samples[..4], 135_000, "node-a"), Some(0.0));
        assert_eq!(last_via_after(&samples, 100_000, "node-c"), None);
        assert_eq!(
            via("192.0.2.65".parse().unwrap()),
            Some("node-b"),
            "node-b's gateway"
        );
    }
}
