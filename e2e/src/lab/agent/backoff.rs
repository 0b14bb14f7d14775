//! The kubelet's restart back-off for a container that exits or fails its liveness probe
//! (`CrashLoopBackOff`): the first restart is immediate, each one after waits twice as long as
//! the one before (10 s, 20 s, 40 s, ... at most 5 min) counted from the exit, and a container
//! that ran longer than 10 min before exiting starts over with an immediate restart.
//!
//! As upstream `k8s.io/client-go/util/flowcontrol.Backoff` used by the kubelet: the entry
//! remembers the current delay and when the container was last restarted; an entry older than
//! twice the cap at the time of the exit has expired.

use std::time::{Duration, Instant};

/// The delay after the second exit.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(300);

/// One container's back-off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    /// (current delay, when the container was last restarted).
    entry: Option<(Duration, Instant)>,
}

impl Backoff {
    fn live_entry(&self, finished: Instant) -> Option<Duration> {
        let (delay, last) = self.entry?;
        (finished.saturating_duration_since(last) <= 2 * MAX).then_some(delay)
    }

    /// How long after `finished` (when it exited) the container may start again.
    pub fn delay(&self, finished: Instant) -> Duration {
        self.live_entry(finished).unwrap_or(Duration::ZERO)
    }

    /// Records a restart at `now` of the container that exited at `finished`.
    pub fn restarted(&mut self, finished: Instant, now: Instant) {
        let delay = self
            .live_entry(finished)
            .map_or(INITIAL, |d| (d * 2).min(MAX));
        self.entry = Some((delay, now));
    }

    /// Forgets every exit (the lab released a hold: the container starts at once).
    pub fn reset(&mut self) {
        self.entry = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Delays of `n` crashes, each `ran` after its restart.
    fn delays(n: usize, ran: Duration) -> Vec<u64> {
        let mut b = Backoff::default();
        let mut now = Instant::now();
        let mut out = Vec::new();
        for _ in 0..n {
            now += ran;
            let d = b.delay(now);
            out.push(d.as_secs());
            let restart = now + d;
            b.restarted(now, restart);
            now = restart;
        }
        out
    }

    #[test]
    fn doubles_from_ten_seconds_up_to_five_minutes() {
        assert_eq!(
            delays(9, Duration::from_secs(1)),
            [0, 10, 20, 40, 80, 160, 300, 300, 300]
        );
    }

    #[test]
    fn ten_minutes_of_running_start_over_and_a_reset_restarts_at_once() {
        assert_eq!(delays(3, Duration::from_secs(601)), [0, 0, 0]);
        let mut b = Backoff::default();
        let t = Instant::now();
        b.restarted(t, t);
        assert_eq!(b.delay(t + Duration::from_secs(5)), INITIAL);
        b.reset();
        assert_eq!(b.delay(t + Duration::from_secs(5)), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn never_above_the_cap_and_never_shrinking_while_crashing(
            runs in proptest::collection::vec(0u64..500, 1..30)
        ) {
            let mut b = Backoff::default();
            let mut now = Instant::now();
            let mut last = Duration::ZERO;
            for ran in runs {
                now += Duration::from_secs(ran);
                let d = b.delay(now);
                prop_assert!(d <= MAX);
                prop_assert!(d >= last || d == Duration::ZERO);
                last = d;
                b.restarted(now, now + d);
                now += d;
            }
        }
    }
}
