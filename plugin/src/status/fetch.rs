//! `kubectl ferrolb status`: the I/O around [`super::status`]. Reads the snapshot in one round
//! of concurrent requests, prints text or JSON, and exits 1 when a problem is found.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use ferrolb_adapter::DefaultClass;
use ferrolb_api::names::DEFAULT_NAMESPACE;
use ferrolb_api::{ServiceAnnouncement, VIPPool};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::ListParams;
use kube::{Api, Client};

use super::{Snapshot, status, text};
use crate::speakers::client::Speakers;
use crate::why::fetch::{LEASE_NAME, Output};

/// `status`'s flags.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// ferrolb's namespace (its Lease and speakers).
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub ferrolb_namespace: String,
    /// Whether the controller owns Services without a loadBalancerClass (its --default-class).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub default_class: bool,
}

/// Runs `status`; `Ok(true)` when no problem was found.
pub async fn run(kubeconfig: Option<&Path>, args: &StatusArgs) -> Result<bool> {
    let client = crate::import::connect(kubeconfig).await?;
    let (snap, speakers) = futures::join!(
        snapshot(&client, &args.ferrolb_namespace),
        Speakers::connect(&client, &args.ferrolb_namespace),
    );
    let mut snap = snap?;
    match speakers {
        Ok(speakers) => snap.speaker_states = speakers.states(&snap.speakers).await,
        Err(e) => snap.speakers_unreachable = Some(format!("{e:#}")),
    }
    let class = if args.default_class {
        DefaultClass::Claimed
    } else {
        DefaultClass::NotClaimed
    };
    let s = status(&snap, jiff::Timestamp::now(), class);
    match args.output {
        Output::Text => print!("{}", text(&s)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&s)?),
    }
    Ok(s.problems.is_empty())
}

/// Reads the snapshot: every request at once.
async fn snapshot(client: &Client, ferrolb_ns: &str) -> Result<Snapshot> {
    let lp = ListParams::default();
    let speakers_lp = ListParams::default().labels(crate::speakers::SELECTOR);
    let leases = Api::<Lease>::namespaced(client.clone(), ferrolb_ns);
    let pods = Api::<Pod>::namespaced(client.clone(), ferrolb_ns);
    let nodes = Api::<Node>::all(client.clone());
    let pools = Api::<VIPPool>::all(client.clone());
    let services = Api::<Service>::all(client.clone());
    let svas = Api::<ServiceAnnouncement>::all(client.clone());
    let (lease, speakers, nodes, pools, services, svas) = futures::join!(
        leases.get_opt(LEASE_NAME),
        pods.list(&speakers_lp),
        nodes.list(&lp),
        pools.list(&lp),
        services.list(&lp),
        svas.list(&lp),
    );
    Ok(Snapshot {
        lease: lease.context("reading the controller's Lease")?,
        speakers: speakers.context("listing the speakers' Pods")?.items,
        nodes: nodes.context("listing Nodes")?.items,
        pools: pools.context("listing VIPPools")?.items,
        services: services.context("listing Services")?.items,
        announcements: svas.context("listing ServiceAnnouncements")?.items,
        ..Snapshot::default()
    })
}
