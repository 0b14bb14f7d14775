//! The dataplane supervisor: a thin task that detects kube-proxy every
//! `--dataplane-detect-interval`, feeds the pure [`Decider`] and publishes each new
//! [`Decision`] on a `watch` channel (the speaker's loop turns it into "program the rules
//! and serve the healthCheckNodePorts" or "withdraw both"). It logs each change at info with
//! the reason and keeps the `dataplane_*` metrics.

use std::future::Future;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::decider::{Decider, Decision};
use super::detect::{KubeProxy, Mode, detect_kube_proxy};
use super::nft::Nft;

/// How the supervisor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// `--dataplane`.
    pub mode: Mode,
    /// `--dataplane-detect-interval`: time between two detections (more than zero).
    pub detect_interval: Duration,
    /// `--dataplane-takeover-delay`: how long kube-proxy must stay absent before `auto`
    /// programs the node again.
    pub takeover_delay: Duration,
}

/// Labels of [`DecisionMetrics::changes`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeLabels {
    /// `nftables` or `announce-only`: what the node changed to.
    pub to: String,
}

/// The supervisor's metrics (registered by the speaker's `Metrics`).
#[derive(Debug, Clone, Default)]
pub struct DecisionMetrics {
    /// 1 while this node programs table `inet ferrolb`, else 0.
    pub programming: Gauge,
    /// Changes of the decision (the first decision is not one), by what it changed to.
    pub changes: Family<ChangeLabels, Counter>,
}

impl DecisionMetrics {
    fn record(&self, before: Option<&Decision>, now: &Decision) {
        self.programming.set(i64::from(now.enabled));
        if before.is_some_and(|b| b.enabled != now.enabled) {
            let to = now.programs().to_string();
            self.changes.get_or_create(&ChangeLabels { to }).inc();
        }
    }
}

/// Decides once with a first detection, then keeps deciding on a task (until every receiver
/// is gone) with `nft list chains` in the current network namespace (or `nft`'s).
pub async fn supervise(
    config: SupervisorConfig,
    nft: Nft,
    metrics: DecisionMetrics,
) -> (watch::Receiver<Decision>, JoinHandle<()>) {
    let detect = move || {
        let nft = nft.clone();
        async move { detect_kube_proxy(&nft).await }
    };
    supervise_with(config, detect, metrics).await
}

/// [`supervise`] with any detection (tests script one).
pub async fn supervise_with<F, Fut>(
    config: SupervisorConfig,
    mut detect: F,
    metrics: DecisionMetrics,
) -> (watch::Receiver<Decision>, JoinHandle<()>)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = KubeProxy> + Send,
{
    let mut decider = Decider::new(config.mode, config.takeover_delay);
    let seen = if decider.detects() {
        Some(detect().await)
    } else {
        None
    };
    let first = observe(&mut decider, seen, &metrics);
    let (tx, rx) = watch::channel(first);
    let task = tokio::spawn(async move {
        if !decider.detects() {
            tx.closed().await;
            return;
        }
        let every = config.detect_interval.max(Duration::from_millis(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = tx.closed() => return,
            }
            let seen = detect().await;
            let decision = observe(&mut decider, Some(seen), &metrics);
            tx.send_if_modified(|d| (*d != decision).then(|| *d = decision).is_some());
        }
    });
    (rx, task)
}

/// One detection through the decider, logged and counted.
fn observe(decider: &mut Decider, seen: Option<KubeProxy>, metrics: &DecisionMetrics) -> Decision {
    let before = decider.decision().cloned();
    let now = tokio::time::Instant::now().into_std();
    let decision = decider.observe(now, SystemTime::now(), seen).clone();
    log(before.as_ref(), &decision);
    metrics.record(before.as_ref(), &decision);
    decision
}

fn log(before: Option<&Decision>, now: &Decision) {
    let Some(before) = before else {
        info!(mode = %now.mode, programs = now.programs(), reason = %now.reason, "dataplane decision");
        return;
    };
    if before.enabled != now.enabled {
        info!(mode = %now.mode, to = now.programs(), reason = %now.reason, "dataplane decision changed");
    } else if before.reason != now.reason {
        info!(mode = %now.mode, programs = now.programs(), reason = %now.reason, "dataplane");
    }
    match (&before.kube_proxy, &now.kube_proxy) {
        (Some(KubeProxy::Unknown(old)), Some(KubeProxy::Unknown(new))) if old == new => {}
        (_, Some(KubeProxy::Unknown(error))) => warn!(%error, programs = now.programs(),
            "cannot read the node's nftables ruleset to look for kube-proxy; keeping the dataplane decision"),
        (Some(KubeProxy::Unknown(_)), Some(_)) => {
            info!("the node's nftables ruleset is readable again")
        }
        _ => {}
    }
}
