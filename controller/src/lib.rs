//! ferrolb controller: IP allocation from VIPPools and externalIPs policy.
//!
//! One direction, inputs to I/O:
//! - [`inputs`]: a snapshot of the watched objects ([`inputs::Watched`]) and its translation
//!   into plain inputs; [`owned_fields`]: the fields the controller owns on a Service;
//! - pure planning: [`ipam`] (allocation), [`externalips`] (the externalIPs review),
//!   [`plan`] (each Service's fields, the externalIPs condition, pool status);
//! - [`diff`]: what differs from what the cluster shows: the writes and events;
//! - [`decision`]: the pure function tying the three together;
//! - I/O shells: [`watches`] (reflectors), [`control_loop`], [`apply`] (server-side apply and
//!   events), [`leader`], [`http`], [`metrics`], and the admission [`webhook`], which shares
//!   only pure parts ([`inputs`], [`externalips`], [`admission_stamp`]) with the loop.
//!
//! [`run`] wires them.
#![forbid(unsafe_code)]

pub mod admission_stamp;
pub mod allocation_keys;
pub mod apply;
pub mod cli;
pub mod control_loop;
pub mod decision;
pub mod diff;
pub mod echoes;
pub mod externalips;
pub mod http;
pub mod inputs;
pub mod ipam;
pub mod leader;
pub mod metrics;
pub mod owned_fields;
pub mod plan;
pub mod retries;
pub mod uninstall;
pub mod watches;
pub mod webhook;

use std::sync::Arc;

use ferrolb_core::names::MANAGER_CONTROLLER;
use kube::Client;
use kube::runtime::events::Reporter;
use tokio::sync::watch;
use tracing::{error, info};

/// Errors that stop the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag combination is wrong.
    #[error("invalid flags: {0}")]
    Flags(String),
    /// No usable kubeconfig or in-cluster configuration.
    #[error("connecting to the Kubernetes API: {0}")]
    Client(#[source] kube::Error),
    /// The health server could not listen.
    #[error("listening on {addr} for /metrics, /healthz and /readyz: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the controller until SIGTERM or SIGINT; then stops writing, releases the leader lease
/// and returns.
pub async fn run(args: cli::Args) -> Result<(), Error> {
    args.validate().map_err(Error::Flags)?;
    let client = Client::try_default().await.map_err(Error::Client)?;
    let identity = args.identity();
    let metrics = Arc::new(metrics::Metrics::new());
    let health = Arc::new(http::Health::default());
    let listener =
        ferrolb_runtime::listen::bind(args.health_addr).map_err(|source| Error::Listen {
            addr: args.health_addr,
            source,
        })?;
    let router = http::router(metrics.clone(), health.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            error!(error = %e, "health server stopped");
        }
    });

    let (shutdown_tx, shutdown) = watch::channel(false);
    let (leader_tx, leader_rx) = watch::channel(false);
    let lease = leader::LeaseConfig {
        namespace: args.namespace.clone(),
        name: args.lease_name.clone(),
        identity: identity.clone(),
        duration: args.lease_duration.as_secs(),
        grace: args.lease_grace.as_secs(),
    };
    let election = tokio::spawn(leader::run(
        client.clone(),
        lease,
        shutdown.clone(),
        leader_tx,
    ));
    let (stores, changed) = watches::start(&client);
    let config = decision::Config {
        default_class: args.default_class,
        service_cidrs: args.service_cidrs.clone(),
        metallb_annotations: args.metallb_annotations,
    };
    // The allocation proof keys: loaded (or created) by every replica, read by the loop.
    let (proof_keys_tx, proof_keys) = watch::channel(None);
    tokio::spawn(allocation_keys::run(
        client.clone(),
        args.namespace.clone(),
        proof_keys_tx,
        shutdown.clone(),
    ));
    // The webhook loads the admission stamp key from its Secret; the loop reads it.
    let (stamp_key_tx, stamp_key) = watch::channel(None);
    if args.webhook {
        let cfg = webhook::WebhookConfig {
            configuration: args.webhook_configuration.clone(),
            namespace: args.namespace.clone(),
            service: args.webhook_service.clone(),
            service_port: args.webhook_service_port,
            secret: args.webhook_secret.clone(),
            failure_policy: args.webhook_failure_policy.as_str().to_string(),
            owner: args.webhook_owner.clone(),
        };
        let listener = webhook::tls::bind(args.webhook_addr)
            .await
            .map_err(|source| Error::Listen {
                addr: args.webhook_addr,
                source,
            })?;
        tokio::spawn(webhook::run(
            cfg,
            listener,
            webhook::Deps {
                client: client.clone(),
                snapshot: {
                    let stores = stores.clone();
                    Arc::new(move || stores.snapshot())
                },
                service_cidrs: config.service_cidrs.clone(),
                stamp_key: stamp_key_tx,
                leader: leader_rx.clone(),
                health: health.clone(),
                shutdown: shutdown.clone(),
            },
        ));
    }
    let ctx = control_loop::Context {
        reporter: Reporter {
            controller: MANAGER_CONTROLLER.into(),
            instance: Some(identity.clone()),
        },
        client,
        metrics,
        health,
        config,
        stamp_key,
        proof_keys,
        concurrency: usize::try_from(args.write_concurrency).unwrap_or(32),
        resync: args.resync,
    };
    let control = tokio::spawn(control_loop::run(
        ctx,
        stores,
        changed,
        leader_rx,
        shutdown.clone(),
    ));
    info!(identity = %identity, "ferrolb-controller started");
    ferrolb_runtime::shutdown_signal().await;
    info!("stopping: handing over leadership");
    shutdown_tx.send_replace(true);
    let _ = control.await;
    match election.await {
        Ok(Err(e)) => error!(error = %e, "leader election"),
        Err(e) => error!(error = %e, "leader election task"),
        Ok(Ok(())) => {}
    }
    Ok(())
}
