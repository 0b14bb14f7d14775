//! Health probes: one task per distinct target, each sending `GET` over HTTP/1.1 every
//! interval (a fresh connection each time, like cloud load balancers) and feeding the outcome
//! to the shared [`HealthBook`]. A target's state flipping (or its first result) wakes the run
//! loop (`changed`), so the Service condition follows; the proxy reads the book on every new
//! connection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::Empty;
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::info;

use crate::health::{HealthBook, Outcome, ProbeTarget, Thresholds};
use crate::metrics::{Metrics, ProbeLabels};

/// Probe timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Time between the starts of two probes of one target.
    pub interval: Duration,
    /// Time a probe may take (connect, request and response head).
    pub timeout: Duration,
    /// Flip thresholds.
    pub thresholds: Thresholds,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            thresholds: Thresholds::default(),
        }
    }
}

/// The health book shared by the prober, the proxy and `/debug/state`.
#[derive(Debug, Clone)]
pub struct SharedHealth(Arc<Mutex<HealthBook>>);

impl SharedHealth {
    /// An empty book.
    pub fn new(thresholds: Thresholds) -> SharedHealth {
        SharedHealth(Arc::new(Mutex::new(HealthBook::new(thresholds))))
    }

    /// Locks the book (a panic while holding it cannot leave it inconsistent: every update is
    /// one assignment).
    pub fn lock(&self) -> MutexGuard<'_, HealthBook> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps one probing task per wanted target.
#[derive(Debug)]
pub struct Prober {
    config: ProbeConfig,
    health: SharedHealth,
    changed: Arc<Notify>,
    metrics: Metrics,
    tasks: BTreeMap<ProbeTarget, JoinHandle<()>>,
}

impl Prober {
    /// A prober without targets; `changed` is notified whenever a target's state flips.
    pub fn new(config: ProbeConfig, metrics: Metrics, changed: Arc<Notify>) -> Prober {
        Prober {
            health: SharedHealth::new(config.thresholds),
            config,
            changed,
            metrics,
            tasks: BTreeMap::new(),
        }
    }

    /// The book the tasks feed.
    pub fn health(&self) -> SharedHealth {
        self.health.clone()
    }

    /// The probe timing.
    pub fn config(&self) -> ProbeConfig {
        self.config
    }

    /// Probes exactly `wanted` from now on (new targets start `Unknown`). Must run inside a
    /// Tokio runtime.
    pub fn sync(&mut self, wanted: &BTreeSet<ProbeTarget>) {
        self.health.lock().retain(wanted);
        self.tasks.retain(|target, task| {
            let keep = wanted.contains(target);
            if !keep {
                task.abort();
                self.metrics.forget_target(target);
            }
            keep
        });
        for target in wanted {
            if !self.tasks.contains_key(target) {
                let task = tokio::spawn(probe_loop(
                    target.clone(),
                    self.config,
                    self.health.clone(),
                    self.changed.clone(),
                    self.metrics.clone(),
                ));
                self.tasks.insert(target.clone(), task);
            }
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

async fn probe_loop(
    target: ProbeTarget,
    config: ProbeConfig,
    health: SharedHealth,
    changed: Arc<Notify>,
    metrics: Metrics,
) {
    // A zero period would make tokio panic; a millisecond is already far below any sane value.
    let mut tick = tokio::time::interval(config.interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome = probe(&target, config.timeout).await;
        let result = if outcome.ok { "ok" } else { "fail" };
        metrics
            .probes
            .get_or_create(&ProbeLabels {
                target: target.to_string(),
                result: result.into(),
            })
            .inc();
        metrics.probe_seconds.observe(outcome.took.as_secs_f64());
        let detail = outcome.detail.clone();
        let (flipped, first, state) = {
            let mut book = health.lock();
            let first = book.get(&target).is_some_and(|h| h.last.is_none());
            let flipped = book.record(&target, outcome);
            (flipped, first, book.get(&target).map(|h| h.state))
        };
        if flipped {
            info!(%target, ?state, %detail, "health changed");
        }
        // A first result also wakes the loop: conditions wait until every node was probed.
        if flipped || first {
            changed.notify_one();
        }
    }
}

/// One probe: `GET` within `timeout`; ok on status 200.
pub async fn probe(target: &ProbeTarget, timeout: Duration) -> Outcome {
    let at = SystemTime::now();
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, get(target)).await;
    let took = started.elapsed();
    let (ok, detail) = match result {
        Ok(Ok(status)) => (status == 200, status.to_string()),
        Ok(Err(e)) => (false, e),
        Err(_) => (
            false,
            format!("timeout after {}", humantime::format_duration(timeout)),
        ),
    };
    Outcome {
        ok,
        detail,
        at,
        took,
    }
}

/// Sends the request; returns the status code or what failed.
async fn get(target: &ProbeTarget) -> Result<hyper::StatusCode, String> {
    let stream = TcpStream::connect(target.addr())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let request = Request::get(target.path.as_str())
        .header(HOST, target.addr().to_string())
        .header(
            USER_AGENT,
            concat!("ferrolb-edge/", env!("CARGO_PKG_VERSION")),
        )
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let mut conn = std::pin::pin!(conn);
    let mut response = std::pin::pin!(sender.send_request(request));
    let response = tokio::select! {
        response = &mut response => response,
        ended = &mut conn => match ended {
            // The connection may end (Connection: close) in the same poll that delivered the
            // answer: the request's future has it, or fails if it never came.
            Ok(()) => response.await,
            Err(e) => return Err(format!("http: {e}")),
        },
    };
    response
        .map(|r| r.status())
        .map_err(|e| format!("http: {e}"))
}

#[cfg(test)]
#[path = "prober_tests.rs"]
mod tests;
