//! The metrics and health server: `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;
use std::sync::Mutex;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::metrics::Metrics;

/// What the health endpoints report; written by the control loop.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<HealthState>,
}

#[derive(Debug, Default, Clone)]
struct HealthState {
    synced: bool,
    leader: bool,
    not_ready: Option<String>,
    webhook: Option<String>,
}

impl Health {
    /// Records that every watch has listed its objects once.
    pub fn set_synced(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.synced = true;
        }
    }

    /// Records the leadership state.
    pub fn set_leader(&self, leader: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.leader = leader;
        }
    }

    /// Records why the controller cannot work (`None`: it can).
    pub fn set_problem(&self, problem: Option<String>) {
        if let Ok(mut s) = self.state.lock() {
            s.not_ready = problem;
        }
    }

    /// Records the webhook's problem (`None`: serving, and the apiserver reaches it).
    pub fn set_webhook(&self, problem: Option<String>) {
        if let Ok(mut s) = self.state.lock() {
            s.webhook = problem;
        }
    }

    fn snapshot(&self) -> HealthState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// The router (exposed for tests).
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

async fn metrics_text(State(s): State<AppState>) -> axum::response::Response {
    ferrolb_runtime::metrics::response(&s.metrics.registry)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    let h = s.health.snapshot();
    let role = if h.leader { "leader" } else { "standby" };
    match (&h.not_ready, h.synced) {
        (Some(problem), _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {problem}\n"),
        ),
        (None, false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the first list of Services, VIPPools, Namespaces and Nodes\n"
                .to_string(),
        ),
        (None, true) => {
            // The webhook's reachability is reported, not required: readiness gates the
            // webhook Service's endpoints, so requiring it would never let it start.
            let webhook = h.webhook.as_deref().map_or_else(
                || "webhook: serving, reached by the apiserver".to_string(),
                |p| format!("webhook: {p}"),
            );
            (StatusCode::OK, format!("ok ({role})\n{webhook}\n"))
        }
    }
}
