//! What the health API reports: one immutable [`HealthSnapshot`] of this node, published by the
//! speaker's loop through a `tokio::sync::watch` channel and read on every request.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use ferrolb_core::ServiceKey;

use crate::nodestate::probes::KnownAddresses;

/// Everything the health API answers from. Cheap to read: handlers take the latest
/// `Arc<HealthSnapshot>` and compute the answer with the pure functions in
/// [`answers`](super::answers).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSnapshot {
    /// Every watch has listed its objects once (Services, EndpointSlices, this Node, ...) and a
    /// first desired state has been computed. Before that the snapshot is
    /// [`starting`](Self::starting): like kube-proxy before its first sync, healthy until the
    /// health timeout, the Node not known (so `/healthz` says `nodeEligible: false`).
    pub synced: bool,
    /// Whether the node's rules match the desired state.
    pub rules: RulesState,
    /// When the rules were last fully applied (kube-proxy's `lastUpdated`); `None`: never.
    pub last_updated: Option<SystemTime>,
    /// This node's Node object is in the watched store (kube-proxy's `NodeManager.Node()` is
    /// not nil). `false`: `nodeEligible` is false.
    pub node_known: bool,
    /// The Node has a `deletionTimestamp`.
    pub node_deleting: bool,
    /// Why the node must not get load-balancer traffic although it exists: kube-proxy looks
    /// only at the `ToBeDeletedByClusterAutoscaler` taint; `None`: not excluded. Only
    /// `/healthz` looks at it, like kube-proxy's `nodeEligible`.
    pub node_excluded: Option<String>,
    /// Services this node answers for, with their local endpoints.
    pub services: BTreeMap<ServiceKey, ServiceHealth>,
    /// Serve the healthCheckNodePorts of `services`: this node programs Service rules (the
    /// dataplane decision). `false`, announce-only: none is bound, so kube-proxy can bind them.
    pub serve_node_ports: bool,
    /// This node's whole desired state (and what it observed), printed by `/debug/state`.
    pub debug_state: DebugState,
    /// The LoadBalancer addresses `/debug/probe` and `/debug/rules` accept, and where to probe
    /// each; none before the first desired state.
    pub probes: Arc<KnownAddresses>,
}

impl Default for HealthSnapshot {
    /// Nothing known and nothing pending: healthy, but the Node unknown (`/healthz` 503 with
    /// `nodeEligible: false`). The daemon starts from [`starting`](HealthSnapshot::starting).
    fn default() -> Self {
        HealthSnapshot {
            synced: false,
            rules: RulesState::Applied,
            last_updated: None,
            node_known: false,
            node_deleting: false,
            node_excluded: None,
            services: BTreeMap::new(),
            serve_node_ports: false,
            debug_state: DebugState::new(serde_json::Value::Null),
            probes: Arc::default(),
        }
    }
}

impl HealthSnapshot {
    /// The snapshot of a speaker started at `at` that has not synced yet, as kube-proxy is
    /// between `SyncLoop`'s first `Updated()` (so `lastUpdated` is the start) and its first
    /// sync: a change is pending since the start, so the node is healthy until the health
    /// timeout and unhealthy after it if the watches never sync.
    pub fn starting(at: SystemTime) -> HealthSnapshot {
        HealthSnapshot {
            rules: RulesState::Pending {
                since: at,
                error: Some("waiting for the first list of watched objects".to_string()),
            },
            last_updated: Some(at),
            ..HealthSnapshot::default()
        }
    }
}

/// What `/debug/state` prints: any serializable value, shared and serialized only when asked
/// (publishing a snapshot costs no serialization).
#[derive(Clone)]
pub struct DebugState(Arc<dyn ToJson>);

/// A value `/debug/state` can print.
trait ToJson: Send + Sync {
    fn to_json(&self) -> serde_json::Result<serde_json::Value>;
    fn to_json_pretty(&self) -> serde_json::Result<String>;
}

impl<T: Serialize + Send + Sync> ToJson for T {
    fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }
    fn to_json_pretty(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

impl DebugState {
    /// Wraps `value`; it is serialized on each request.
    pub fn new(value: impl Serialize + Send + Sync + 'static) -> DebugState {
        DebugState(Arc::new(value))
    }

    /// The document as a JSON value.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        self.0.to_json()
    }

    /// The document as pretty-printed JSON text.
    pub fn to_json_pretty(&self) -> serde_json::Result<String> {
        self.0.to_json_pretty()
    }
}

impl From<serde_json::Value> for DebugState {
    fn from(value: serde_json::Value) -> DebugState {
        DebugState::new(value)
    }
}

impl PartialEq for DebugState {
    /// The same shared value, or documents that print the same.
    fn eq(&self, other: &DebugState) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || matches!((self.to_json(), other.to_json()), (Ok(a), Ok(b)) if a == b)
    }
}

impl fmt::Debug for DebugState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            Ok(v) => write!(f, "DebugState({v})"),
            Err(e) => write!(f, "DebugState(<{e}>)"),
        }
    }
}

/// Whether the dataplane holds the desired state: kube-proxy's `QueuedUpdate()` / `Updated()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RulesState {
    /// The dataplane matches the desired state (also: announce-only, no table to keep).
    #[default]
    Applied,
    /// The desired state changed at `since` and is not in the dataplane yet; `error` says why
    /// the last attempt failed, if it did. Still healthy until `since + health_timeout`
    /// ([`Judge::health_timeout`]), like kube-proxy's `healthTimeout`.
    Pending {
        /// When the oldest change not yet applied was queued.
        since: SystemTime,
        /// Why the last attempt to apply failed (`None`: not tried yet, or in progress).
        error: Option<String>,
    },
}

/// One Service as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceHealth {
    /// Ready endpoints of the Service on this node (kube-proxy's `localEndpoints`).
    pub local_ready_endpoints: u32,
    /// `spec.healthCheckNodePort` (eTP=Local LoadBalancer Services); the speaker listens on it
    /// when node-port health checks are enabled.
    pub health_check_node_port: Option<u16>,
}

/// The knobs the verdict depends on besides the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judge {
    /// How long a pending change may wait before the node counts as unhealthy (kube-proxy:
    /// `2 * syncPeriod`, 60 s by default).
    pub health_timeout: Duration,
}

impl Default for Judge {
    fn default() -> Self {
        Judge {
            health_timeout: Duration::from_secs(60),
        }
    }
}

/// The node's health at one instant, derived from a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// No pending change is older than the health timeout: kube-proxy's `healthy` (of
    /// `/healthz`, `/livez` and every family in `status`) and `serviceProxyHealthy`.
    pub proxy_healthy: bool,
    /// Known, not deleting and not excluded: kube-proxy's `nodeEligible`.
    pub node_eligible: bool,
    /// Why `/healthz` is not 200, each reason once, joined by "; "; `None` when it is.
    pub reason: Option<String>,
}

impl Verdict {
    /// `/healthz` answers 200 exactly when this holds.
    pub fn eligible_for_traffic(&self) -> bool {
        self.proxy_healthy && self.node_eligible
    }
}

impl HealthSnapshot {
    /// Judges the snapshot at `now`.
    pub fn verdict(&self, judge: &Judge, now: SystemTime) -> Verdict {
        let mut reasons = Vec::new();
        let rules_fresh = match &self.rules {
            RulesState::Applied => true,
            RulesState::Pending { since, error } => {
                let waited = now.duration_since(*since).unwrap_or_default();
                let fresh = waited < judge.health_timeout;
                if !fresh {
                    let mut r = format!(
                        "rules not applied for {}s (limit {}s)",
                        waited.as_secs(),
                        judge.health_timeout.as_secs()
                    );
                    if let Some(e) = error {
                        r.push_str(": ");
                        r.push_str(e);
                    }
                    reasons.push(r);
                }
                fresh
            }
        };
        if !self.node_known {
            reasons.push("node not known: its Node object is not in the store".to_string());
        }
        if self.node_deleting {
            reasons.push("node is being deleted".to_string());
        }
        if let Some(why) = &self.node_excluded {
            reasons.push(format!("node excluded from load balancing: {why}"));
        }
        let node_eligible = self.node_known && !self.node_deleting && self.node_excluded.is_none();
        Verdict {
            proxy_healthy: rules_fresh,
            node_eligible,
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        }
    }

    /// The Service owning each healthCheckNodePort to serve; none without
    /// [`serve_node_ports`](Self::serve_node_ports). Two Services never share one in a valid
    /// cluster; if they do, the first (by namespace/name) wins and the others are returned as
    /// conflicts `(port, loser)`. Port 0 means "none".
    pub fn node_ports(&self) -> (BTreeMap<u16, ServiceKey>, Vec<(u16, ServiceKey)>) {
        let mut owners = BTreeMap::new();
        let mut conflicts = Vec::new();
        if !self.serve_node_ports {
            return (owners, conflicts);
        }
        for (key, svc) in &self.services {
            let Some(port) = svc.health_check_node_port.filter(|p| *p != 0) else {
                continue;
            };
            match owners.entry(port) {
                Entry::Vacant(slot) => {
                    slot.insert(key.clone());
                }
                Entry::Occupied(_) => conflicts.push((port, key.clone())),
            }
        }
        (owners, conflicts)
    }
}
