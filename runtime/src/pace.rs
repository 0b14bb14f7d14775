//! Pacing of the loops that recompute a whole desired state when any watched object changes
//! (the speaker's step, the edge's pass).
//!
//! Without it a burst of changes (10,000 Services created) costs one full pass per change, and
//! with passes of tens of milliseconds at that scale every speaker and the edge took a core
//! each. After a pass that took `t`, the next one waits until `t` has passed since it ended,
//! collecting every change meanwhile into that one pass: passing takes at most half of the
//! loop's time, whatever the rate of changes, and a lone change after a quiet spell is not
//! delayed at all. The pause is capped at [`MAX_PAUSE`]. Changes that decide who answers
//! (gossip membership, interfaces, node health) are never paced: callers pause only for
//! watched objects.
//!
//! A pass itself runs [`off_the_runtime`]: it is CPU-bound, and while it held a runtime
//! worker the tasks queued there (the speakers' gossip, the edge's connections) waited for it.

use std::time::{Duration, Instant};

/// The longest a change waits for the pass before it to cool down.
pub const MAX_PAUSE: Duration = Duration::from_millis(200);

/// When the next pass may start, the last one having ended at `ended` after taking `took`.
pub fn next_pass_at(ended: Instant, took: Duration) -> Instant {
    ended + took.min(MAX_PAUSE)
}

/// Runs `pass` (the CPU-bound part of a whole pass: seconds with 10,000 Services on a busy
/// node) without holding a runtime worker: on the multi-threaded runtime the worker's other
/// tasks move to another thread meanwhile ([`tokio::task::block_in_place`]). When the
/// speakers' step held its worker, their gossip answered late: at 10,000 Services on two
/// shared cores each speaker was declared down and rejoined some 270 times, and addresses
/// moved each time. In place on a current-thread runtime (tests).
pub fn off_the_runtime<R>(pass: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(pass),
        _ => pass(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One worker only: unless the pass hands it over, the ticker cannot tick during the pass.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_tasks_run_during_a_pass() {
        let (tx, rx) = std::sync::mpsc::channel();
        let ticker = tokio::spawn(async move {
            for i in 0..5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let _ = tx.send(i);
            }
        });
        // On the worker, as the daemons' loops are (the test's own body is not).
        let pass = tokio::spawn(async {
            off_the_runtime(|| std::thread::sleep(Duration::from_millis(500)));
        });
        pass.await.unwrap();
        assert_eq!(rx.try_iter().count(), 5, "the ticker waited for the pass");
        let _ = ticker.await;
    }

    #[tokio::test]
    async fn a_pass_runs_in_place_on_a_current_thread_runtime() {
        assert_eq!(off_the_runtime(|| 7), 7);
    }

    #[test]
    fn the_pause_is_the_last_pass_capped() {
        let ended = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(next_pass_at(ended, ms(0)), ended);
        assert_eq!(next_pass_at(ended, ms(40)), ended + ms(40));
        assert_eq!(next_pass_at(ended, ms(900)), ended + MAX_PAUSE);
    }
}
