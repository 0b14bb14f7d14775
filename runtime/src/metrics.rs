//! The daemons' metrics plumbing: the `/metrics` handler (a prometheus-client registry as
//! OpenMetrics text), the [`Registrar`] every daemon registers its metrics with, and the
//! `ok`/`error` [`ResultLabels`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::registry::{Metric, Registry};
use tracing::warn;

/// Builds a registry under one prefix, handing back each metric it registers, so that a
/// daemon names, describes and creates each metric in one place.
#[derive(Debug)]
pub struct Registrar {
    registry: Registry,
}

impl Registrar {
    /// An empty registry whose metric names start with `prefix_`.
    pub fn new(prefix: &str) -> Registrar {
        Registrar {
            registry: Registry::with_prefix(prefix),
        }
    }

    /// A new default `M` (counter, gauge, family), registered as `name` with `help`.
    pub fn metric<M: Metric + Clone + Default>(&mut self, name: &str, help: &str) -> M {
        self.register(name, help, M::default())
    }

    /// `metric` (a histogram with its buckets, ...) registered as `name` with `help`.
    pub fn register<M: Metric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.registry.register(name, help, metric.clone());
        metric
    }

    /// The registry holding every registered metric.
    pub fn into_registry(self) -> Registry {
        self.registry
    }
}

/// Labels of a series counted by outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: String,
}

impl ResultLabels {
    /// `ok` when `ok`, else `error`.
    pub fn of(ok: bool) -> ResultLabels {
        ResultLabels {
            result: if ok { "ok" } else { "error" }.into(),
        }
    }
}

/// The content type of OpenMetrics text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The answer to `GET /metrics`: `registry` encoded, or a 500 naming the failure.
pub fn response(registry: &Registry) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, registry) {
        Ok(()) => ([("content-type", CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            warn!(%error, "encoding metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;

    use super::*;

    #[test]
    fn registered_metrics_are_the_ones_exported() {
        let mut registrar = Registrar::new("test");
        let things: Counter = registrar.metric("things", "Things seen");
        let results: Family<ResultLabels, Counter> = registrar.metric("results", "By result");
        things.inc_by(3);
        results.get_or_create(&ResultLabels::of(false)).inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registrar.into_registry()).unwrap();
        assert!(text.contains("test_things_total 3"), "{text}");
        assert!(
            text.contains("test_results_total{result=\"error\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn encodes_the_registry_as_openmetrics() {
        let mut registry = Registry::with_prefix("test");
        let c: Counter = Counter::default();
        c.inc();
        registry.register("things", "Things seen", c);
        let r = response(&registry);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], CONTENT_TYPE);
    }
}
