//! The daemons' metrics plumbing: the `/metrics` handler (a prometheus-client registry as
//! OpenMetrics text), the [`Registrar`] every daemon registers its metrics with (each registry
//! starts with `PREFIX_build_info` and `PREFIX_allocator_bytes`), and the `ok`/`error`
//! [`ResultLabels`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};
use tracing::warn;

use crate::allocator::AllocatorStats;

/// Builds a registry under one prefix, handing back each metric it registers, so that a
/// daemon names, describes and creates each metric in one place.
#[derive(Debug)]
pub struct Registrar {
    registry: Registry,
}

impl Registrar {
    /// A registry whose metric names start with `prefix_`, holding only `prefix_build_info`
    /// (see [`BuildInfo`]) and `prefix_allocator_bytes` (see [`AllocatorStats`]), so every daemon
    /// exports them.
    pub fn new(prefix: &str) -> Registrar {
        let mut registrar = Registrar {
            registry: Registry::with_prefix(prefix),
        };
        let info: Family<BuildInfo, Gauge> = registrar.metric(
            "build_info",
            "Always 1; labels: the ferrolb version and, when built with FERROLB_COMMIT set, the commit",
        );
        info.get_or_create(&BuildInfo::current()).set(1);
        registrar
            .registry
            .register_collector(Box::new(AllocatorStats));
        registrar
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

    /// `collector` registered: it encodes its own metrics (names under the prefix) at each
    /// scrape, from state it reads then rather than series it keeps.
    pub fn collector(&mut self, collector: impl Collector + 'static) {
        self.registry.register_collector(Box::new(collector));
    }

    /// The registry holding every registered metric.
    pub fn into_registry(self) -> Registry {
        self.registry
    }
}

/// Labels of `build_info`: what this binary was built from.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct BuildInfo {
    /// The crate version (the workspace's `CARGO_PKG_VERSION`).
    pub version: String,
    /// `FERROLB_COMMIT` at build time (`git rev-parse HEAD`); no label when unset.
    pub commit: Option<String>,
}

impl BuildInfo {
    /// What this binary was built from.
    pub fn current() -> BuildInfo {
        BuildInfo::of(env!("CARGO_PKG_VERSION"), option_env!("FERROLB_COMMIT"))
    }

    /// `version` and `commit` (an empty commit counts as none).
    pub fn of(version: &str, commit: Option<&str>) -> BuildInfo {
        BuildInfo {
            version: version.into(),
            commit: commit.filter(|c| !c.is_empty()).map(str::to_string),
        }
    }
}

impl EncodeLabelSet for BuildInfo {
    /// `version`, then `commit` only when known (the derive would write `commit=""`).
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        ("version", self.version.as_str()).encode(encoder.encode_label())?;
        if let Some(commit) = &self.commit {
            ("commit", commit.as_str()).encode(encoder.encode_label())?;
        }
        Ok(())
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

    fn encoded(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn every_registry_says_which_build_it_is() {
        let text = encoded(&Registrar::new("test").into_registry());
        let version = env!("CARGO_PKG_VERSION");
        let series = match option_env!("FERROLB_COMMIT").filter(|c| !c.is_empty()) {
            Some(commit) => {
                format!("test_build_info{{version=\"{version}\",commit=\"{commit}\"}} 1")
            }
            None => format!("test_build_info{{version=\"{version}\"}} 1"),
        };
        assert!(text.contains(&series), "{series} not in:\n{text}");
    }

    #[test]
    fn the_commit_label_is_there_only_when_known() {
        let mut registry = Registry::with_prefix("test");
        let info: Family<BuildInfo, Gauge> = Family::default();
        registry.register("build_info", "Build", info.clone());
        info.get_or_create(&BuildInfo::of("1.2.3", Some("abc123")))
            .set(1);
        info.get_or_create(&BuildInfo::of("1.2.4", Some(""))).set(1);
        let text = encoded(&registry);
        assert!(
            text.contains("test_build_info{version=\"1.2.3\",commit=\"abc123\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_build_info{version=\"1.2.4\"} 1"),
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
