//! The edge's data plane as one object: frontend addresses, listeners and health probes,
//! brought in line with a list of [`Frontend`]s by [`Engine::apply`]. The run loop feeds it
//! from the cluster; tests feed it hand-built frontends.
//!
//! Order of one apply: add the new addresses, sync the listeners (open, update in place,
//! close), remove the addresses no longer wanted, then sync the probes. Everything runs in
//! the calling thread's network namespace (the edge host's).

mod view;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::Notify;
use tracing::warn;

use crate::addresses::{AddressError, Addresses};
use crate::frontends::{Candidate, EdgeRanges, Frontend};
use crate::health::ProbeTarget;
use crate::metrics::{FrontendLabels, Metrics};
use crate::prober::{ProbeConfig, Prober, SharedHealth};
use crate::proxy::{Proxy, ProxyOptions};

pub use view::{BackendView, DataPlaneView, EngineView, FrontendView};

/// How the data plane runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The interface that carries the frontend addresses.
    pub interface: String,
    /// Health probes.
    pub probe: ProbeConfig,
    /// Listeners.
    pub proxy: ProxyOptions,
}

/// Addresses, listeners and probes.
pub struct Engine {
    addresses: Addresses,
    proxy: Proxy,
    prober: Prober,
    metrics: Metrics,
    view: EngineView,
}

impl Engine {
    /// Opens the interface (in the network namespace of the thread that polls this future;
    /// every later address change goes through the netlink socket opened here); nothing is served
    /// until [`apply`](Self::apply). `changed` is notified whenever a probe target flips.
    pub async fn start(
        config: &EngineConfig,
        metrics: Metrics,
        changed: Arc<Notify>,
    ) -> Result<Engine, AddressError> {
        let addresses = Addresses::open(&config.interface).await?;
        let prober = Prober::new(config.probe, metrics.clone(), changed);
        let health = prober.health();
        Ok(Engine {
            addresses,
            proxy: Proxy::new(config.proxy, health.clone(), metrics.clone()),
            view: EngineView::new(config.interface.clone(), config.probe, health),
            prober,
            metrics,
        })
    }

    /// Serves exactly `frontends` (unique ids); `edge` are the edge pools' ranges (leftover
    /// addresses in them are swept on the first apply). Failures are logged, counted and
    /// shown in the view; the next apply tries again.
    pub async fn apply(&mut self, frontends: &[Frontend], edge: &EdgeRanges) {
        let desired: BTreeSet<IpAddr> = frontends.iter().map(|f| f.ip).collect();
        let added = self.addresses.add(&desired, edge).await;
        self.count_address_failures(added);
        self.proxy.sync(frontends);
        let removed = self.addresses.remove(&desired, edge).await;
        self.count_address_failures(removed);
        let targets: BTreeSet<ProbeTarget> = frontends
            .iter()
            .flat_map(|f| f.candidates.iter().map(|c| f.probe_target(c)))
            .collect();
        self.prober.sync(&targets);
        self.metrics.frontends.set(frontends.len() as i64);
        self.metrics
            .owned_addresses
            .set(self.addresses.owned().len() as i64);
        self.view.publish(
            frontends
                .iter()
                .map(|f| (f.clone(), self.proxy.served(&f.id())))
                .collect(),
            self.addresses.owned().clone(),
            self.addresses.failed().clone(),
            self.proxy.failed().clone(),
        );
        self.refresh_gauges();
    }

    /// Counts (and logs) what one address step could not do.
    fn count_address_failures(&self, step: Result<usize, AddressError>) {
        match step {
            Ok(failures) => {
                self.metrics.address_errors.inc_by(failures as u64);
            }
            Err(error) => {
                self.metrics.address_errors.inc();
                warn!(interface = %self.addresses.interface(), %error, "reading or changing the interface's addresses failed");
            }
        }
    }

    /// Whether `c` receives new connections for `f` now.
    pub fn healthy(&self, f: &Frontend, c: &Candidate) -> bool {
        self.prober.health().lock().healthy(&f.probe_target(c))
    }

    /// Whether `c`'s target for `f` has been probed at least once.
    pub fn probed(&self, f: &Frontend, c: &Candidate) -> bool {
        self.prober
            .health()
            .lock()
            .get(&f.probe_target(c))
            .is_some_and(|h| h.last.is_some())
    }

    /// Sets the per-frontend backend gauges from the current health (call after a flip).
    pub fn refresh_gauges(&self) {
        let frontends = self.view.frontends();
        let health = self.prober.health();
        let book = health.lock();
        for (f, _) in frontends {
            let labels = FrontendLabels::of(&f);
            let up = f
                .candidates
                .iter()
                .filter(|c| book.healthy(&f.probe_target(c)))
                .count();
            self.metrics
                .backends
                .get_or_create(&labels)
                .set(f.candidates.len() as i64);
            self.metrics
                .healthy_backends
                .get_or_create(&labels)
                .set(up as i64);
        }
    }

    /// The shared view (`/debug/state`).
    pub fn view(&self) -> EngineView {
        self.view.clone()
    }

    /// The health book.
    pub fn health(&self) -> SharedHealth {
        self.prober.health()
    }

    /// Closes every listener, stops probing and removes every owned address. Returns how
    /// many addresses could not be removed.
    pub async fn shutdown(&mut self) -> Result<usize, AddressError> {
        self.proxy.close_all();
        self.prober.sync(&BTreeSet::new());
        let result = self.addresses.release_all().await;
        self.metrics.frontends.set(0);
        self.metrics
            .owned_addresses
            .set(self.addresses.owned().len() as i64);
        self.view.publish(
            Vec::new(),
            self.addresses.owned().clone(),
            self.addresses.failed().clone(),
            Default::default(),
        );
        result
    }
}
