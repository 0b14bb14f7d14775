//! The `/metrics` handler: a prometheus-client registry as OpenMetrics text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;
use tracing::warn;

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

    use super::*;

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
