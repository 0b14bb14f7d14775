//! One listener per healthCheckNodePort in the snapshot, opened when a port appears, closed
//! when it goes (kube-proxy's `ServiceHealthServer.SyncServices`). Each answers every path
//! and method with its Service's answer, like kube-proxy's `hcHandler`
//! (kubernetes `pkg/proxy/healthcheck/service_health.go`). A port that cannot be bound is
//! logged once, listed in [`PortStatus::failed`] and tried again every `bind_retry`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::answers;
use super::model::Judge;
use super::requests::{HealthRequests, PathKind};
use super::serve::{self, ConnLimits};
use super::server::{SnapshotRx, respond};
use ferrolb_core::ServiceKey;

/// Which healthCheckNodePorts are served and which failed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// Bound and serving.
    pub open: BTreeSet<u16>,
    /// Wanted but not bound, with the error.
    pub failed: BTreeMap<u16, String>,
}

/// How the healthCheckNodePort listeners are opened and served.
#[derive(Debug, Clone)]
pub(super) struct Listening {
    /// The address every port is bound on.
    pub ip: IpAddr,
    /// Connection limits of each listener.
    pub limits: ConnLimits,
    /// How each Service's answer is judged.
    pub judge: Judge,
    /// Pause before binding a failed port again.
    pub bind_retry: Duration,
    /// Where every request is counted (as `node_port`).
    pub requests: HealthRequests,
}

/// Keeps the listeners in line with the snapshots.
pub(super) struct Manager {
    listening: Listening,
    rx: SnapshotRx,
    status: Arc<Mutex<PortStatus>>,
    listeners: BTreeMap<u16, JoinHandle<()>>,
    conflicts: Vec<(u16, ServiceKey)>,
}

impl Manager {
    pub(super) fn new(
        listening: Listening,
        rx: SnapshotRx,
        status: Arc<Mutex<PortStatus>>,
    ) -> Manager {
        Manager {
            listening,
            rx,
            status,
            listeners: BTreeMap::new(),
            conflicts: Vec::new(),
        }
    }

    /// Syncs on every new snapshot (and every `bind_retry` while a port failed) until the
    /// sender is gone; then keeps the last listeners until aborted.
    pub(super) async fn run(mut self) {
        loop {
            self.sync();
            let retry = !self.lock_status().failed.is_empty();
            tokio::select! {
                changed = self.rx.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(self.listening.bind_retry), if retry => {}
            }
        }
        std::future::pending::<()>().await;
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, PortStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sync(&mut self) {
        let snapshot = self.rx.borrow_and_update().clone();
        let (owners, conflicts) = snapshot.node_ports();
        if conflicts != self.conflicts {
            for (port, service) in &conflicts {
                warn!(port, %service, "healthCheckNodePort already used by another Service; ignored");
            }
            self.conflicts = conflicts;
        }
        self.listeners.retain(|port, task| {
            let keep = owners.contains_key(port) && !task.is_finished();
            if !keep {
                task.abort();
                info!(port, "healthCheckNodePort closed");
            }
            keep
        });
        let mut failed = BTreeMap::new();
        let previously_failed = self.lock_status().failed.clone();
        for (port, service) in owners {
            if self.listeners.contains_key(&port) {
                continue;
            }
            let addr = SocketAddr::new(self.listening.ip, port);
            match serve::bind(addr) {
                Ok(listener) => {
                    info!(port, %service, "healthCheckNodePort open");
                    let router = port_router(PortState {
                        rx: self.rx.clone(),
                        judge: self.listening.judge,
                        port,
                        opened_for: service,
                        requests: self.listening.requests.clone(),
                    });
                    let task = tokio::spawn(serve::serve(listener, router, self.listening.limits));
                    self.listeners.insert(port, task);
                }
                Err(error) => {
                    if !previously_failed.contains_key(&port) {
                        warn!(port, %service, %error, "healthCheckNodePort cannot be bound; retrying");
                    }
                    failed.insert(port, error.to_string());
                }
            }
        }
        let mut status = self.lock_status();
        status.open = self.listeners.keys().copied().collect();
        status.failed = failed;
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        for task in self.listeners.values() {
            task.abort();
        }
    }
}

#[derive(Clone)]
struct PortState {
    rx: SnapshotRx,
    judge: Judge,
    port: u16,
    /// Answered for if the port has no owner any more (the listener is about to close).
    opened_for: ServiceKey,
    requests: HealthRequests,
}

fn port_router(state: PortState) -> Router {
    Router::new().fallback(port_answer).with_state(state)
}

/// Any path, any method: the answer of the Service that owns the port now.
async fn port_answer(State(s): State<PortState>) -> Response {
    let snapshot = s.rx.borrow().clone();
    let owner = snapshot
        .services
        .iter()
        .find(|(_, svc)| svc.health_check_node_port == Some(s.port))
        .map_or(&s.opened_for, |(key, _)| key);
    let answer = answers::service(&snapshot, &s.judge, SystemTime::now(), owner);
    s.requests.count(PathKind::NodePort, answer.status);
    respond(answer)
}
