//! Timing decisions (pure, time passed in): takeover bursts and retry backoff.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The announcements still to send, per address: `remaining` rounds, the next one at `due`.
#[derive(Debug, Clone)]
pub struct Bursts {
    interval: Duration,
    pending: BTreeMap<IpAddr, (u32, Instant)>,
}

impl Bursts {
    /// Bursts whose rounds are `interval` apart.
    pub fn new(interval: Duration) -> Self {
        Bursts {
            interval,
            pending: BTreeMap::new(),
        }
    }

    /// Schedules `count` rounds for `ip`, the first one at `now`, replacing any burst of `ip`
    /// in progress. A count of 0 schedules nothing.
    pub fn start(&mut self, ip: IpAddr, count: u32, now: Instant) {
        self.pending.remove(&ip);
        if count > 0 {
            self.pending.insert(ip, (count, now));
        }
    }

    /// Drops whatever remains of `ip`'s burst.
    pub fn cancel(&mut self, ip: IpAddr) {
        self.pending.remove(&ip);
    }

    /// Whether `ip` has rounds left.
    pub fn is_pending(&self, ip: IpAddr) -> bool {
        self.pending.contains_key(&ip)
    }

    /// When the next round is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.values().map(|(_, due)| *due).min()
    }

    /// The addresses whose round is due at `now`, in address order; each is counted as sent
    /// and its next round scheduled `interval` after `now`.
    pub fn take_due(&mut self, now: Instant) -> Vec<IpAddr> {
        let due: Vec<IpAddr> = self
            .pending
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &due {
            if let Some((remaining, at)) = self.pending.get_mut(ip) {
                *remaining = remaining.saturating_sub(1);
                *at = now + self.interval;
                if *remaining == 0 {
                    self.pending.remove(ip);
                }
            }
        }
        due
    }
}

/// Exponential backoff between `initial` and `max`, for reopening a failed interface: backon's
/// delays (doubling, no jitter), restarted only after an attempt that worked for a while.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let max = max.max(initial);
        let builder = ExponentialBuilder::new()
            .with_min_delay(initial)
            .with_max_delay(max)
            .with_factor(2.0)
            .without_max_times();
        Backoff {
            builder,
            delays: builder.build(),
            max,
        }
    }

    /// The delay before the next attempt: `initial`, then doubling up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.max)
    }

    /// Called when an attempt ended after working for `lasted`: only a socket that stayed up
    /// for at least `max` resets the delay, so a link that fails right after opening keeps
    /// backing off.
    pub fn attempt_lasted(&mut self, lasted: Duration) {
        if lasted >= self.max {
            self.delays = self.builder.build();
        }
    }
}
