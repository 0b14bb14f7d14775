//! `kubectl ferrolb why`: the I/O around [`super::diagnose`]. Reads the snapshot in one round
//! of concurrent requests, prints text or JSON, and exits 1 when the Service is not served.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use ferrolb_api::names::DEFAULT_NAMESPACE;
use ferrolb_api::{L2AnnouncementPolicy, ServiceAnnouncement, VIPPool};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::{Api, Client};

use super::{Snapshot, diagnose, render};

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
    let snap = snapshot(&client, &ns, &args.service, &args.ferrolb_namespace).await?;
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
    let slices_lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
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
        slices: arcs(slices.context("listing EndpointSlices")?.items),
        pools: arcs(pools.context("listing VIPPools")?.items),
        l2: arcs(l2.context("listing L2AnnouncementPolicies")?.items),
        nodes: arcs(nodes.context("listing Nodes")?.items),
        announcement: sva.context("reading the ServiceAnnouncement")?,
        lease: lease.context("reading the controller's Lease")?,
        events: events.context("listing Events")?.items,
        speakers: speakers.context("listing the speakers' Pods")?.items,
    })
}
