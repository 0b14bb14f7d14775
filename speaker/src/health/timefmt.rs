//! Go's `time.Time` JSON form (RFC 3339 with nanoseconds, `time.RFC3339Nano`), in UTC.
//!
//! kube-proxy's `/healthz` and `/livez` bodies are `json.Marshal` of a struct with `time.Time`
//! fields, which Go writes as `"2006-01-02T15:04:05.999999999Z07:00"`: trailing zeros of the
//! fraction dropped, no fraction at all when it is zero. Go's zero time (kube-proxy's
//! `lastUpdated` before the first sync) is `"0001-01-01T00:00:00Z"`.
//! (kubernetes `pkg/proxy/healthcheck/proxier_health.go`, `ProxyHealth`.)

use std::time::{SystemTime, UNIX_EPOCH};

/// What Go prints for its zero `time.Time`; used for "never".
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Formats `t` as Go's `time.RFC3339Nano` in UTC; `None` gives [`GO_ZERO_TIME`]. Times before
/// 1970 are clamped to the epoch (the speaker never produces them).
pub fn rfc3339_nano(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return GO_ZERO_TIME.to_string();
    };
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let nanos = since.subsec_nanos();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // `day` is 1..=31 and `month` 1..=12 by construction.
    (year, month as u32, day as u32)
}
