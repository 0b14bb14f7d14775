//! Times in `/debug/state`: RFC 3339 timestamps (UTC, nanoseconds) and durations in
//! milliseconds.

use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use serde::Serializer;

/// RFC 3339 text of `t` (the Unix epoch if out of range).
pub fn rfc3339(t: SystemTime) -> String {
    Timestamp::try_from(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Serialises a time as RFC 3339 text.
pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Serialises an optional time as RFC 3339 text or `null`.
pub fn serialize_opt<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// Serialises a duration as fractional milliseconds.
pub fn serialize_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_in_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.25Z");
    }
}
