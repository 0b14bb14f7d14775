//! Health of probe targets (pure): one state machine per target, fed with probe outcomes.
//!
//! - A target starts `Unknown`, which counts as unhealthy: nothing is sent to a node before it
//!   answered once.
//! - The first success makes an `Unknown` target `Healthy` at once (a fresh edge serves as soon
//!   as it knows), then thresholds apply: `unhealthy` consecutive failures make it `Unhealthy`,
//!   `healthy` consecutive successes make it `Healthy` again.
//! - With the default unhealthy threshold of 1 a node stops receiving new connections within
//!   one probe interval plus one timeout of going bad.
//!
//! Targets are what the prober probes: for an eTP=Local Service `GET
//! http://nodeIP:healthCheckNodePort/` (200 = the node has a ready local endpoint); for Cluster
//! `GET http://nodeIP:<health port>/healthz` (the speaker's or kube-proxy's health API).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// What to probe: `GET http://ip:port/path`, healthy on 200.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProbeTarget {
    /// The node's address.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
    /// The path (`/healthz` or `/`).
    pub path: String,
}

impl ProbeTarget {
    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

impl fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.addr(), self.path)
    }
}

/// How many consecutive results flip a target (each at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// Successes that make an unhealthy target healthy.
    pub healthy: u32,
    /// Failures that make a healthy target unhealthy.
    pub unhealthy: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            healthy: 2,
            unhealthy: 1,
        }
    }
}

/// The state of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum State {
    /// Never answered yet (unhealthy).
    #[default]
    Unknown,
    /// Receives new connections.
    Healthy,
    /// Receives no new connections.
    Unhealthy,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// 200 within the timeout.
    pub ok: bool,
    /// What happened (`200 OK`, `503 Service Unavailable`, `timeout after 500ms`, …).
    pub detail: String,
    /// When the probe started.
    #[serde(serialize_with = "crate::timefmt::serialize")]
    pub at: SystemTime,
    /// How long it took (`tookMs` in JSON).
    #[serde(
        rename = "tookMs",
        serialize_with = "crate::timefmt::serialize_duration"
    )]
    pub took: Duration,
}

/// One target's state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    /// Current state.
    pub state: State,
    /// Consecutive successes.
    pub successes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// When the state last changed (`None`: still `Unknown`).
    #[serde(serialize_with = "crate::timefmt::serialize_opt")]
    pub since: Option<SystemTime>,
    /// The last probe's outcome.
    pub last: Option<Outcome>,
}

impl TargetHealth {
    /// Whether new connections may go to this target's node.
    pub fn healthy(&self) -> bool {
        self.state == State::Healthy
    }

    /// Feeds one outcome; returns whether the state changed.
    pub fn record(&mut self, outcome: Outcome, th: Thresholds) -> bool {
        let before = self.state;
        if outcome.ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if self.state == State::Unknown || self.successes >= th.healthy.max(1) {
                self.state = State::Healthy;
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            if self.failures >= th.unhealthy.max(1) {
                self.state = State::Unhealthy;
            }
        }
        let changed = before != self.state;
        if changed {
            self.since = Some(outcome.at);
        }
        self.last = Some(outcome);
        changed
    }
}

/// Every target's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthBook {
    targets: BTreeMap<ProbeTarget, TargetHealth>,
    thresholds: Thresholds,
}

impl HealthBook {
    /// An empty book.
    pub fn new(thresholds: Thresholds) -> HealthBook {
        HealthBook {
            targets: BTreeMap::new(),
            thresholds,
        }
    }

    /// Feeds one outcome for `target` (ignored when the target is no longer wanted); returns
    /// whether its state changed.
    pub fn record(&mut self, target: &ProbeTarget, outcome: Outcome) -> bool {
        let th = self.thresholds;
        self.targets
            .get_mut(target)
            .is_some_and(|h| h.record(outcome, th))
    }

    /// Keeps exactly `wanted`: new targets start `Unknown`, others are forgotten.
    pub fn retain(&mut self, wanted: &BTreeSet<ProbeTarget>) {
        self.targets.retain(|t, _| wanted.contains(t));
        for t in wanted {
            self.targets.entry(t.clone()).or_default();
        }
    }

    /// Whether `target` is healthy (unknown targets are not).
    pub fn healthy(&self, target: &ProbeTarget) -> bool {
        self.targets.get(target).is_some_and(TargetHealth::healthy)
    }

    /// The state of `target`, if wanted.
    pub fn get(&self, target: &ProbeTarget) -> Option<&TargetHealth> {
        self.targets.get(target)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn outcome(ok: bool, secs: u64) -> Outcome {
        Outcome {
            ok,
            detail: if ok {
                "200 OK"
            } else {
                "503 Service Unavailable"
            }
            .into(),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            took: Duration::from_millis(1),
        }
    }

    fn run(th: Thresholds, results: &[bool]) -> Vec<State> {
        let mut h = TargetHealth::default();
        results
            .iter()
            .enumerate()
            .map(|(i, ok)| {
                h.record(outcome(*ok, i as u64), th);
                h.state
            })
            .collect()
    }

    #[test]
    fn first_success_is_enough_then_thresholds_apply() {
        use State::*;
        let th = Thresholds {
            healthy: 2,
            unhealthy: 1,
        };
        assert_eq!(
            run(th, &[true, false, true, true, false]),
            [Healthy, Unhealthy, Unhealthy, Healthy, Unhealthy]
        );
        let th = Thresholds {
            healthy: 3,
            unhealthy: 2,
        };
        assert_eq!(
            run(
                th,
                &[false, false, true, true, true, false, true, false, false]
            ),
            [
                Unknown, Unhealthy, Unhealthy, Unhealthy, Healthy, Healthy, Healthy, Healthy,
                Unhealthy
            ]
        );
    }

    #[test]
    fn since_moves_only_on_a_change_and_unknown_is_unhealthy() {
        let th = Thresholds::default();
        let mut h = TargetHealth::default();
        assert!(!h.healthy());
        assert!(h.record(outcome(true, 5), th));
        assert!(!h.record(outcome(true, 6), th));
        assert_eq!(
            h.since,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(5))
        );
        assert_eq!(
            h.last.as_ref().map(|o| o.at),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(6))
        );
    }

    #[test]
    fn the_book_keeps_only_wanted_targets() {
        let t = |port| ProbeTarget {
            ip: "198.51.100.11".parse().unwrap(),
            port,
            path: "/healthz".into(),
        };
        let mut book = HealthBook::new(Thresholds::default());
        book.retain(&[t(1), t(2)].into_iter().collect());
        assert!(book.record(&t(1), outcome(true, 1)));
        assert!(!book.record(&t(3), outcome(true, 1)), "unwanted: ignored");
        assert!(book.healthy(&t(1)) && !book.healthy(&t(2)) && !book.healthy(&t(3)));
        book.retain(&[t(2)].into_iter().collect());
        assert!(book.get(&t(1)).is_none());
        assert_eq!(t(1).to_string(), "http://198.51.100.11:1/healthz");
    }

    proptest! {
        /// After `unhealthy` failures in a row a target is unhealthy; after `healthy`
        /// successes in a row it is healthy; it never flips against the last result.
        #[test]
        fn thresholds_hold(healthy in 1u32..5, unhealthy in 1u32..5, results in proptest::collection::vec(any::<bool>(), 0..60)) {
            let th = Thresholds { healthy, unhealthy };
            let states = run(th, &results);
            for (i, state) in states.iter().enumerate() {
                let ok_run = results[..=i].iter().rev().take_while(|r| **r).count() as u32;
                let fail_run = results[..=i].iter().rev().take_while(|r| !**r).count() as u32;
                if fail_run >= unhealthy { prop_assert_eq!(*state, State::Unhealthy); }
                if ok_run >= healthy { prop_assert_eq!(*state, State::Healthy); }
                if i > 0 && *state != states[i - 1] {
                    prop_assert_eq!(*state == State::Healthy, results[i]);
                }
            }
        }
    }
}
