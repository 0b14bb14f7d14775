//! The speaker's private endpoints, `/metrics` and `/debug/state` (the node's whole desired
//! and observed state), served by `ferrolb_runtime::access` on their own listener behind a
//! TokenReview and a SubjectAccessReview, never on the health port load balancers reach.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use prometheus_client::registry::Registry;

use super::answers;
use super::server::{SnapshotRx, respond};

#[derive(Clone)]
struct AdminState {
    rx: SnapshotRx,
    registry: Arc<Registry>,
}

/// `/metrics` (the registry as OpenMetrics text) and `/debug/state` (the latest snapshot's
/// document); other paths 404.
pub fn router(rx: SnapshotRx, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/state", get(debug_state))
        .with_state(AdminState { rx, registry })
}

async fn metrics(State(s): State<AdminState>) -> Response {
    ferrolb_runtime::metrics::response(&s.registry)
}

async fn debug_state(State(s): State<AdminState>) -> Response {
    let snapshot = s.rx.borrow().clone();
    respond(answers::debug_state(&snapshot))
}
