//! `cargo xtask demo`: ferrolb end to end in the lab, for a person watching. It brings the lab
//! up, installs ferrolb from crds/ and deploy/ (as `lab install`), creates a pool with its
//! `L2AnnouncementPolicy`, the `hostnames` Deployment (the lab's agent runs each pod as an echo
//! backend that answers HTTP with the pod's name) and a LoadBalancer Service on port 80, shows
//! what ferrolb wrote, sends GETs to the VIP from the client namespace, then SIGKILLs the
//! announcing node's speaker and measures from the client how the VIP moved, and ends with
//! `kubectl ferrolb why` on the Service. The lab is left up.

mod example;
mod output;
mod traffic;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::bench::failover::Trial;
use crate::{Component, Error, Lab};

pub use output::hints;
use output::{announcements, report, show};
use traffic::{PROBE_EVERY_MS, answering, gets, kill_and_measure, settled};

/// The example's name: Deployment, Service and `ServiceAnnouncement`.
pub const NAME: &str = "hostnames";
/// Its namespace.
pub const NS: &str = "default";
/// The backends' port (what `registry.k8s.io/serve_hostname` listens on).
pub const PORT: u16 = 9376;
/// The pool the demo creates, from the lab's LoadBalancer range.
pub const POOL: &str = "lan";
/// The pool's addresses (see the README's address table).
pub const POOL_ADDRESSES: [&str; 2] = [
    "198.51.100.200-198.51.100.249",
    "2001:db8:100::200-2001:db8:100::2ff",
];
/// Pods of the Deployment.
pub const REPLICAS: i32 = 3;
/// GETs of each VIP before the failover.
const GETS: usize = 9;

/// What the demo showed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The Service's addresses (IPv4 first).
    pub vips: Vec<IpAddr>,
    /// The node that announced the IPv4 VIP before the failover.
    pub announcer: String,
    /// The distinct pods that answered the GETs.
    pub pods: Vec<String>,
    /// The node that took over.
    pub successor: String,
    /// What the client measured around the kill.
    pub trial: Trial,
}

/// The demo's example alone, on a lab where ferrolb runs: VIPPool and L2AnnouncementPolicy
/// [`POOL`], Deployment and LoadBalancer Service [`NAME`] in [`NS`]; returns the Service's
/// addresses once each answers a GET from the client namespace.
pub async fn example(lab: &Lab, client: &kube::Client) -> Result<Vec<IpAddr>, Error> {
    example::pool(client).await?;
    example::deployment(client).await?;
    let vips = example::service(client).await?;
    answering(lab, &vips).await?;
    Ok(vips)
}

/// Waits until each of `vips` answers a GET on port 80 from the client namespace.
pub async fn answered(lab: &Lab, vips: &[IpAddr]) -> Result<(), Error> {
    answering(lab, vips).await
}

/// Runs `kubectl ferrolb why` on the example from the client namespace, shows its answer, and
/// fails unless it says the Service is served (exit 0).
fn why(lab: &Lab) -> Result<(), Error> {
    let out = lab.ferrolb(&["why", "-n", NS, NAME])?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "kubectl ferrolb why {NAME} says it is not served ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs the demo on `lab` (brought up if needed); `repo` holds crds/ and deploy/.
pub async fn run(lab: &Lab, repo: &std::path::Path) -> Result<Outcome, Error> {
    let t0 = Instant::now();
    let say = |s: &str| println!("\n[{:>4.0}s] {s}", t0.elapsed().as_secs_f64());
    say(&format!(
        "bringing up lab {} (the control plane is built once into ~/.cache/ferrolb)",
        lab.names.lab
    ));
    lab.up(repo).await?;
    say(
        "installing ferrolb from crds/ and deploy/without-kube-proxy/ (the controller Deployment, the speaker DaemonSet)",
    );
    lab.install(repo).await?;
    let client = lab.client().await?;
    // The ServiceAccount the printed /debug/state command takes a token of.
    crate::lab::scraper::token(&client, crate::lab::scraper::SCRAPER, true).await?;

    say(&format!("VIPPool {POOL} and L2AnnouncementPolicy {POOL}"));
    example::pool(&client).await?;
    show(lab, &["get", "vippools,l2announcementpolicies"])?;

    say(&format!(
        "Deployment {NAME}: {REPLICAS} pods answering on {PORT}"
    ));
    example::deployment(&client).await?;
    show(
        lab,
        &["get", "pods", "-l", &format!("app={NAME}"), "-o", "wide"],
    )?;

    say(&format!("LoadBalancer Service {NAME}: port 80 -> {PORT}"));
    let vips = example::service(&client).await?;
    let v4 = *vips
        .iter()
        .find(|ip| ip.is_ipv4())
        .ok_or_else(|| Error::msg(format!("{NAME} got no IPv4 address: {vips:?}")))?;
    let announcer = settled(lab, &client, v4, "").await?;
    show(lab, &["get", "svc", NAME])?;
    show(lab, &["get", "serviceannouncement", NAME])?;
    announcements(&client).await?;

    say("GET the VIPs from the client namespace");
    answering(lab, &vips).await?;
    let pods = gets(lab, &vips, GETS)?;
    println!("  {} different pods answered", pods.len());

    say(&format!(
        "failover: SIGKILL speaker-{announcer}, probing {v4}:80 from the client every {PROBE_EVERY_MS} ms"
    ));
    let trial = kill_and_measure(lab, v4, &announcer).await?;
    let successor = settled(lab, &client, v4, &announcer).await?;
    report(&trial, &announcer, &successor);
    announcements(&client).await?;
    gets(lab, &vips, 3)?;

    let speaker = Component::Speaker(announcer.parse()?);
    say(&format!("starting {speaker} again"));
    lab.start(speaker)?;
    lab.wait_ready(speaker, Duration::from_secs(60)).await?;
    let back = settled(lab, &client, v4, "").await?;
    println!(
        "  {speaker} is ready; {v4} is answered by {back} (the election is a pure function of the live nodes)"
    );
    say(&format!(
        "kubectl ferrolb why {NAME}: the chain from allocation to the wire, as an operator asks it"
    ));
    why(lab)?;
    say("done; the lab stays up");
    Ok(Outcome {
        vips,
        announcer,
        pods,
        successor,
        trial,
    })
}
