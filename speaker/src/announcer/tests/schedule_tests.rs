use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{VIP_V4, VIP_V6};
use crate::announcer::schedule::{Backoff, Bursts};

const MS: Duration = Duration::from_millis(1);

#[test]
fn burst_sends_first_round_at_once_then_every_interval() {
    let t0 = Instant::now();
    let interval = 50 * MS;
    let mut b = Bursts::new(interval);
    b.start(VIP_V4.into(), 3, t0);
    assert_eq!(b.next_due(), Some(t0));
    assert_eq!(b.take_due(t0), [VIP_V4]);
    assert_eq!(b.next_due(), Some(t0 + interval));
    assert!(b.take_due(t0 + 49 * MS).is_empty(), "not due yet");
    assert_eq!(b.take_due(t0 + interval), [VIP_V4]);
    assert!(b.is_pending(VIP_V4.into()));
    assert_eq!(b.take_due(t0 + 2 * interval), [VIP_V4]);
    assert!(!b.is_pending(VIP_V4.into()), "three rounds, then done");
    assert_eq!(b.next_due(), None);
    assert!(b.take_due(t0 + 10 * interval).is_empty());
}

#[test]
fn bursts_of_several_addresses_cancel_and_restart() {
    let t0 = Instant::now();
    let mut b = Bursts::new(10 * MS);
    b.start(VIP_V4.into(), 2, t0);
    b.start(VIP_V6.into(), 2, t0 + 5 * MS);
    assert_eq!(
        b.take_due(t0 + 5 * MS),
        [IpAddr::from(VIP_V4), IpAddr::from(VIP_V6)]
    );
    b.cancel(VIP_V4.into());
    assert_eq!(b.take_due(t0 + 15 * MS), [IpAddr::from(VIP_V6)]);
    assert_eq!(b.next_due(), None);
    // A restart replaces the rounds left; a count of 0 schedules nothing.
    b.start(VIP_V4.into(), 5, t0);
    b.start(VIP_V4.into(), 1, t0);
    assert_eq!(b.take_due(t0).len(), 1);
    assert_eq!(b.next_due(), None);
    b.start(VIP_V6.into(), 0, t0);
    assert_eq!(b.next_due(), None);
}

#[test]
fn backoff_doubles_to_the_max_and_resets_only_after_a_long_run() {
    // backon multiplies in f32: compare whole milliseconds.
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut b = Backoff::new(100 * MS, 500 * MS);
    let delays: Vec<_> = (0..5).map(|_| ms(b.next_delay()).round()).collect();
    assert_eq!(delays, [100.0, 200.0, 400.0, 500.0, 500.0]);
    b.attempt_lasted(499 * MS);
    assert_eq!(
        ms(b.next_delay()).round(),
        500.0,
        "a short-lived socket does not reset"
    );
    b.attempt_lasted(500 * MS);
    assert_eq!(b.next_delay(), 100 * MS);
}
