//! Counting the health API's requests: by kind of path and response code only, never by
//! Service or client, so the series stay few whatever probes the port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// What a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `/healthz` on the main port.
    Healthz,
    /// `/livez` on the main port.
    Livez,
    /// `/services/NS/NAME` on the main port.
    Service,
    /// Any path on a healthCheckNodePort.
    NodePort,
    /// Anything else on the main port (answered 404).
    Other,
}

impl PathKind {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            PathKind::Healthz => "healthz",
            PathKind::Livez => "livez",
            PathKind::Service => "service",
            PathKind::NodePort => "node_port",
            PathKind::Other => "other",
        }
    }
}

/// Labels of the health requests counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `healthz`, `livez`, `service`, `node_port` or `other`.
    pub path: String,
    /// The response's status code (`200`, `503`, `404`).
    pub code: String,
}

/// The health requests counter (a cheap handle: clones count into the same family).
#[derive(Clone, Debug, Default)]
pub struct HealthRequests(Family<RequestLabels, Counter>);

impl HealthRequests {
    /// Counts into `family` (the registered metric).
    pub fn new(family: Family<RequestLabels, Counter>) -> HealthRequests {
        HealthRequests(family)
    }

    /// Counts one request of `kind` answered with `code`.
    pub fn count(&self, kind: PathKind, code: u16) {
        let labels = RequestLabels {
            path: kind.label().into(),
            code: code.to_string(),
        };
        self.0.get_or_create(&labels).inc();
    }

    /// How many requests of `kind` were answered with `code` (for tests).
    pub fn get(&self, kind: PathKind, code: u16) -> u64 {
        let labels = RequestLabels {
            path: kind.label().into(),
            code: code.to_string(),
        };
        self.0.get(&labels).map_or(0, |c| c.get())
    }
}
