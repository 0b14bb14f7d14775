//! The `--dataplane` decision, pure: each detection of kube-proxy goes in, whether this node
//! programs table `inet ferrolb` (and why) comes out. [`super::supervisor`] feeds it.
//!
//! `auto`, with hysteresis:
//! - **kube-proxy seen** ([`KubeProxy::Present`]): announce-only at once. Both program the
//!   node only from kube-proxy's first rule to the next detection (one
//!   `--dataplane-detect-interval`, plus the time to delete the table).
//! - **kube-proxy not seen** ([`KubeProxy::Absent`]): programming starts only once it has
//!   stayed absent through every detection for `--dataplane-takeover-delay`, so a kube-proxy
//!   restart, a flush-and-rewrite or a switch between its iptables and nftables modes does not
//!   make the speaker grab the node. Exception, the first conclusive detection (at start, or
//!   after only unreadable ones): with no kube-proxy seen the speaker programs at once. A node
//!   that boots the speaker before kube-proxy is thus programmed by the speaker until
//!   kube-proxy writes its first rule, and handed over within one detection interval.
//! - **unreadable** ([`KubeProxy::Unknown`]): the decision stays (reported in
//!   [`Decision::kube_proxy`]) and an absence in progress starts over; at start, announce-only.
//!
//! `nftables` and `announce-only` never change.

use std::time::{Duration, Instant, SystemTime};

use super::detect::{KubeProxy, Mode};

/// Default of `--dataplane-detect-interval`.
pub const DETECT_INTERVAL: Duration = Duration::from_secs(1);
/// Default of `--dataplane-takeover-delay`.
pub const TAKEOVER_DELAY: Duration = Duration::from_secs(10);

/// Whether this node programs table `inet ferrolb` (and serves the healthCheckNodePorts),
/// why, since when and what was seen: what `/debug/state` prints as `observed.dataplane`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `--dataplane`.
    pub mode: Mode,
    /// Program the table and serve the healthCheckNodePorts; `false`: announce-only.
    pub enabled: bool,
    /// One sentence for operators.
    pub reason: String,
    /// When `enabled` took its value (for the first decision: when it was made).
    pub since: SystemTime,
    /// What the last detection found; `None` when nothing is detected (`announce-only`).
    pub kube_proxy: Option<KubeProxy>,
    /// `auto`, not programming, kube-proxy absent since the last detections: when the
    /// speaker takes over if it stays absent.
    pub takeover_at: Option<SystemTime>,
}

impl Decision {
    /// Who delivers Service traffic by this decision: `nftables` or `announce-only` (the
    /// `to` label of the decision-change counter).
    pub fn programs(&self) -> &'static str {
        if self.enabled {
            "nftables"
        } else {
            "announce-only"
        }
    }
}

/// The decider's memory between detections.
#[derive(Debug, Clone)]
pub struct Decider {
    mode: Mode,
    takeover_delay: Duration,
    current: Option<Decision>,
    /// A detection said Present or Absent at least once.
    conclusive: bool,
    /// Start of the uninterrupted run of Absent detections while not programming.
    absent_since: Option<(Instant, SystemTime)>,
}

impl Decider {
    /// A decider for `mode`; `takeover_delay` only matters in `auto`.
    pub fn new(mode: Mode, takeover_delay: Duration) -> Decider {
        Decider {
            mode,
            takeover_delay,
            current: None,
            conclusive: false,
            absent_since: None,
        }
    }

    /// Whether detections matter at all (not in `announce-only`).
    pub fn detects(&self) -> bool {
        self.mode != Mode::AnnounceOnly
    }

    /// The last decision; `None` before the first [`observe`](Self::observe).
    pub fn decision(&self) -> Option<&Decision> {
        self.current.as_ref()
    }

    /// Takes the detection made at `now` (`wall`: the same instant on the wall clock, for
    /// display only; hysteresis runs on `now`). `seen` is `None` when nothing was looked at
    /// (`announce-only`; elsewhere it counts as unreadable).
    pub fn observe(
        &mut self,
        now: Instant,
        wall: SystemTime,
        seen: Option<KubeProxy>,
    ) -> &Decision {
        let before = self.current.take();
        let (enabled, reason) = match self.mode {
            Mode::AnnounceOnly => (false, announce_only_reason()),
            Mode::Nftables => (true, nftables_reason(seen.as_ref())),
            Mode::Auto => self.auto(now, wall, seen.as_ref(), before.as_ref()),
        };
        let since = match &before {
            Some(b) if b.enabled == enabled => b.since,
            _ => wall,
        };
        let takeover_at = match (self.mode, enabled, self.absent_since) {
            (Mode::Auto, false, Some((_, started))) => started.checked_add(self.takeover_delay),
            _ => None,
        };
        self.current.insert(Decision {
            mode: self.mode,
            enabled,
            reason,
            since,
            kube_proxy: seen,
            takeover_at,
        })
    }

    fn auto(
        &mut self,
        now: Instant,
        wall: SystemTime,
        seen: Option<&KubeProxy>,
        before: Option<&Decision>,
    ) -> (bool, String) {
        let was = before.map(|b| b.enabled);
        match seen {
            Some(KubeProxy::Present(evidence)) => {
                self.conclusive = true;
                self.absent_since = None;
                (
                    false,
                    format!(
                        "--dataplane=auto: kube-proxy programs this node ({evidence}); leaving Service delivery to it (--dataplane=nftables to override)"
                    ),
                )
            }
            Some(KubeProxy::Absent) => {
                let first = !std::mem::replace(&mut self.conclusive, true);
                if was == Some(true) || first {
                    self.absent_since = None;
                    let reason = match (was, before) {
                        (Some(true), Some(b)) => b.reason.clone(),
                        _ => "--dataplane=auto: no kube-proxy rules found, programming table inet ferrolb".to_string(),
                    };
                    return (true, reason);
                }
                let (started, _) = *self.absent_since.get_or_insert((now, wall));
                let delay = self.takeover_delay;
                if now.saturating_duration_since(started) >= delay {
                    self.absent_since = None;
                    (
                        true,
                        format!(
                            "--dataplane=auto: kube-proxy's rules stayed gone for {}, programming table inet ferrolb",
                            humanize(delay)
                        ),
                    )
                } else {
                    (
                        false,
                        format!(
                            "--dataplane=auto: kube-proxy's rules are gone; programming table inet ferrolb if they stay gone for {}",
                            humanize(delay)
                        ),
                    )
                }
            }
            Some(KubeProxy::Unknown(error)) => self.unreadable(error, before),
            None => self.unreadable("nothing was detected", before),
        }
    }

    fn unreadable(&mut self, error: &str, before: Option<&Decision>) -> (bool, String) {
        self.absent_since = None;
        match before {
            Some(b) => (b.enabled, b.reason.clone()),
            None => (
                false,
                format!(
                    "--dataplane=auto: cannot read the node's nftables ruleset ({error}); not programming Service rules until it can (--dataplane=nftables to force)"
                ),
            ),
        }
    }
}

fn announce_only_reason() -> String {
    "--dataplane=announce-only: answering ARP/NDP only; kube-proxy or another dataplane delivers Service traffic".to_string()
}

fn nftables_reason(seen: Option<&KubeProxy>) -> String {
    match seen {
        Some(KubeProxy::Present(evidence)) => format!(
            "--dataplane=nftables: programming table inet ferrolb although kube-proxy also programs this node ({evidence}); both handle Service traffic"
        ),
        _ => "--dataplane=nftables: programming table inet ferrolb".to_string(),
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
