//! The demo's traffic from the client namespace: who answers ARP for a VIP, GETs through it,
//! and the probe loop around the kill of the announcing speaker.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use kube::Client;

use super::output::url;
use super::{NAME, NS};
use crate::bench::failover::{Sample, Trial, measure, now_us};
use crate::lab::process;
use crate::traffic::echo::Reply;
use crate::{Component, Error, Lab, k8s, wait_for};

/// Prober of the failover: one TCP exchange every 5 ms, each allowed 50 ms (its default), from
/// 0.5 s before the kill to 3 s after.
pub(super) const PROBE_EVERY_MS: u64 = 5;
const PROBE_LEAD: Duration = Duration::from_millis(500);
const PROBE_WINDOW: Duration = Duration::from_millis(3500);
/// Limit of waiting for one node to answer a VIP.
const SETTLE: Duration = Duration::from_secs(30);

/// Waits until the `ServiceAnnouncement` names a node other than `not` for `ip` and that
/// node's MAC is the only one answering the client's ARP; returns the node.
pub(super) async fn settled(
    lab: &Lab,
    client: &Client,
    ip: IpAddr,
    not: &str,
) -> Result<String, Error> {
    let want = ip.to_string();
    let other = if not.is_empty() {
        String::new()
    } else {
        format!(" other than {not}")
    };
    let what = format!("{ip} answered by one node{other}, the one its ServiceAnnouncement names");
    k8s::wait_announcement(client, NS, NAME, &what, SETTLE, |s| {
        let a = s.announcements.into_iter().find(|a| a.ip == want)?;
        let mac = lab.mac(&a.node).ok().filter(|_| a.node != not)?;
        (lab.arping("client", ip, 1).ok()? == [mac]).then_some(a.node)
    })
    .await
}

/// Waits until each VIP answers a GET from the client (the rules may follow the ARP answers).
pub(super) async fn answering(lab: &Lab, vips: &[IpAddr]) -> Result<(), Error> {
    for &ip in vips {
        let to = SocketAddr::new(ip, 80);
        wait_for(
            &format!("{} to answer the client", url(ip)),
            Duration::from_secs(15),
            || async move {
                lab.http_get("client", to, "/")
                    .ok()
                    .filter(|(code, _)| *code == 200)
            },
        )
        .await?;
    }
    Ok(())
}

/// `n` GETs of each VIP from the client, printed; returns the distinct pods that answered.
pub(super) fn gets(lab: &Lab, vips: &[IpAddr], n: usize) -> Result<Vec<String>, Error> {
    let mut pods = Vec::new();
    for &ip in vips {
        let to = SocketAddr::new(ip, 80);
        for _ in 0..n {
            let (code, body) = lab.http_get("client", to, "/")?;
            let reply = Reply::parse(&body).filter(|_| code == 200).ok_or_else(|| {
                Error::msg(format!("GET {} from client: {code} {body:?}", url(ip)))
            })?;
            println!("  GET {:<26} -> {code} {}", url(ip), body.trim());
            pods.push(reply.pod);
        }
    }
    pods.sort();
    pods.dedup();
    Ok(pods)
}

/// SIGKILLs the speaker of `node` while the client probes `ip`:80; returns the measurement.
pub(super) async fn kill_and_measure(lab: &Lab, ip: IpAddr, node: &str) -> Result<Trial, Error> {
    let old_mac = lab.mac(node)?;
    let argv: Vec<String> = vec![
        lab.bin.display().to_string(),
        "probe-loop".into(),
        SocketAddr::new(ip, 80).to_string(),
        "--every".into(),
        format!("{PROBE_EVERY_MS}ms"),
        "--for".into(),
        format!("{}ms", PROBE_WINDOW.as_millis()),
    ];
    let prober = lab
        .exec("client", &argv)?
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("starting the prober in the client namespace", e))?;
    let pid = prober.id();
    // The window before the kill: the samples that show the VIP answering through the old node.
    tokio::time::sleep(PROBE_LEAD).await;
    let fault_us = now_us();
    lab.kill(Component::Speaker(node.parse()?))?;
    let waited = tokio::time::timeout(
        PROBE_WINDOW + Duration::from_secs(10),
        tokio::task::spawn_blocking(move || prober.wait_with_output()),
    )
    .await;
    let Ok(joined) = waited else {
        process::signal(pid, nix::sys::signal::Signal::SIGKILL);
        return Err(Error::msg(
            "the prober did not finish within its window + 10 s",
        ));
    };
    let out = joined
        .map_err(|e| Error::msg(format!("prober task: {e}")))?
        .map_err(|e| Error::io("waiting for the prober", e))?;
    let samples: Vec<Sample> = serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::msg(format!(
            "the prober's output: {e}; {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })?;
    if !samples.iter().any(|s| s.ok && s.t_us < fault_us) {
        return Err(Error::msg(format!(
            "{ip}:80 did not answer before the kill"
        )));
    }
    Ok(measure(&samples, fault_us, &old_mac))
}
