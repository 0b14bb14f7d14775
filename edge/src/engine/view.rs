//! What `/debug/state` shows of the data plane: every frontend, its listener's numbers, its
//! backends with their health (last probe result and times), owned addresses and failures.
//! The engine publishes the structure on each apply; numbers and health are read live when
//! the view is rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use crate::frontends::{Frontend, FrontendId};
use crate::health::TargetHealth;
use crate::prober::{ProbeConfig, SharedHealth};
use crate::proxy::Served;

#[derive(Debug, Default)]
struct Published {
    frontends: Vec<(Frontend, Option<Arc<Served>>)>,
    owned: BTreeSet<IpAddr>,
    address_errors: BTreeMap<IpAddr, String>,
    listen_errors: BTreeMap<FrontendId, String>,
}

/// A cheap, shareable handle on the data plane's state.
#[derive(Debug, Clone)]
pub struct EngineView {
    interface: String,
    probe: ProbeConfig,
    health: SharedHealth,
    published: Arc<Mutex<Published>>,
}

/// One backend of a frontend.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendView {
    /// Node name.
    pub node: String,
    /// Where traffic goes.
    pub upstream: SocketAddr,
    /// What is probed.
    pub probe: String,
    /// Receives new connections.
    pub healthy: bool,
    /// Connections (or UDP flows) open to it through this frontend.
    pub active_connections: u64,
    /// The probe target's state machine (state, counts, since, last result).
    pub health: Option<TargetHealth>,
}

/// One frontend.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontendView {
    /// `ip:port/PROTO`.
    pub frontend: String,
    /// The frontend as computed.
    #[serde(flatten)]
    pub spec: Frontend,
    /// The listener is open.
    pub listening: bool,
    /// Why it is not, if it failed.
    pub listen_error: Option<String>,
    /// Forwarded since the listener opened.
    pub accepted: u64,
    /// Refused since the listener opened.
    pub refused: u64,
    /// Healthy backends.
    pub healthy_backends: usize,
    /// Every candidate node.
    pub backends: Vec<BackendView>,
}

/// The data plane's part of `/debug/state`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataPlaneView {
    /// The interface of the frontend addresses.
    pub interface: String,
    /// Probe interval (ms).
    pub probe_interval_ms: u128,
    /// Probe timeout (ms).
    pub probe_timeout_ms: u128,
    /// Successes that make a node healthy again.
    pub healthy_threshold: u32,
    /// Failures that make a node unhealthy.
    pub unhealthy_threshold: u32,
    /// Addresses owned on the interface.
    pub owned_addresses: BTreeSet<IpAddr>,
    /// Address operations that failed.
    pub address_errors: BTreeMap<IpAddr, String>,
    /// Every frontend.
    pub frontends: Vec<FrontendView>,
}

impl EngineView {
    pub(super) fn new(interface: String, probe: ProbeConfig, health: SharedHealth) -> EngineView {
        EngineView {
            interface,
            probe,
            health,
            published: Arc::new(Mutex::new(Published::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        self.published.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn publish(
        &self,
        frontends: Vec<(Frontend, Option<Arc<Served>>)>,
        owned: BTreeSet<IpAddr>,
        address_errors: BTreeMap<IpAddr, String>,
        listen_errors: BTreeMap<FrontendId, String>,
    ) {
        *self.lock() = Published {
            frontends,
            owned,
            address_errors,
            listen_errors,
        };
    }

    pub(super) fn frontends(&self) -> Vec<(Frontend, Option<Arc<Served>>)> {
        self.lock().frontends.clone()
    }

    /// The state now.
    pub fn render(&self) -> DataPlaneView {
        let published = self.lock();
        let health = self.health.lock();
        let frontends = published
            .frontends
            .iter()
            .map(|(f, served)| {
                let active = served.as_ref().map(|s| s.active()).unwrap_or_default();
                let (accepted, refused) = served.as_ref().map_or((0, 0), |s| s.totals());
                let backends: Vec<BackendView> = f
                    .candidates
                    .iter()
                    .map(|c| {
                        let target = f.probe_target(c);
                        BackendView {
                            node: c.node.clone(),
                            upstream: f.upstream(c),
                            probe: target.to_string(),
                            healthy: health.healthy(&target),
                            active_connections: active.get(&c.node).copied().unwrap_or(0),
                            health: health.get(&target).cloned(),
                        }
                    })
                    .collect();
                FrontendView {
                    frontend: f.id().to_string(),
                    spec: f.clone(),
                    listening: served.is_some(),
                    listen_error: published.listen_errors.get(&f.id()).cloned(),
                    accepted,
                    refused,
                    healthy_backends: backends.iter().filter(|b| b.healthy).count(),
                    backends,
                }
            })
            .collect();
        DataPlaneView {
            interface: self.interface.clone(),
            probe_interval_ms: self.probe.interval.as_millis(),
            probe_timeout_ms: self.probe.timeout.as_millis(),
            healthy_threshold: self.probe.thresholds.healthy,
            unhealthy_threshold: self.probe.thresholds.unhealthy,
            owned_addresses: published.owned.clone(),
            address_errors: published.address_errors.clone(),
            frontends,
        }
    }
}
