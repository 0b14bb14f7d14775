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

use std::time::{Duration, Instant};

/// The longest a change waits for the pass before it to cool down.
pub const MAX_PAUSE: Duration = Duration::from_millis(200);

/// When the next pass may start, the last one having ended at `ended` after taking `took`.
pub fn next_pass_at(ended: Instant, took: Duration) -> Instant {
    ended + took.min(MAX_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_is_the_last_pass_capped() {
        let ended = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(next_pass_at(ended, ms(0)), ended);
        assert_eq!(next_pass_at(ended, ms(40)), ended + ms(40));
        assert_eq!(next_pass_at(ended, ms(900)), ended + MAX_PAUSE);
    }
}
