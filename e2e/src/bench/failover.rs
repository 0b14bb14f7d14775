//! The failover benchmark: the announcing node fails (speaker SIGKILLed, its link cut, or its
//! speaker SIGTERMed for a planned handover) while a prober in the client namespace connects
//! to the VIP every few milliseconds and reads the client's own ARP table. Writes JSON.
//!
//! Only node-a and node-b announce (L2AnnouncementPolicy nodeSelector); the backends run on node-c,
//! so a fault removes the announcing node, never a backend.
//!
//! Per trial: `takeover` = fault → the client's ARP entry for the VIP holds a new MAC;
//! `first_connect` = fault → first successful TCP exchange while the entry holds the new MAC
//! (traffic through the new node); `max_gap` = the longest time without a successful exchange
//! around the fault (what a user notices; 0 while the old node still forwards).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::Client;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::traffic::probe::{Proto, probe};
use crate::{Component, Error, Lab, k8s};
use ferrolb_testkit as netns;

/// One probe of the loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When the probe started, microseconds since the Unix epoch.
    pub t_us: u64,
    /// Whether a backend answered.
    pub ok: bool,
    /// The MAC of the target in this namespace's ARP table after the probe.
    pub mac: Option<String>,
    /// How long the probe took (connect, send, answer), microseconds.
    #[serde(default)]
    pub took_us: u64,
    /// The source address the backend saw (which node forwarded, for Cluster Services).
    #[serde(default)]
    pub seen: Option<IpAddr>,
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Probes `to` (TCP) every `every` for `total`, each with `limit`, in the current namespace.
pub async fn probe_loop(
    to: SocketAddr,
    every: Duration,
    limit: Duration,
    total: Duration,
) -> Vec<Sample> {
    let end = tokio::time::Instant::now() + total;
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(every.max(Duration::from_micros(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while tokio::time::Instant::now() < end {
        // `every` zero: back to back.
        if !every.is_zero() {
            tick.tick().await;
        }
        let t_us = now_us();
        let started = std::time::Instant::now();
        let reply = probe(Proto::Tcp, to, limit)
            .await
            .ok()
            .and_then(|r| crate::traffic::echo::Reply::parse(&r));
        out.push(Sample {
            t_us,
            ok: reply.is_some(),
            mac: neighbour_mac(to.ip()),
            took_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            seen: reply.map(|r| r.client),
        });
    }
    out
}

/// The MAC of `ip` in this namespace's neighbour table, if complete: IPv4 from
/// `/proc/net/arp`, IPv6 from `ip -6 neigh show IP` (no /proc file for it).
fn neighbour_mac(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(_) => parse_arp(&std::fs::read_to_string("/proc/net/arp").ok()?, ip),
        IpAddr::V6(_) => {
            let out = std::process::Command::new("ip")
                .args(["-6", "neigh", "show", &ip.to_string()])
                .output()
                .ok()?;
            parse_neigh(&String::from_utf8_lossy(&out.stdout))
        }
    }
}

/// Pure: the MAC in `ip neigh show IP` output (`IP dev eth0 lladdr MAC STATE`), unless the
/// entry is unresolved (`FAILED`, `INCOMPLETE`: no lladdr).
pub fn parse_neigh(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        words.find(|w| *w == "lladdr")?;
        words.next().map(str::to_lowercase)
    })
}

/// Pure: the MAC of `ip` in `/proc/net/arp` text (flags 0x2 = complete).
pub fn parse_arp(table: &str, ip: IpAddr) -> Option<String> {
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first()?.parse::<IpAddr>().ok()? == ip && *f.get(2)? == "0x2")
            .then(|| f.get(3).map(|m| m.to_lowercase()))?
    })
}

/// What one trial measured, in milliseconds (`None`: did not happen within the window).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    /// Fault → new MAC in the client's ARP table.
    pub takeover_ms: Option<f64>,
    /// Fault → first success through the new MAC.
    pub first_connect_ms: Option<f64>,
    /// Longest time without success from the last success before the fault on.
    pub max_gap_ms: f64,
}

/// Pure: one trial from the prober's samples, the fault time and the old MAC.
pub fn measure(samples: &[Sample], fault_us: u64, old_mac: &str) -> Trial {
    let ms = |t: u64| (t.saturating_sub(fault_us)) as f64 / 1000.0;
    let after: Vec<&Sample> = samples.iter().filter(|s| s.t_us >= fault_us).collect();
    let moved = |s: &Sample| s.mac.as_deref().is_some_and(|m| m != old_mac);
    let takeover_ms = after.iter().find(|s| moved(s)).map(|s| ms(s.t_us));
    let first_connect_ms = after.iter().find(|s| moved(s) && s.ok).map(|s| ms(s.t_us));
    let mut last_ok = samples
        .iter()
        .filter(|s| s.t_us < fault_us && s.ok)
        .map(|s| s.t_us)
        .next_back();
    let mut max_gap = 0u64;
    for s in &after {
        if s.ok {
            if let Some(prev) = last_ok {
                max_gap = max_gap.max(s.t_us.saturating_sub(prev));
            }
            last_ok = Some(s.t_us);
        }
    }
    if let (Some(prev), Some(last)) = (last_ok, samples.last()) {
        max_gap = max_gap.max(last.t_us.saturating_sub(prev));
    }
    Trial {
        takeover_ms,
        first_connect_ms,
        max_gap_ms: max_gap as f64 / 1000.0,
    }
}

/// p50, p95 and max of `values` (nearest rank); `None` when empty.
pub fn percentiles(values: &[f64]) -> Value {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| -> Option<f64> {
        let i = ((p * v.len() as f64).ceil() as usize).saturating_sub(1);
        v.get(i.min(v.len().saturating_sub(1))).copied()
    };
    json!({"n": v.len(), "p50": rank(0.50), "p95": rank(0.95), "max": v.last()})
}

/// The faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL of the announcing speaker (its node keeps forwarding).
    Kill,
    /// The announcing node's LAN link set down (the node is gone for everyone).
    Link,
    /// SIGTERM of the announcing speaker: a planned handover.
    Term,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "speaker_sigkill",
            Fault::Link => "node_link_cut",
            Fault::Term => "speaker_sigterm",
        }
    }
}

const NS: &str = "bench-failover";

/// Runs `trials` trials of each fault on the lab (installing ferrolb and a 3-pod Service).
pub async fn bench(lab: &Lab, repo: &std::path::Path, trials: usize) -> Result<Value, Error> {
    lab.install(repo).await?;
    let client = lab.client().await?;
    k8s::namespace(&client, NS, json!({})).await?;
    k8s::pool(
        &client,
        "failover",
        json!({"addresses": ["198.51.100.200-198.51.100.209"]}),
    )
    .await?;
    lab.kubectl_input(
        &["apply", "-f", "-"],
        &json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
            "metadata": {"name": "failover"}, "spec": {"ipPools": ["failover"],
                "nodeSelector": {"matchExpressions": [{"key": "kubernetes.io/hostname",
                    "operator": "In", "values": ["node-a", "node-b"]}]}}})
        .to_string(),
    )?;
    // The backends live on node-c, which never announces: a fault on node-a or node-b then
    // only tests the announcement, not the loss of a backend.
    for i in 0..2 {
        let node = "node-c";
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("fo-{i}"), "namespace": NS, "labels": {"app": "fo"}},
            "spec": {"nodeName": node, "containers": [{"name": "echo", "image": "echo",
                "ports": [{"containerPort": 9376, "protocol": "TCP"}]}]}});
        lab.kubectl_input(&["apply", "-f", "-"], &pod.to_string())?;
    }
    let mut body = k8s::service_body("fo", json!({}), json!({}));
    body["spec"]["ports"] =
        json!([{"name": "p80", "port": 80, "targetPort": 9376, "protocol": "TCP"}]);
    k8s::apply_service(&client, NS, &body).await?;
    let svc = k8s::wait_service(&client, NS, "fo", "address", |s| !k8s::ips(s).is_empty()).await?;
    let ip: IpAddr = k8s::ips(&svc)
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::msg("the Service has no address"))?;

    let mut out = serde_json::Map::new();
    for fault in [Fault::Term, Fault::Kill, Fault::Link] {
        let mut results = Vec::new();
        for n in 0..trials {
            let trial = one(lab, &client, ip, fault).await?;
            eprintln!("{} #{n}: {trial:?}", fault.name());
            results.push(trial);
        }
        let takeover: Vec<f64> = results.iter().filter_map(|t| t.takeover_ms).collect();
        let connect: Vec<f64> = results.iter().filter_map(|t| t.first_connect_ms).collect();
        let gaps: Vec<f64> = results.iter().map(|t| t.max_gap_ms).collect();
        out.insert(
            fault.name().into(),
            json!({"trials": trials, "takeover_ms": percentiles(&takeover),
                "first_connect_through_new_node_ms": percentiles(&connect),
                "max_gap_without_service_ms": percentiles(&gaps)}),
        );
    }
    out.insert("vip".into(), json!(ip.to_string()));
    out.insert(
        "probe_interval_ms".into(),
        json!(PROBE_EVERY.as_millis() as u64),
    );
    Ok(Value::Object(out))
}

const PROBE_EVERY: Duration = Duration::from_millis(5);
const WINDOW: Duration = Duration::from_millis(3500);

/// Starts `ferrolb-lab probe-loop` in the client: a TCP probe of `ip`:80 every `every` for
/// `window`, each sample with the client's neighbour entry for `ip`; read it with [`collect`].
pub fn start_prober(
    lab: &Lab,
    ip: IpAddr,
    every: Duration,
    window: Duration,
) -> Result<std::process::Child, Error> {
    let argv: Vec<String> = vec![
        lab.bin.display().to_string(),
        "probe-loop".into(),
        SocketAddr::new(ip, 80).to_string(),
        "--every".into(),
        format!("{}ms", every.as_millis()),
        "--for".into(),
        format!("{}ms", window.as_millis()),
    ];
    lab.exec("client", &argv)?
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("starting the prober", e))
}

async fn one(lab: &Lab, client: &Client, ip: IpAddr, fault: Fault) -> Result<Trial, Error> {
    let old = settled(lab, client, ip).await?;
    let old_mac = lab.mac(&old)?;
    let speaker = Component::Speaker(old.parse()?);
    let prober = start_prober(lab, ip, PROBE_EVERY, WINDOW)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fault_us = now_us();
    let node_ns = lab.names.netns(&old);
    match fault {
        Fault::Kill => lab.kill(speaker)?,
        Fault::Term => lab.stop(speaker)?,
        Fault::Link => {
            netns::ip(
                &node_ns,
                &["link", "set", crate::lab::topology::UPLINK, "down"],
            )?;
        }
    }
    let samples = collect(prober).await?;
    if fault == Fault::Link {
        netns::ip(
            &node_ns,
            &["link", "set", crate::lab::topology::UPLINK, "up"],
        )?;
    } else {
        lab.start(speaker)?;
    }
    lab.wait_ready(speaker, Duration::from_secs(30)).await?;
    Ok(measure(&samples, fault_us, &old_mac))
}

/// Waits for a `ferrolb-lab probe-loop` child (stdout piped) and returns its samples.
pub async fn collect(prober: std::process::Child) -> Result<Vec<Sample>, Error> {
    let output = tokio::task::spawn_blocking(move || prober.wait_with_output())
        .await
        .map_err(|e| Error::msg(format!("prober task: {e}")))?
        .map_err(|e| Error::io("waiting for the prober", e))?;
    serde_json::from_slice(&output.stdout).map_err(|e| Error::msg(format!("prober output: {e}")))
}

/// Waits until the node the ServiceAnnouncement names is the one answering ARP, twice a second
/// apart (a restored speaker may take its VIPs back just after it is ready); returns it.
async fn settled(lab: &Lab, client: &Client, ip: IpAddr) -> Result<String, Error> {
    for _ in 0..30 {
        let first = settled_once(lab, client, ip).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        if settled_once(lab, client, ip).await? == first {
            return Ok(first);
        }
    }
    Err(Error::msg(format!("{ip} never settled on one node")))
}

async fn settled_once(lab: &Lab, client: &Client, ip: IpAddr) -> Result<String, Error> {
    let what = format!("{ip} settled");
    k8s::wait_announcement(client, NS, "fo", &what, Duration::from_secs(30), |s| {
        let a = s
            .announcements
            .into_iter()
            .find(|a| a.ip == ip.to_string())?;
        let mac = lab.mac(&a.node).ok()?;
        (lab.arping("client", ip, 1).ok()? == [mac]).then_some(a.node)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: u64, ok: bool, mac: &str) -> Sample {
        Sample {
            t_us: t * 1000,
            ok,
            mac: Some(mac.into()),
            took_us: 0,
            seen: None,
        }
    }

    #[test]
    fn measures_takeover_connect_and_gap() {
        let samples = [
            s(90, true, "old"),
            s(100, true, "old"),
            s(110, false, "old"),
            s(600, false, "new"),
            s(610, true, "new"),
            s(620, true, "new"),
        ];
        let t = measure(&samples, 105_000, "old");
        assert_eq!(t.takeover_ms, Some(495.0));
        assert_eq!(t.first_connect_ms, Some(505.0));
        assert_eq!(t.max_gap_ms, 510.0);
        let none = measure(&[s(1, true, "old")], 0, "old");
        assert_eq!((none.takeover_ms, none.first_connect_ms), (None, None));
    }

    #[test]
    fn reads_proc_net_arp() {
        let table = "IP address       HW type     Flags       HW address            Mask     Device\n\
            198.51.100.200   0x1         0x2         AA:bb:cc:dd:ee:ff     *        eth0\n\
            198.51.100.201   0x1         0x0         00:00:00:00:00:00     *        eth0\n";
        assert_eq!(
            parse_arp(table, "198.51.100.200".parse().unwrap()).as_deref(),
            Some("aa:bb:cc:dd:ee:ff")
        );
        assert_eq!(parse_arp(table, "198.51.100.201".parse().unwrap()), None);
    }

    #[test]
    fn reads_ip_neigh() {
        let text = "2001:db8:100::200 dev eth0 lladdr 02:AB:00:00:00:11 REACHABLE\n";
        assert_eq!(parse_neigh(text).as_deref(), Some("02:ab:00:00:00:11"));
        assert_eq!(parse_neigh("2001:db8:100::200 dev eth0 FAILED\n"), None);
        assert_eq!(parse_neigh(""), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let p = percentiles(&v);
        assert_eq!(p["p50"], json!(10.0));
        assert_eq!(p["p95"], json!(19.0));
        assert_eq!(p["max"], json!(20.0));
        assert_eq!(percentiles(&[])["p50"], Value::Null);
    }
}
