//! The speaker's heap at N Services without a lab (issue 21): builds the watched objects as the
//! reflectors hold them ([`World`]), runs two steps of the loop as the daemon does and keeps
//! what it keeps ([`Kept`]), counting every allocation with a global allocator of this binary
//! only. Prints JSON. `cargo xtask bench speaker-heap` runs it in release; under heaptrack it
//! gives the allocation sites.
//!
//! `cargo run --release -p ferrolb-speaker --example heap -- [SERVICES] [--leak]` (default
//! 10000). `--leak` keeps everything at exit: heaptrack's "leaked" bytes are then the retained
//! ones, by allocation site (`heaptrack_print --flamegraph-cost-type leaked`).

mod counting;

use counting::{Counting, live, peak, reset_peak};
use ferrolb_speaker::daemon::scale::{Kept, World};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// VmRSS in bytes.
fn rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() -> anyhow::Result<()> {
    let services: usize = match std::env::args().nth(1).filter(|a| a != "--leak") {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let base = live();
    let world = World::new(services)?;
    let stores = live() - base;

    reset_peak();
    let before = live();
    let first = Kept::step(&world, None);
    let first_peak = peak() - before;
    let kept_first = live() - before;

    // The steady state: a second step while the first is still kept, then the first dropped.
    reset_peak();
    let before = live();
    let second = Kept::step(&world, Some(&first));
    let step_peak = peak() - before;
    drop(first);
    let kept = live() - base - stores;
    let announced = second.announced();
    let debug_state = second.debug_state_bytes();
    let total = live() - base;
    let per = |b: usize| b.checked_div(services).unwrap_or(0);
    let doc = serde_json::json!({
        "benchmark": "speaker-heap",
        "services": services,
        "announced": announced,
        "stores_bytes": stores,
        "kept_after_step_bytes": kept,
        "kept_after_first_step_bytes": kept_first,
        "retained_bytes": total,
        "retained_bytes_per_service": per(total),
        "stores_bytes_per_service": per(stores),
        "kept_bytes_per_service": per(kept),
        "first_step_peak_bytes": first_peak,
        "step_peak_bytes": step_peak,
        "peak_heap_bytes": stores + first_peak.max(kept_first + step_peak),
        "debug_state_bytes": debug_state,
        "rss_bytes": rss(),
        "note": "heap counted by this binary's global allocator; retained = stores (objects as the reflectors keep them) + what the daemon keeps after a step (Applied, channel values, the applier's ruleset); step peaks above what was live before the step",
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    if std::env::args().any(|a| a == "--leak") {
        std::mem::forget(world);
        std::mem::forget(second);
    } else {
        drop(second);
    }
    Ok(())
}
