//! Per-Service retries of failed writes: each Service whose write failed is planned again
//! after its own exponential backoff (from [`FIRST`] doubling to [`MAX`]), instead of waiting
//! for the next watch event or resync. Pure: the loop passes the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The first retry's delay.
pub const FIRST: Duration = Duration::from_millis(500);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    due: Instant,
}

/// Failed Services by uid, each with its next retry.
#[derive(Debug, Default)]
pub struct Retries {
    by_uid: HashMap<String, Backoff>,
}

impl Retries {
    /// Records a failed write of `uid` at `now`; the delay doubles with each failure in a row.
    pub fn failed(&mut self, uid: &str, now: Instant) {
        let failures = self.by_uid.get(uid).map_or(0, |b| b.failures) + 1;
        let delay = FIRST
            .saturating_mul(2u32.saturating_pow(failures - 1))
            .min(MAX);
        self.by_uid.insert(
            uid.to_string(),
            Backoff {
                failures,
                due: now + delay,
            },
        );
    }

    /// Records a successful write of `uid`: its backoff starts over.
    pub fn succeeded(&mut self, uid: &str) {
        self.by_uid.remove(uid);
    }

    /// Forgets Services that need no write any more (`wanted`: the uids still to write).
    pub fn keep_only(&mut self, wanted: impl IntoIterator<Item = String>) {
        let wanted: std::collections::HashSet<String> = wanted.into_iter().collect();
        self.by_uid.retain(|uid, _| wanted.contains(uid));
    }

    /// When the loop must plan again for the earliest retry (`None`: nothing to retry).
    pub fn next_due(&self) -> Option<Instant> {
        self.by_uid.values().map(|b| b.due).min()
    }

    /// Failures in a row of `uid`.
    pub fn failures(&self, uid: &str) -> u32 {
        self.by_uid.get(uid).map_or(0, |b| b.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_backs_off_on_its_own() {
        let t0 = Instant::now();
        let mut r = Retries::default();
        assert_eq!(r.next_due(), None);
        r.failed("a", t0);
        assert_eq!(r.next_due(), Some(t0 + FIRST));
        r.failed("a", t0);
        r.failed("a", t0);
        assert_eq!(r.failures("a"), 3);
        assert_eq!(r.next_due(), Some(t0 + FIRST * 4));
        r.failed("b", t0);
        assert_eq!(
            r.next_due(),
            Some(t0 + FIRST),
            "b's first retry comes before a's fourth"
        );
        r.succeeded("b");
        assert_eq!(r.next_due(), Some(t0 + FIRST * 4));
        for _ in 0..40 {
            r.failed("a", t0);
        }
        assert_eq!(r.next_due(), Some(t0 + MAX), "capped");
        r.keep_only(["c".to_string()]);
        assert_eq!(r.next_due(), None, "a needs no write any more");
    }
}
