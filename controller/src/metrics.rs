//! The controller's Prometheus metrics.

use ferrolb_runtime::metrics::Registrar;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of per-reason counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The failure reason (PoolExhausted, RequestRefused, ...).
    pub reason: String,
}

/// Labels of per-pool gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// The pool's name.
    pub pool: String,
    /// ipv4 or ipv6.
    pub family: String,
}

/// Every metric the controller exports.
#[derive(Debug)]
pub struct Metrics {
    /// The registry they are in.
    pub registry: Registry,
    /// Addresses newly given to Services.
    pub allocations: Counter,
    /// Services that failed to get what they ask for, by reason (counted on each change).
    pub failures: Family<ReasonLabels, Counter>,
    /// Addresses released.
    pub releases: Counter,
    /// Addresses in use per pool and family.
    pub pool_used: Family<PoolLabels, Gauge>,
    /// Addresses still free per pool and family (saturating at i64::MAX).
    pub pool_available: Family<PoolLabels, Gauge>,
    /// Time to plan and apply one snapshot that had something to write.
    pub reconcile_seconds: Histogram,
    /// Time the decision took, for every snapshot the leader planned (written or not).
    pub decision_seconds: Histogram,
    /// Wake-ups whose watch events were all the controller's own writes coming back: nothing
    /// new to decide, so not decided ([`crate::echoes`]).
    pub echoes_skipped: Counter,
    /// Writes to the apiserver that failed.
    pub write_errors: Counter,
    /// 1 when this replica is the leader.
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `ferrolb_controller` prefix.
    pub fn new() -> Metrics {
        let mut r = Registrar::new("ferrolb_controller");
        Metrics {
            allocations: r.metric("allocations", "Addresses given to Services"),
            failures: r.metric(
                "allocation_failures",
                "Services refused an address, by reason",
            ),
            releases: r.metric("releases", "Addresses released from Services"),
            pool_used: r.metric(
                "pool_addresses_used",
                "Addresses in use per pool and family",
            ),
            pool_available: r.metric(
                "pool_addresses_available",
                "Addresses still free per pool and family",
            ),
            reconcile_seconds: r.register(
                "reconcile_duration_seconds",
                "Time to plan and apply one snapshot that had something to write",
                Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            ),
            decision_seconds: r.register(
                "decision_duration_seconds",
                "Time the decision took, for every snapshot the leader planned, written or not",
                Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            ),
            echoes_skipped: r.metric(
                "echoes_skipped",
                "Wake-ups whose watch events were all the controller's own writes coming back, not decided again",
            ),
            write_errors: r.metric("write_errors", "Writes to the apiserver that failed"),
            leader: r.metric("leader", "1 when this replica is the leader"),
            registry: r.into_registry(),
        }
    }
}
