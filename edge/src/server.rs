//! The edge's own HTTP ports: `--listen` serves `/healthz` (200 once the watches synced and
//! the first apply ran, else 503) to anyone; `--metrics-addr` serves `/metrics` (Prometheus
//! text) and `/debug/state` (JSON: the data plane rendered live — frontends, backends, last
//! health results with times — plus what the run loop last computed: Services, Nodes,
//! warnings, conditions) only to reviewed tokens (`ferrolb_runtime::access`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::engine::EngineView;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ServerError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// What the server answers from; the run loop fills it.
#[derive(Debug, Default)]
pub struct Board {
    synced: AtomicBool,
    engine: Mutex<Option<EngineView>>,
    cluster: Mutex<Value>,
}

impl Board {
    /// Marks the edge synced (`/healthz` 200).
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Relaxed);
    }

    /// Whether the edge is synced.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// The data plane to render.
    pub fn set_engine(&self, view: EngineView) {
        *self.engine.lock().unwrap_or_else(|e| e.into_inner()) = Some(view);
    }

    /// The run loop's part (an object; its keys are merged into `/debug/state`).
    pub fn set_cluster(&self, value: Value) {
        *self.cluster.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }

    /// The whole `/debug/state` document.
    pub fn debug_state(&self) -> Value {
        let engine = self
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut doc = json!({
            "synced": self.synced(),
            "dataPlane": engine.map(|e| e.render()),
        });
        let cluster = self
            .cluster
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), cluster) {
            doc.extend(extra);
        }
        doc
    }
}

#[derive(Clone)]
struct AppState {
    board: Arc<Board>,
    registry: Arc<Registry>,
}

/// The private routes, `/metrics` and `/debug/state`, to serve behind the access review.
pub fn private_router(board: Arc<Board>, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/state", get(debug_state))
        .with_state(AppState { board, registry })
}

/// Binds `addr` and serves `/healthz` until the returned task is aborted.
pub async fn spawn(
    addr: SocketAddr,
    board: Arc<Board>,
) -> Result<(JoinHandle<()>, SocketAddr), ServerError> {
    let err = |source| ServerError { addr, source };
    let listener = ferrolb_runtime::listen::bind(addr).map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    info!(addr = %local, "serving /healthz");
    let app = Router::new()
        .route("/healthz", get(healthz))
        .with_state(board);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            warn!(%error, "the HTTP server stopped");
        }
    });
    Ok((task, local))
}

async fn healthz(State(board): State<Arc<Board>>) -> Response {
    if board.synced() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not synced yet\n").into_response()
    }
}

async fn debug_state(State(s): State<AppState>) -> Response {
    axum::Json(s.board.debug_state()).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    ferrolb_runtime::metrics::response(&s.registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_merges_the_run_loops_part() {
        let board = Board::default();
        assert!(!board.synced());
        board.set_cluster(json!({"warnings": ["web/x: no nodePort"]}));
        board.set_synced();
        assert_eq!(
            board.debug_state(),
            json!({"synced": true, "dataPlane": null, "warnings": ["web/x: no nodePort"]})
        );
    }
}
