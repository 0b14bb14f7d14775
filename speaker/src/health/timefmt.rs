//! Go's `time.Time` JSON form (RFC 3339 with nanoseconds, `time.RFC3339Nano`), in UTC.
//!
//! kube-proxy's `/healthz` and `/livez` bodies are `json.Marshal` of a struct with `time.Time`
//! fields, which Go writes as `"2006-01-02T15:04:05.999999999Z07:00"`: trailing zeros of the
//! fraction dropped, no fraction at all when it is zero. Go's zero time (kube-proxy's
//! `lastUpdated` before the first sync) is `"0001-01-01T00:00:00Z"`.
//! (kubernetes `pkg/proxy/healthcheck/proxier_health.go`, `ProxyHealth`.)

use std::time::SystemTime;

use jiff::Timestamp;

/// What Go prints for its zero `time.Time`; used for "never".
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Formats `t` as Go's `time.RFC3339Nano` in UTC; `None` gives [`GO_ZERO_TIME`]. Times
/// before 1970 are clamped to the epoch (the speaker never produces them). jiff's RFC 3339
/// text of a `Timestamp` is that form: UTC (`Z`), the fraction only as long as needed.
pub fn rfc3339_nano(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return GO_ZERO_TIME.to_string();
    };
    Timestamp::try_from(t)
        .ok()
        .filter(|ts| *ts >= Timestamp::UNIX_EPOCH)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}
