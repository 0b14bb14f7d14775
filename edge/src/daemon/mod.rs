//! The edge's run loop: reflectors → snapshot → [`frontends::desired`] → the engine
//! (addresses, listeners, probes) and the Service conditions.
//!
//! A pass runs on every watched change, on every health flip (so conditions follow within a
//! probe), and every [`RESYNC`] (addresses someone removed come back, listeners that failed to
//! bind are tried again, failed condition writes are retried). On SIGTERM or SIGINT the edge
//! closes its listeners and removes every address it owns, so nothing is left on the host.

pub mod cli;
mod watches;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use serde_json::json;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use ferrolb_runtime::access::{self, Gate, KubeReviewer};
use ferrolb_runtime::pace;

use crate::addresses::AddressError;
use crate::engine::Engine;
use crate::frontends::{self, Desired, Frontend, Options};
use crate::metrics::Metrics;
use crate::server::{self, Board, ServerError};
use crate::status::{self, writer};

pub use cli::Args;

/// Longest time between two passes.
pub const RESYNC: Duration = Duration::from_secs(10);

/// Why the edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No Kubernetes client configuration.
    #[error("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {0}")]
    Client(#[source] kube::Error),
    /// The HTTP port.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The port of `/metrics` and `/debug/state`.
    #[error(transparent)]
    Private(#[from] access::ListenError),
    /// The interface.
    #[error("the frontend interface: {0}")]
    Interface(#[from] AddressError),
}

/// Runs the edge until SIGTERM or SIGINT.
pub async fn run(args: Args) -> Result<(), StartError> {
    let client = Client::try_default().await.map_err(StartError::Client)?;
    let (metrics, registry) = Metrics::new();
    let board = Arc::new(Board::default());
    let (_server, _) = server::spawn(args.listen, board.clone()).await?;
    let (_, _private) = access::serve(
        args.metrics_addr,
        server::private_router(board.clone(), Arc::new(registry)),
        Arc::new(Gate::new(KubeReviewer::new(client.clone()))),
    )
    .await?;
    let health_changed = Arc::new(Notify::new());
    let mut engine = Engine::start(
        &args.engine_config(),
        metrics.clone(),
        health_changed.clone(),
    )
    .await?;
    board.set_engine(engine.view());

    let changed = Arc::new(Notify::new());
    let stores = watches::Stores::start(&client, &args.namespace, changed.clone());
    let mut shutdown = Box::pin(ferrolb_runtime::shutdown_signal());
    tokio::select! {
        () = stores.synced() => {}
        () = &mut shutdown => return Ok(()),
    }
    info!(interface = %args.interface, "watches synced");

    let (status_tx, status_rx) = watch::channel(Arc::new(Vec::new()));
    let _writer = writer::spawn(client, status_rx, metrics.status_writes.clone());
    let opts = Options {
        health_port: args.health_port,
    };
    let mut resync = tokio::time::interval(RESYNC);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_warnings = None;
    loop {
        let started = Instant::now();
        let desired = pace::off_the_runtime(|| frontends::desired(&stores.snapshot(), opts));
        if last_warnings.as_ref() != Some(&desired.warnings) {
            for w in &desired.warnings {
                warn!(service = %w.service, warning = %w.message, "not served");
            }
            last_warnings = Some(desired.warnings.clone());
        }
        engine.apply(&desired.frontends, &desired.edge_ranges).await;
        let writes = condition_writes(&desired, &engine);
        if !writes.is_empty() || !status_tx.borrow().is_empty() {
            status_tx.send_replace(Arc::new(writes));
        }
        board.set_cluster(cluster_debug(&desired));
        board.set_synced();

        // Object changes wait for this pass to cool down (ferrolb_runtime::pace); a node's
        // health flipping passes at once.
        let next = pace::next_pass_at(Instant::now(), started.elapsed());
        tokio::select! {
            () = changed.notified() => tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = health_changed.notified() => {}
                () = &mut shutdown => break,
            },
            () = health_changed.notified() => {}
            _ = resync.tick() => {}
            () = &mut shutdown => break,
        }
    }

    info!(interface = %args.interface, "stopping: closing listeners and removing the frontend addresses");
    match engine.shutdown().await {
        Ok(0) => info!("stopped; no address left behind"),
        Ok(n) => warn!(failed = n, "stopped; some addresses could not be removed"),
        Err(error) => warn!(%error, "stopped; the interface's addresses could not be read"),
    }
    Ok(())
}

/// The condition writes of this pass (only where the object shows something else).
fn condition_writes(desired: &Desired, engine: &Engine) -> Vec<writer::Write> {
    // Whole seconds: what the API keeps, so the watched object compares equal.
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .map(Time)
        .unwrap_or_else(|_| Time(jiff::Timestamp::now()));
    let mut writes = Vec::new();
    for (key, outcome) in &desired.services {
        let mine: Vec<&Frontend> = desired
            .frontends
            .iter()
            .filter(|f| &f.service == key)
            .collect();
        // Before every node was probed once the count would be wrong for a moment (and
        // written twice); each first result wakes the loop again.
        let unprobed = mine
            .iter()
            .any(|f| f.candidates.iter().any(|c| !engine.probed(f, c)));
        if unprobed {
            continue;
        }
        let want = status::condition(outcome, &mine, |f, c| engine.healthy(f, c));
        if let Some(body) = status::body(outcome, &want, &now) {
            writes.push(writer::Write {
                service: key.clone(),
                body,
            });
        }
    }
    writes.extend(desired.release.iter().map(|key| writer::Write {
        service: key.clone(),
        body: status::release_body(),
    }));
    writes
}

/// The run loop's part of `/debug/state`.
fn cluster_debug(desired: &Desired) -> serde_json::Value {
    let warnings: Vec<String> = desired.warnings.iter().map(ToString::to_string).collect();
    let released: BTreeSet<String> = desired.release.iter().map(ToString::to_string).collect();
    let services: serde_json::Map<String, serde_json::Value> = desired
        .services
        .iter()
        .map(|(k, o)| (k.to_string(), json!(o)))
        .collect();
    json!({
        "services": services,
        "nodes": desired.nodes,
        "edgePools": desired.edge_ranges,
        "warnings": warnings,
        "releasing": released,
    })
}
