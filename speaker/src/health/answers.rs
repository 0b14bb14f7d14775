//! The bodies, headers and status codes of the health API, as pure functions of a snapshot.
//!
//! Shapes follow kube-proxy (kubernetes `pkg/proxy/healthcheck`):
//! - `/healthz` and `/livez`: `proxy_health.go`, `healthzHandler` / `livezHandler`:
//!   `json.Marshal(ProxyHealth)`, i.e.
//!   `{"lastUpdated":…,"currentTime":…,"nodeEligible":…,"healthy":…,"status":{"IPv4":{"lastUpdated":…,"healthy":…},"IPv6":…}}`
//!   (`nodeEligible` only in `/healthz`; `status` once the rules were updated, one entry per
//!   family the dataplane serves: both, as kube-proxy on a dual-stack capable kernel). 200
//!   when healthy (and, for `/healthz`, node eligible), else 503; when 200 the top
//!   `lastUpdated` is the current time, for compatibility with older releases.
//! - Service answers: `service_health.go`, `hcHandler.ServeHTTP`: the tab-indented body
//!   `{"service":{"namespace","name"},"localEndpoints","serviceProxyHealthy"}`, the header
//!   `X-Load-Balancing-Endpoint-Weight: <localEndpoints>`, 200 when `localEndpoints != 0` and
//!   the proxy is healthy, else 503.
//! - Every answer: `Content-Type: application/json` and `X-Content-Type-Options: nosniff`;
//!   any other path: Go's `http.NotFound`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::model::{HealthSnapshot, Judge};
use super::timefmt::rfc3339_nano;
use ferrolb_core::{IpFamily, ServiceKey};

/// `Content-Type` of every JSON answer.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `X-Load-Balancing-Endpoint-Weight`: kube-proxy's per-node weight (the local endpoint count).
pub const ENDPOINT_WEIGHT_HEADER: &str = "X-Load-Balancing-Endpoint-Weight";

/// An HTTP answer, independent of any HTTP library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 200 or 503.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

impl Answer {
    fn json(status: u16, body: String) -> Answer {
        Answer::typed(status, CONTENT_TYPE_JSON, body)
    }

    fn typed(status: u16, content_type: &str, body: String) -> Answer {
        Answer {
            status,
            headers: vec![
                ("Content-Type", content_type.to_string()),
                ("X-Content-Type-Options", "nosniff".to_string()),
            ],
            body,
        }
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn status_of(ok: bool) -> u16 {
    if ok { 200 } else { 503 }
}

/// kube-proxy's `ProxyHealth` JSON, field order as Go writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProxyHealthBody {
    last_updated: String,
    current_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_eligible: Option<bool>,
    healthy: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    status: BTreeMap<IpFamily, ProxierHealthBody>,
}

/// kube-proxy's `ProxierHealth`: one IP family's proxier.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProxierHealthBody {
    last_updated: String,
    healthy: bool,
}

/// The `ProxyHealth` of `/healthz` (`with_node`: with `nodeEligible`) and `/livez`, like
/// kube-proxy's handlers.
fn proxy_health(snap: &HealthSnapshot, judge: &Judge, now: SystemTime, with_node: bool) -> Answer {
    let v = snap.verdict(judge, now);
    let ok = v.proxy_healthy && (!with_node || v.node_eligible);
    // kube-proxy has one entry per family once its proxier called `Updated()`; ferrolb's
    // one `inet` table serves both families, so both carry the same facts.
    let status: BTreeMap<IpFamily, ProxierHealthBody> = snap
        .last_updated
        .map(|t| {
            IpFamily::ALL
                .into_iter()
                .map(|f| {
                    let family = ProxierHealthBody {
                        last_updated: rfc3339_nano(Some(t)),
                        healthy: v.proxy_healthy,
                    };
                    (f, family)
                })
                .collect()
        })
        .unwrap_or_default();
    let body = ProxyHealthBody {
        last_updated: rfc3339_nano(if ok { Some(now) } else { snap.last_updated }),
        current_time: rfc3339_nano(Some(now)),
        node_eligible: with_node.then_some(v.node_eligible),
        healthy: v.proxy_healthy,
        status,
    };
    // Serialising strings, bools and maps of them cannot fail; an empty object is the safe
    // fallback.
    let text = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_string());
    Answer::json(status_of(ok), text)
}

/// `/healthz`: 200 when no change waited past the health timeout and the node is eligible
/// (known, not deleting, no `ToBeDeletedByClusterAutoscaler` taint); else 503.
pub fn healthz(snap: &HealthSnapshot, judge: &Judge, now: SystemTime) -> Answer {
    proxy_health(snap, judge, now, true)
}

/// `/livez`: 503 only when a change has waited longer than the health timeout (the process is
/// stuck); node eligibility does not matter, like kube-proxy.
pub fn livez(snap: &HealthSnapshot, judge: &Judge, now: SystemTime) -> Answer {
    proxy_health(snap, judge, now, false)
}

/// Any other path: Go's `http.NotFound`, as kube-proxy's `ServeMux` answers.
pub fn not_found() -> Answer {
    Answer::typed(
        404,
        "text/plain; charset=utf-8",
        "404 page not found\n".to_string(),
    )
}

/// The answer for one Service, on `/services/{namespace}/{name}` and on its
/// healthCheckNodePort alike. A Service the snapshot does not know has 0 local endpoints
/// (kube-proxy's `SyncEndpoints`), hence 503.
pub fn service(snap: &HealthSnapshot, judge: &Judge, now: SystemTime, key: &ServiceKey) -> Answer {
    let count = snap
        .services
        .get(key)
        .map_or(0, |s| s.local_ready_endpoints);
    let healthy = snap.verdict(judge, now).proxy_healthy;
    let mut answer = Answer::json(
        status_of(count != 0 && healthy),
        service_body(key, count, healthy),
    );
    answer
        .headers
        .push((ENDPOINT_WEIGHT_HEADER, count.to_string()));
    answer
}

/// kube-proxy's body byte for byte: its dedented, tab-indented template without the
/// surrounding newlines.
fn service_body(key: &ServiceKey, count: u32, healthy: bool) -> String {
    format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n\t\"localEndpoints\": {count},\n\t\"serviceProxyHealthy\": {healthy}\n}}",
        json_string(&key.namespace),
        json_string(&key.name)
    )
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// `/debug/state`: the snapshot's desired state, pretty-printed.
pub fn debug_state(snap: &HealthSnapshot) -> Answer {
    match snap.debug_state.to_json_pretty() {
        Ok(body) => Answer::json(200, body),
        Err(e) => Answer::json(
            500,
            format!(
                "{{\"error\":{}}}",
                json_string(&format!("cannot print the state: {e}"))
            ),
        ),
    }
}
