//! The `--dataplane` decider: fixed modes, `auto`'s hysteresis, and properties over random
//! detection sequences.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;

use super::super::{Decider, Decision, KubeProxy, Mode};

const DELAY: Duration = Duration::from_secs(10);

fn present() -> KubeProxy {
    KubeProxy::Present("table ip kube-proxy".to_string())
}

fn unknown() -> KubeProxy {
    KubeProxy::Unknown("nft: not found".to_string())
}

/// Drives a decider on a fake clock (milliseconds since the start).
struct Run {
    decider: Decider,
    start: Instant,
}

impl Run {
    fn new(mode: Mode, delay: Duration) -> Run {
        Run {
            decider: Decider::new(mode, delay),
            start: Instant::now(),
        }
    }

    fn at(&mut self, ms: u64, seen: KubeProxy) -> Decision {
        let offset = Duration::from_millis(ms);
        let wall = UNIX_EPOCH + Duration::from_secs(1_767_225_600) + offset;
        self.decider
            .observe(self.start + offset, wall, Some(seen))
            .clone()
    }
}

#[test]
fn fixed_modes_never_change_whatever_is_seen() {
    for seen in [KubeProxy::Absent, present(), unknown()] {
        let mut nft = Run::new(Mode::Nftables, DELAY);
        let mut off = Run::new(Mode::AnnounceOnly, DELAY);
        for ms in [0, 5_000, 60_000] {
            assert!(nft.at(ms, seen.clone()).enabled);
            let d = off.at(ms, seen.clone());
            assert!(!d.enabled);
            assert!(d.reason.contains("--dataplane=announce-only"), "{d:?}");
        }
    }
    let mut nft = Run::new(Mode::Nftables, DELAY);
    let both = nft.at(0, present());
    assert!(both.reason.contains("kube-proxy also programs"), "{both:?}");
    assert_eq!(both.kube_proxy, Some(present()));
    assert!(!Decider::new(Mode::AnnounceOnly, DELAY).detects());
    assert!(Decider::new(Mode::Auto, DELAY).detects());
}

#[test]
fn auto_decides_at_once_at_start() {
    let d = Run::new(Mode::Auto, DELAY).at(0, KubeProxy::Absent);
    assert!(d.enabled, "{d:?}");
    assert_eq!(d.programs(), "nftables");
    let d = Run::new(Mode::Auto, DELAY).at(0, present());
    assert!(
        !d.enabled && d.reason.contains("table ip kube-proxy"),
        "{d:?}"
    );
    assert_eq!(d.programs(), "announce-only");
    let d = Run::new(Mode::Auto, DELAY).at(0, unknown());
    assert!(!d.enabled && d.reason.contains("nft: not found"), "{d:?}");
}

#[test]
fn a_speaker_booted_before_kube_proxy_hands_over_and_takes_over_only_after_the_delay() {
    let mut run = Run::new(Mode::Auto, DELAY);
    let first = run.at(0, KubeProxy::Absent);
    assert!(first.enabled);
    // kube-proxy starts: withdrawn at the next detection.
    let yielded = run.at(1_000, present());
    assert!(!yielded.enabled);
    assert_eq!(yielded.since, first.since + Duration::from_secs(1));
    // kube-proxy restarts (its table gone for a while): no grab before the delay.
    let gone = run.at(2_000, KubeProxy::Absent);
    assert!(
        !gone.enabled && gone.reason.contains("stay gone for 10s"),
        "{gone:?}"
    );
    assert_eq!(
        gone.takeover_at,
        Some(first.since + Duration::from_secs(12))
    );
    assert!(!run.at(11_999, KubeProxy::Absent).enabled);
    assert!(!run.at(12_000, present()).enabled, "kube-proxy is back");
    // Gone for good: programming exactly when the delay has passed.
    assert!(!run.at(13_000, KubeProxy::Absent).enabled);
    assert!(!run.at(22_999, KubeProxy::Absent).enabled);
    let taken = run.at(23_000, KubeProxy::Absent);
    assert!(
        taken.enabled && taken.reason.contains("stayed gone for 10s"),
        "{taken:?}"
    );
    assert_eq!(taken.takeover_at, None);
    assert_eq!(taken.since, first.since + Duration::from_secs(23));
}

#[test]
fn unreadable_keeps_the_decision_and_restarts_the_absence() {
    let mut run = Run::new(Mode::Auto, DELAY);
    assert!(run.at(0, KubeProxy::Absent).enabled);
    let kept = run.at(1_000, unknown());
    assert!(kept.enabled);
    assert_eq!(kept.kube_proxy, Some(unknown()));
    assert!(!run.at(2_000, present()).enabled);
    assert!(!run.at(3_000, KubeProxy::Absent).enabled);
    assert!(!run.at(4_000, unknown()).enabled);
    // The absence counts again from 5 s, not from 3 s.
    assert!(!run.at(5_000, KubeProxy::Absent).enabled);
    assert!(!run.at(14_000, KubeProxy::Absent).enabled);
    assert!(run.at(15_000, KubeProxy::Absent).enabled);
}

#[test]
fn unreadable_at_start_then_absent_counts_as_the_first_decision() {
    let mut run = Run::new(Mode::Auto, DELAY);
    assert!(!run.at(0, unknown()).enabled);
    assert!(!run.at(1_000, unknown()).enabled);
    assert!(run.at(2_000, KubeProxy::Absent).enabled);
}

#[test]
fn the_decision_only_changes_when_something_changed() {
    let mut run = Run::new(Mode::Auto, DELAY);
    let a = run.at(0, KubeProxy::Absent);
    assert_eq!(run.at(1_000, KubeProxy::Absent), a);
    let p = run.at(2_000, present());
    assert_eq!(run.at(3_000, present()), p);
    let waiting = run.at(4_000, KubeProxy::Absent);
    assert_eq!(run.at(5_000, KubeProxy::Absent), waiting);
}

/// One detection: milliseconds after the previous one, and what it found.
fn detections() -> impl Strategy<Value = Vec<(u64, KubeProxy)>> {
    let seen = prop_oneof![
        3 => Just(KubeProxy::Absent),
        2 => Just(present()),
        1 => Just(unknown()),
    ];
    proptest::collection::vec((0u64..4_000, seen), 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// `auto` against the rules of the issue, over any detection sequence and delay.
    #[test]
    fn auto_follows_kube_proxy_with_hysteresis(
        delay_ms in 0u64..20_000,
        steps in detections(),
    ) {
        let delay = Duration::from_millis(delay_ms);
        let mut run = Run::new(Mode::Auto, delay);
        let mut now = 0;
        // (time, seen, enabled) of every earlier detection.
        let mut history: Vec<(u64, KubeProxy, bool)> = Vec::new();
        for (gap, seen) in steps {
            now += gap;
            let d = run.at(now, seen.clone());
            let before = history.last().map(|(_, _, enabled)| *enabled);
            let conclusive_before = history
                .iter()
                .any(|(_, s, _)| !matches!(s, KubeProxy::Unknown(_)));
            match &seen {
                KubeProxy::Present(_) => prop_assert!(!d.enabled, "enabled while kube-proxy is seen"),
                KubeProxy::Unknown(_) => prop_assert_eq!(d.enabled, before.unwrap_or(false)),
                KubeProxy::Absent => {}
            }
            // Start of the run of Absent detections that ends now (now when there is none).
            let streak_start = history
                .iter()
                .rev()
                .take_while(|(_, s, _)| *s == KubeProxy::Absent)
                .last()
                .map_or(now, |(t, _, _)| *t);
            if d.enabled && before == Some(false) && conclusive_before {
                // Taking over: absent at every detection for the whole delay.
                prop_assert!(
                    now - streak_start >= delay_ms,
                    "took over after {} ms of absence, delay {} ms", now - streak_start, delay_ms
                );
            }
            if seen == KubeProxy::Absent && !d.enabled {
                // Not taking over: there is an earlier conclusive detection, and the absence
                // is shorter than the delay.
                prop_assert!(conclusive_before);
                prop_assert!(now - streak_start < delay_ms);
                prop_assert!(d.takeover_at.is_some());
            }
            prop_assert_eq!(d.kube_proxy.as_ref(), Some(&seen));
            history.push((now, seen, d.enabled));
        }
    }

    /// `since` moves exactly when `enabled` changes.
    #[test]
    fn since_marks_the_last_change(delay_ms in 0u64..5_000, steps in detections()) {
        let mut run = Run::new(Mode::Auto, Duration::from_millis(delay_ms));
        let mut now = 0;
        let mut last: Option<Decision> = None;
        for (gap, seen) in steps {
            now += gap;
            let d = run.at(now, seen);
            let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600) + Duration::from_millis(now);
            match &last {
                Some(l) if l.enabled == d.enabled => prop_assert_eq!(d.since, l.since),
                _ => prop_assert_eq!(d.since, at),
            }
            last = Some(d);
        }
    }
}

#[test]
fn wall_clock_jumps_do_not_matter() {
    // Hysteresis runs on the monotonic clock: a wall clock set back does not delay or hasten.
    let mut decider = Decider::new(Mode::Auto, DELAY);
    let start = Instant::now();
    let late = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    assert!(!decider.observe(start, late, Some(present())).enabled);
    decider.observe(
        start + Duration::from_secs(1),
        late,
        Some(KubeProxy::Absent),
    );
    let early = SystemTime::UNIX_EPOCH;
    let d = decider.observe(
        start + Duration::from_secs(11),
        early,
        Some(KubeProxy::Absent),
    );
    assert!(d.enabled);
}
