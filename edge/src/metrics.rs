//! The edge's Prometheus metrics (prefix `ferrolb_edge`, served on `/metrics`).
//!
//! Series of a frontend or probe target are removed when it goes, so churn does not grow the
//! registry.

use ferrolb_runtime::metrics::{Registrar, ResultLabels};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::frontends::{Frontend, FrontendId};
use crate::health::ProbeTarget;

/// Labels of per-frontend series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrontendLabels {
    /// `ip:port/PROTO`.
    pub frontend: String,
    /// `namespace/name`.
    pub service: String,
}

impl FrontendLabels {
    /// The labels of `f`.
    pub fn of(f: &Frontend) -> FrontendLabels {
        FrontendLabels {
            frontend: f.id().to_string(),
            service: f.service.to_string(),
        }
    }
}

/// Labels of refused connections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// `ip:port/PROTO`.
    pub frontend: String,
    /// `namespace/name`.
    pub service: String,
    /// `no_healthy_backend`, `source_range`, `connect_failed` or `flow_limit`.
    pub reason: String,
}

/// Labels of probe results.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    /// `http://ip:port/path`.
    pub target: String,
    /// `ok` or `fail`.
    pub result: String,
}

/// Why a connection or flow was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No candidate node is healthy.
    NoHealthyBackend,
    /// The client is outside `loadBalancerSourceRanges`.
    SourceRange,
    /// Every healthy node refused or timed out the upstream connection.
    ConnectFailed,
    /// Too many UDP flows on the frontend.
    FlowLimit,
}

impl Refusal {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::NoHealthyBackend => "no_healthy_backend",
            Refusal::SourceRange => "source_range",
            Refusal::ConnectFailed => "connect_failed",
            Refusal::FlowLimit => "flow_limit",
        }
    }

    /// Every reason.
    pub const ALL: [Refusal; 4] = [
        Refusal::NoHealthyBackend,
        Refusal::SourceRange,
        Refusal::ConnectFailed,
        Refusal::FlowLimit,
    ];
}

/// Every metric of the edge.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `ferrolb_edge_connections_accepted_total`: TCP connections and UDP flows forwarded.
    pub accepted: Family<FrontendLabels, Counter>,
    /// `ferrolb_edge_connections_refused_total`: refused, by reason.
    pub refused: Family<RefusedLabels, Counter>,
    /// `ferrolb_edge_active_connections`: TCP connections and UDP flows open now.
    pub active: Family<FrontendLabels, Gauge>,
    /// `ferrolb_edge_backends`: candidate nodes of each frontend.
    pub backends: Family<FrontendLabels, Gauge>,
    /// `ferrolb_edge_healthy_backends`: candidate nodes receiving new connections.
    pub healthy_backends: Family<FrontendLabels, Gauge>,
    /// `ferrolb_edge_probes_total`: health probes by target and result.
    pub probes: Family<ProbeLabels, Counter>,
    /// `ferrolb_edge_probe_duration_seconds`: time of each probe.
    pub probe_seconds: Histogram,
    /// `ferrolb_edge_frontends`: frontends served.
    pub frontends: Gauge,
    /// `ferrolb_edge_owned_addresses`: frontend addresses on the interface.
    pub owned_addresses: Gauge,
    /// `ferrolb_edge_address_errors_total`: failed address changes.
    pub address_errors: Counter,
    /// `ferrolb_edge_listen_errors_total`: frontends that could not be bound.
    pub listen_errors: Counter,
    /// `ferrolb_edge_status_writes_total`: condition writes by result.
    pub status_writes: Family<ResultLabels, Counter>,
}

impl Metrics {
    /// The metrics and a registry (prefix `ferrolb_edge`) exporting them.
    pub fn new() -> (Metrics, Registry) {
        let mut r = Registrar::new("ferrolb_edge");
        let m = Metrics {
            accepted: r.metric(
                "connections_accepted",
                "TCP connections and UDP flows forwarded",
            ),
            refused: r.metric(
                "connections_refused",
                "TCP connections closed and UDP flows dropped, by reason",
            ),
            active: r.metric(
                "active_connections",
                "TCP connections and UDP flows open now",
            ),
            backends: r.metric("backends", "Candidate nodes of each frontend"),
            healthy_backends: r.metric(
                "healthy_backends",
                "Candidate nodes receiving new connections",
            ),
            probes: r.metric("probes", "Health probes by target and result"),
            probe_seconds: r.register(
                "probe_duration_seconds",
                "Time of each health probe",
                Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            ),
            frontends: r.metric("frontends", "Frontends served"),
            owned_addresses: r.metric("owned_addresses", "Frontend addresses on the interface"),
            address_errors: r.metric("address_errors", "Failed address changes"),
            listen_errors: r.metric("listen_errors", "Frontends that could not be bound"),
            status_writes: r.metric("status_writes", "EdgeServing condition writes by result"),
        };
        (m, r.into_registry())
    }

    /// Counts a refusal.
    pub fn refuse(&self, labels: &FrontendLabels, why: Refusal) {
        self.refused
            .get_or_create(&RefusedLabels {
                frontend: labels.frontend.clone(),
                service: labels.service.clone(),
                reason: why.label().into(),
            })
            .inc();
    }

    /// Drops every series of a frontend that is gone.
    pub fn forget_frontend(&self, id: &FrontendId, labels: &FrontendLabels) {
        debug_assert_eq!(labels.frontend, id.to_string());
        self.accepted.remove(labels);
        self.active.remove(labels);
        self.backends.remove(labels);
        self.healthy_backends.remove(labels);
        for why in Refusal::ALL {
            self.refused.remove(&RefusedLabels {
                frontend: labels.frontend.clone(),
                service: labels.service.clone(),
                reason: why.label().into(),
            });
        }
    }

    /// Drops the series of a probe target that is gone.
    pub fn forget_target(&self, target: &ProbeTarget) {
        for result in ["ok", "fail"] {
            self.probes.remove(&ProbeLabels {
                target: target.to_string(),
                result: result.into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_forgetting() {
        let (m, registry) = Metrics::new();
        let f = FrontendLabels {
            frontend: "198.51.100.150:80/TCP".into(),
            service: "web/echo".into(),
        };
        m.accepted.get_or_create(&f).inc();
        m.refuse(&f, Refusal::SourceRange);
        m.active.get_or_create(&f).set(2);
        m.healthy_backends.get_or_create(&f).set(1);
        m.backends.get_or_create(&f).set(2);
        m.probes
            .get_or_create(&ProbeLabels {
                target: "http://198.51.100.11:10256/healthz".into(),
                result: "ok".into(),
            })
            .inc();
        m.status_writes.get_or_create(&ResultLabels::of(true)).inc();
        let text = |r: &Registry| {
            let mut s = String::new();
            prometheus_client::encoding::text::encode(&mut s, r).unwrap();
            s
        };
        let out = text(&registry);
        for name in [
            "ferrolb_edge_connections_accepted_total{frontend=\"198.51.100.150:80/TCP\",service=\"web/echo\"} 1",
            "ferrolb_edge_connections_refused_total{frontend=\"198.51.100.150:80/TCP\",service=\"web/echo\",reason=\"source_range\"} 1",
            "ferrolb_edge_active_connections{",
            "ferrolb_edge_backends{",
            "ferrolb_edge_healthy_backends{",
            "ferrolb_edge_probes_total{target=\"http://198.51.100.11:10256/healthz\",result=\"ok\"} 1",
            "# TYPE ferrolb_edge_probe_duration_seconds histogram",
            "ferrolb_edge_frontends 0",
            "ferrolb_edge_owned_addresses 0",
            "ferrolb_edge_address_errors_total 0",
            "ferrolb_edge_listen_errors_total 0",
            "ferrolb_edge_status_writes_total{result=\"ok\"} 1",
        ] {
            assert!(out.contains(name), "{name} missing in\n{out}");
        }
        let id = FrontendId {
            ip: "198.51.100.150".parse().unwrap(),
            protocol: ferrolb_core::Protocol::Tcp,
            port: 80,
        };
        m.forget_frontend(&id, &f);
        assert!(!text(&registry).contains("198.51.100.150"), "series left");
    }
}
