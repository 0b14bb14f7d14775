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
    let mut world = World::new(services)?;
    let stores = live() - base;

    reset_peak();
    let before = live();
    let mut first = Kept::step(&world, None);
    let full_step = first.timing();
    let first_peak = peak() - before;
    let kept_first = live() - before;

    // The steady state: a second step while the first is still kept, then the first dropped.
    reset_peak();
    let before = live();
    let second = Kept::step(&world, Some(&mut first));
    let step_peak = peak() - before;
    drop(first);
    let kept = live() - base - stores;
    let announced = second.announced();
    let debug_state = second.debug_state_bytes();
    let total = live() - base;
    let rss_bytes = rss();
    let allocator = ferrolb_runtime::allocator::Stats::read()?;
    let timing = step_times(&mut world, second)?;
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
        "rss_bytes": rss_bytes,
        "allocator": {"allocated_bytes": allocator.allocated, "active_bytes": allocator.active,
            "metadata_bytes": allocator.metadata, "resident_bytes": allocator.resident},
        "first_step": {"desired_ms": ms(full_step.desired), "rules_ms": ms(full_step.rules),
            "note": "the first step: nothing kept from an earlier one (a speaker's start)"},
        "steady_step": timing,
        "note": "heap counted by this binary's global allocator; retained = stores (objects as the reflectors keep them) + what the daemon keeps after a step (Applied, channel values, the applier's ruleset); step peaks above what was live before the step",
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    if std::env::args().any(|a| a == "--leak") {
        std::mem::forget(world);
    }
    Ok(())
}

/// Steps timed after the memory figures, each after one change (one Service's EndpointSlice
/// replaced, gaining or losing an endpoint, as a watch event replaces it); medians in
/// milliseconds.
/// Timed steady steps (`HEAP_STEPS` overrides, for a profile of the steady step).
const TIMED_STEPS: usize = 5;

fn step_times(world: &mut World, mut last: Kept) -> anyhow::Result<serde_json::Value> {
    let (mut desired, mut rules, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    let steps = std::env::var("HEAP_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TIMED_STEPS);
    for i in 0..steps {
        world.change_slice(i * 7919)?;
        let next = Kept::step(world, Some(&mut last));
        let t = next.timing();
        desired.push(ms(t.desired));
        rules.push(ms(t.rules));
        diff.extend(next.rules_diff_since(&last).map(ms));
        last = next;
    }
    if std::env::args().any(|a| a == "--leak") {
        std::mem::forget(last);
    }
    Ok(serde_json::json!({
        "steps": steps,
        "desired_ms": median(desired),
        "rules_ms": median(rules),
        "rules_diff_ms": median(diff),
        "note": "one step after one change (a Service's EndpointSlice replaced, gaining an endpoint on another node), single thread, this binary's counting allocator: desired = nodestate::desired_before_rules_with and the step memo (what the announcer waits for), rules = build_rules, rules_diff = the dataplane's update script from the last ruleset",
    }))
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}
