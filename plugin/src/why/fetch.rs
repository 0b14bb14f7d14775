//! `kubectl ferrolb why`: the I/O around [`super::diagnose`]. Reads the snapshot in one round
//! of concurrent requests, prints text or JSON, and exits 1 when the Service is not served.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use ferrolb_adapter::slice::{LABEL_SERVICE_NAME, NodeSlice};
use ferrolb_api::names::DEFAULT_NAMESPACE;
use ferrolb_api::{L2AnnouncementPolicy, ServiceAnnouncement, VIPPool};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::{Api, Client};

use super::{Snapshot, Targets, WireFacts, diagnose, render};
use crate::speakers::answers::{HealthAnswer, ProbeAnswer, RulesAnswer};
use crate::speakers::client::{self, Speakers};

/// How long each probing speaker listens for ARP/NDP answers.
pub const PROBE_WINDOW_MS: u32 = 300;

/// The controller's Lease (its default `--lease-name`).
pub(crate) const LEASE_NAME: &str = "ferrolb-controller";

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Output {
    /// One line per step.
    #[default]
    Text,
    /// The report as JSON.
    Json,
}

/// `why`'s flags.
#[derive(Args, Debug)]
pub struct WhyArgs {
    /// The Service's name.
    pub service: String,
    /// Its namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// ferrolb's namespace (its Lease and speakers).
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub ferrolb_namespace: String,
}

/// Runs `why`; `Ok(true)` when the Service is served.
pub async fn run(kubeconfig: Option<&Path>, args: &WhyArgs) -> Result<bool> {
    let client = crate::import::connect(kubeconfig).await?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let (snap, speakers, webhook) = futures::join!(
        snapshot(&client, &ns, &args.service, &args.ferrolb_namespace),
        Speakers::connect(&client, &args.ferrolb_namespace),
        ferrolb_controller::webhook::reachability(&client),
    );
    let mut snap = snap?;
    snap.webhook = Some(webhook);
    match speakers {
        Ok(speakers) => {
            snap.speaker_states = speakers.states(&snap.speakers).await;
            let first = diagnose(&snap, jiff::Timestamp::now());
            if super::first_steps_hold(&first) {
                snap.wire = Some(wire(&speakers, &super::targets(&snap)).await);
            }
        }
        Err(e) => snap.speakers_unreachable = Some(format!("{e:#}")),
    }
    let report = diagnose(&snap, jiff::Timestamp::now());
    match args.output {
        Output::Text => print!("{}", render::text(&report)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.served)
}

fn arcs<T>(v: Vec<T>) -> Vec<Arc<T>> {
    v.into_iter().map(Arc::new).collect()
}

/// Reads the snapshot: every request at once.
async fn snapshot(client: &Client, ns: &str, name: &str, ferrolb_ns: &str) -> Result<Snapshot> {
    let lp = ListParams::default();
    let slices_lp = ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}={name}"));
    let events_lp = ListParams::default().fields(&format!(
        "involvedObject.kind=Service,involvedObject.name={name}"
    ));
    let speakers_lp = ListParams::default().labels(crate::speakers::SELECTOR);
    let services = Api::<Service>::namespaced(client.clone(), ns);
    let namespaces = Api::<Namespace>::all(client.clone());
    let slices_api = Api::<EndpointSlice>::namespaced(client.clone(), ns);
    let pools_api = Api::<VIPPool>::all(client.clone());
    let l2_api = Api::<L2AnnouncementPolicy>::all(client.clone());
    let nodes_api = Api::<Node>::all(client.clone());
    let sva_api = Api::<ServiceAnnouncement>::namespaced(client.clone(), ns);
    let leases = Api::<Lease>::namespaced(client.clone(), ferrolb_ns);
    let events_api = Api::<Event>::namespaced(client.clone(), ns);
    let pods = Api::<Pod>::namespaced(client.clone(), ferrolb_ns);
    let (svc, namespace, slices, pools, l2, nodes, sva, lease, events, speakers) = futures::join!(
        services.get(name),
        namespaces.get_opt(ns),
        slices_api.list(&slices_lp),
        pools_api.list(&lp),
        l2_api.list(&lp),
        nodes_api.list(&lp),
        sva_api.get_opt(name),
        leases.get_opt(LEASE_NAME),
        events_api.list(&events_lp),
        pods.list(&speakers_lp),
    );
    Ok(Snapshot {
        service: svc.with_context(|| format!("reading Service {ns}/{name}"))?,
        namespace_labels: namespace
            .context("reading the namespace")?
            .and_then(|n| n.metadata.labels)
            .unwrap_or_default(),
        slices: (slices.context("listing EndpointSlices")?.items.into_iter())
            .map(|s| Arc::new(NodeSlice::from(s)))
            .collect(),
        pools: arcs(pools.context("listing VIPPools")?.items),
        l2: arcs(l2.context("listing L2AnnouncementPolicies")?.items),
        nodes: arcs(nodes.context("listing Nodes")?.items),
        announcement: sva.context("reading the ServiceAnnouncement")?,
        lease: lease.context("reading the controller's Lease")?,
        events: events.context("listing Events")?.items,
        speakers: speakers.context("listing the speakers' Pods")?.items,
        ..Snapshot::default()
    })
}

/// The facts of steps 5–7, every request at once.
async fn wire(speakers: &Speakers, t: &Targets) -> WireFacts {
    // One probe at a time per speaker (it refuses a second): each node's in turn, nodes at once.
    let mut per_node: BTreeMap<&str, Vec<(IpAddr, SocketAddr)>> = BTreeMap::new();
    for (ip, node, addr) in &t.probes {
        per_node
            .entry(node.as_str())
            .or_default()
            .push((*ip, *addr));
    }
    let probes = futures::future::join_all(per_node.into_iter().map(|(node, asks)| async move {
        let mut got = Vec::new();
        for (ip, addr) in asks {
            let path = format!("/debug/probe?address={ip}&windowMs={PROBE_WINDOW_MS}");
            got.push((
                ip,
                node.to_string(),
                speakers.get::<ProbeAnswer>(addr, &path).await,
            ));
        }
        got
    }));
    let rules = futures::future::join_all(t.rules.iter().map(|(node, ip, addr)| async move {
        let path = format!("/debug/rules?address={ip}");
        (
            (node.clone(), *ip),
            speakers.get::<RulesAnswer>(*addr, &path).await,
        )
    }));
    let health = futures::future::join_all(t.health.iter().map(|(node, addr)| async move {
        let answer = client::get(*addr, "/", None)
            .await
            .and_then(|(status, body)| {
                let mut a: HealthAnswer = serde_json::from_str(&body).map_err(|e| {
                    format!("{addr}: not kube-proxy's health answer ({e}): {body:?}")
                })?;
                a.status = status;
                Ok(a)
            });
        (node.clone(), answer)
    }));
    let proxy_health =
        futures::future::join_all(t.proxy_health.iter().map(|(node, addr)| async move {
            (
                node.clone(),
                client::get(*addr, "/healthz", None)
                    .await
                    .map(|(status, _)| status),
            )
        }));
    let (probes, rules, health, proxy_health) = futures::join!(probes, rules, health, proxy_health);
    let mut facts = WireFacts {
        rules: rules.into_iter().collect(),
        health: health.into_iter().collect(),
        proxy_health: proxy_health.into_iter().collect(),
        ..WireFacts::default()
    };
    for (ip, node, got) in probes.into_iter().flatten() {
        facts.probes.entry(ip).or_default().insert(node, got);
    }
    facts
}
