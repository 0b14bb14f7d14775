//! What one listener serves, shared by its tasks: the current [`Frontend`] (swapped in place
//! when candidates, source ranges or the nodePort change, without closing the listener), the
//! balancer with its per-node active counts, and counters for `/debug/state`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::balance::{Balancer, Slot};
use crate::frontends::{Candidate, Frontend};
use crate::metrics::{FrontendLabels, Metrics, Refusal};
use crate::prober::SharedHealth;

#[derive(Debug, Default)]
struct Picking {
    balancer: Balancer,
    active: BTreeMap<String, u64>,
}

/// A listener's shared state.
#[derive(Debug)]
pub struct Served {
    frontend: RwLock<Arc<Frontend>>,
    picking: Mutex<Picking>,
    health: SharedHealth,
    metrics: Metrics,
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl Served {
    /// State for `frontend`.
    pub fn new(frontend: Frontend, health: SharedHealth, metrics: Metrics) -> Served {
        Served {
            frontend: RwLock::new(Arc::new(frontend)),
            picking: Mutex::new(Picking::default()),
            health,
            metrics,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The frontend served now.
    pub fn frontend(&self) -> Arc<Frontend> {
        self.frontend
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `f` from now on (same listener identity); existing connections are untouched.
    pub fn update(&self, f: Frontend) {
        *self.frontend.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(f);
    }

    fn picking(&self) -> MutexGuard<'_, Picking> {
        self.picking.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Chooses a healthy candidate for a new connection, skipping nodes in `exclude` (already
    /// tried); the guard counts the connection as active until dropped.
    pub fn pick(self: &Arc<Self>, exclude: &[String]) -> Option<(Candidate, Active)> {
        let f = self.frontend();
        // The health lock and the picking lock are never held together here (the debug view
        // takes them in the other order).
        let healthy: Vec<bool> = {
            let health = self.health.lock();
            f.candidates
                .iter()
                .map(|c| health.healthy(&f.probe_target(c)) && !exclude.contains(&c.node))
                .collect()
        };
        let mut picking = self.picking();
        let slots: Vec<Slot> = f
            .candidates
            .iter()
            .zip(healthy)
            .map(|(c, healthy)| Slot {
                healthy,
                active: picking.active.get(&c.node).copied().unwrap_or(0),
            })
            .collect();
        let chosen = f.candidates.get(picking.balancer.pick(&slots)?)?.clone();
        *picking.active.entry(chosen.node.clone()).or_insert(0) += 1;
        drop(picking);
        self.metrics
            .active
            .get_or_create(&FrontendLabels::of(&f))
            .inc();
        let guard = Active {
            served: self.clone(),
            node: chosen.node.clone(),
            labels: FrontendLabels::of(&f),
        };
        Some((chosen, guard))
    }

    /// Counts a forwarded connection or flow.
    pub fn count_accepted(&self, f: &Frontend) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .accepted
            .get_or_create(&FrontendLabels::of(f))
            .inc();
    }

    /// Counts a refusal.
    pub fn count_refused(&self, f: &Frontend, why: Refusal) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.metrics.refuse(&FrontendLabels::of(f), why);
    }

    /// Connections (or flows) forwarded and refused since the listener opened.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.accepted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// Active connections per node.
    pub fn active(&self) -> BTreeMap<String, u64> {
        self.picking()
            .active
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// One active connection or flow; dropping it ends the count.
#[derive(Debug)]
pub struct Active {
    served: Arc<Served>,
    node: String,
    labels: FrontendLabels,
}

impl Active {
    /// The node it goes to.
    pub fn node(&self) -> &str {
        &self.node
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let mut picking = self.served.picking();
        if let Some(n) = picking.active.get_mut(&self.node) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                picking.active.remove(&self.node);
            }
        }
        drop(picking);
        if let Some(gauge) = self.served.metrics.active.get(&self.labels) {
            gauge.dec();
        }
    }
}
