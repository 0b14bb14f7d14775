//! ferrolb controller: IP allocation from IPPools and externalIPs policy.
//!
//! Pure cores ([`ipam`], [`externalips`], [`snapshot`], [`desired`], [`observed`],
//! [`poolstatus`], [`actions`]) and thin I/O shells around them ([`reconciler`], [`writer`],
//! [`leader`], [`http`]). [`run`] wires them.
#![forbid(unsafe_code)]

pub mod actions;
pub mod admitted;
pub mod cli;
pub mod desired;
pub mod externalips;
pub mod facts;
pub mod http;
pub mod ipam;
pub mod leader;
pub mod metrics;
pub mod observed;
pub mod poolreview;
pub mod poolstatus;
pub mod reconciler;
pub mod snapshot;
pub mod webhook;
pub mod writer;

use std::sync::Arc;

use ferrolb_api::names::MANAGER_CONTROLLER;
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
    let listener = tokio::net::TcpListener::bind(args.health_addr)
        .await
        .map_err(|source| Error::Listen {
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
    let (stores, changed) = reconciler::start_watches(&client);
    let settings = actions::Settings {
        default_class: args.default_class,
        service_cidrs: args.service_cidrs.clone(),
        stamp_key: Default::default(),
    };
    if args.webhook {
        let cfg = webhook::WebhookConfig {
            configuration: args.webhook_configuration.clone(),
            namespace: args.namespace.clone(),
            service: args.webhook_service.clone(),
            service_port: args.webhook_service_port,
            secret: args.webhook_secret.clone(),
            failure_policy: args.webhook_failure_policy.as_str().to_string(),
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
                stores: stores.clone(),
                settings: settings.clone(),
                leader: leader_rx.clone(),
                health: health.clone(),
                shutdown: shutdown.clone(),
            },
        ));
    }
    let ctx = reconciler::Context {
        reporter: Reporter {
            controller: MANAGER_CONTROLLER.into(),
            instance: Some(identity.clone()),
        },
        client,
        metrics,
        health,
        settings,
        concurrency: usize::try_from(args.write_concurrency).unwrap_or(32),
        resync: args.resync,
    };
    let control = tokio::spawn(reconciler::run(
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

#[cfg(test)]
mod tests_shell;
