//! The health API's I/O shell: the main port (`/healthz`, `/livez` and ferrolb's
//! `/services/{namespace}/{name}`, any method, like kube-proxy's `ServeMux`) and the
//! healthCheckNodePort listeners
//! (see [`super::node_ports`]), all answering from the latest snapshot of a
//! `watch` channel, so answers follow the speaker's loop as soon as it publishes.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::any;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::answers::{self, Answer};
use super::model::{HealthSnapshot, Judge};
use super::node_ports::{self, PortStatus};
use super::requests::{HealthRequests, PathKind};
use super::serve::{self, ConnLimits};
use ferrolb_core::ServiceKey;

/// The snapshots the server answers from.
pub type SnapshotRx = watch::Receiver<Arc<HealthSnapshot>>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The main port could not be bound.
    #[error("health API: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How the health API runs.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// The main port (kube-proxy's healthz port is 10256). `0.0.0.0` listens on both
    /// families, as Go does for kube-proxy's `0.0.0.0:10256` (see [`serve::bind`]).
    pub addr: SocketAddr,
    /// Where healthCheckNodePorts are served (`0.0.0.0` or `[::]` for every node address,
    /// like kube-proxy), while the snapshot's `serve_node_ports` says so; `None`: never
    /// (`--dataplane=announce-only`).
    pub node_port_ip: Option<IpAddr>,
    /// Health timeout for pending rule changes.
    pub judge: Judge,
    /// Bounds of the main port.
    pub main_limits: ConnLimits,
    /// Bounds of each healthCheckNodePort listener.
    pub node_port_limits: ConnLimits,
    /// How often healthCheckNodePorts that failed to bind are tried again.
    pub bind_retry: Duration,
    /// Where every request is counted, by kind of path and code.
    pub requests: HealthRequests,
}

impl HealthConfig {
    /// Defaults: no healthCheckNodePorts, 60 s health timeout, 5 s to send headers, 60 s per
    /// connection, 64 connections on the main port and 32 per healthCheckNodePort, binds retried
    /// every second, requests counted in a counter of its own (not registered).
    pub fn new(addr: SocketAddr) -> HealthConfig {
        HealthConfig {
            addr,
            node_port_ip: None,
            judge: Judge::default(),
            main_limits: ConnLimits {
                max_connections: 64,
                header_read_timeout: Duration::from_secs(5),
                connection_lifetime: Duration::from_secs(60),
            },
            node_port_limits: ConnLimits {
                max_connections: 32,
                header_read_timeout: Duration::from_secs(5),
                connection_lifetime: Duration::from_secs(60),
            },
            bind_retry: Duration::from_secs(1),
            requests: HealthRequests::default(),
        }
    }
}

/// Starts the health API.
pub struct HealthServer;

impl HealthServer {
    /// Binds `config.addr` and serves the health API from `rx`'s latest snapshot; with `config.node_port_ip`, also keeps one listener per
    /// healthCheckNodePort in the snapshot while it says to serve them. Must run inside a Tokio runtime. Only the main
    /// port failing to bind is an error; healthCheckNodePorts that cannot be bound are logged
    /// and listed by [`HealthHandle::ports_failed`].
    pub async fn spawn(config: HealthConfig, rx: SnapshotRx) -> Result<HealthHandle, HealthError> {
        let bind_err = |source| HealthError::Bind {
            addr: config.addr,
            source,
        };
        let listener = serve::bind(config.addr).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        info!(addr = %local_addr, "health API listening");
        let state = MainState {
            rx: rx.clone(),
            judge: config.judge,
            requests: config.requests.clone(),
        };
        let mut tasks = vec![tokio::spawn(serve::serve(
            listener,
            main_router(state),
            config.main_limits,
        ))];
        let status = Arc::new(Mutex::new(PortStatus::default()));
        if let Some(ip) = config.node_port_ip {
            let listening = node_ports::Listening {
                ip,
                limits: config.node_port_limits,
                judge: config.judge,
                bind_retry: config.bind_retry,
                requests: config.requests.clone(),
            };
            let manager = node_ports::Manager::new(listening, rx, status.clone());
            tasks.push(tokio::spawn(manager.run()));
        }
        Ok(HealthHandle {
            local_addr,
            status,
            tasks,
        })
    }
}

/// The running health API. Dropping it (or [`shutdown`](Self::shutdown)) stops every listener.
#[derive(Debug)]
pub struct HealthHandle {
    local_addr: SocketAddr,
    status: Arc<Mutex<PortStatus>>,
    tasks: Vec<JoinHandle<()>>,
}

impl HealthHandle {
    /// The main port's bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// healthCheckNodePorts being served, ascending.
    pub fn ports_open(&self) -> Vec<u16> {
        self.read_status(|s| s.open.iter().copied().collect())
    }

    /// healthCheckNodePorts wanted but not bound, with the error, ascending by port.
    pub fn ports_failed(&self) -> Vec<(u16, String)> {
        self.read_status(|s| s.failed.iter().map(|(p, e)| (*p, e.clone())).collect())
    }

    /// Stops every listener and closes their connections.
    pub fn shutdown(self) {}

    fn read_status<T>(&self, f: impl FnOnce(&PortStatus) -> T) -> T {
        let guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

impl Drop for HealthHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[derive(Clone)]
struct MainState {
    rx: SnapshotRx,
    judge: Judge,
    requests: HealthRequests,
}

impl MainState {
    fn snapshot(&self) -> Arc<HealthSnapshot> {
        self.rx.borrow().clone()
    }

    /// `answer` as a response, counted under `kind`.
    fn respond(&self, kind: PathKind, answer: Answer) -> Response {
        self.requests.count(kind, answer.status);
        respond(answer)
    }
}

fn main_router(state: MainState) -> Router {
    Router::new()
        .route("/healthz", any(healthz))
        .route("/livez", any(livez))
        .route("/services/{namespace}/{name}", any(service))
        .fallback(not_found)
        .with_state(state)
}

async fn healthz(State(s): State<MainState>) -> Response {
    let answer = answers::healthz(&s.snapshot(), &s.judge, SystemTime::now());
    s.respond(PathKind::Healthz, answer)
}

async fn livez(State(s): State<MainState>) -> Response {
    let answer = answers::livez(&s.snapshot(), &s.judge, SystemTime::now());
    s.respond(PathKind::Livez, answer)
}

async fn service(
    State(s): State<MainState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let key = ServiceKey::new(namespace, name);
    let answer = answers::service(&s.snapshot(), &s.judge, SystemTime::now(), &key);
    s.respond(PathKind::Service, answer)
}

async fn not_found(State(s): State<MainState>) -> Response {
    s.respond(PathKind::Other, answers::not_found())
}

/// Turns a pure [`Answer`] into a response; a header that is not valid HTTP is dropped.
pub(super) fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    for (name, value) in answer.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(n), Ok(v)) => {
                response.headers_mut().insert(n, v);
            }
            _ => warn!(header = name, "health API: invalid header dropped"),
        }
    }
    response
}
