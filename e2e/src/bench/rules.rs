//! Benchmark of the node's Service rules (issue 7): the real [`ferrolb_speaker::ruleset::build`]
//! and [`Applier`] programming table `inet ferrolb` in scratch network namespaces.
//!
//! - full replacement of 1,000 and 10,000 Services: time and `nft -f` script bytes;
//! - one incremental change (one endpoint added to one Service): time and bytes;
//! - one periodic resync (every rule rewritten in place): time and bytes;
//! - new connections per second through a VIP with 10 and with 10,000 Services programmed,
//!   alternating, and their ratio (per-packet cost must not grow with Services).
//!
//! Needs root, iproute2, nftables and conntrack; no lab.

mod input;
mod scratch;
mod traffic;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_speaker::dataplane::{Applier, Conntrack, NFT_TIMEOUT, Nft, SyncMode, SyncReport};
use ferrolb_speaker::ruleset::{Ruleset, build};
use serde_json::{Value, json};

pub use input::{node_input, with_added_endpoint};
pub use scratch::{Scratch, join, spawn_in};
use traffic::Path;

use crate::Error;

/// Sizes whose full replacement is timed.
const SYNC_SIZES: [usize; 2] = [1_000, 10_000];
/// Sizes the connection rate is compared between.
const RATE_SIZES: [usize; 2] = [10, 10_000];
/// Deadline of one `nft` run here: a full replacement of 10,000 Services can take longer than
/// the speaker's own [`NFT_TIMEOUT`] (which the JSON reports).
const NFT_DEADLINE: Duration = Duration::from_secs(900);
/// The Service that gets an endpoint in the incremental change.
const CHANGED: usize = 7;

/// Options of the rules benchmark.
#[derive(Debug, Clone, Copy)]
pub struct RulesOptions {
    /// Full replacements timed per size.
    pub repeats: usize,
    /// Length of one connection-rate measurement.
    pub seconds: f64,
    /// Connection-rate measurements per size (alternating between the sizes).
    pub rounds: usize,
}

/// Runs the benchmark in scratch namespaces `flbt-<pid>-*` (removed at the end, also on
/// error) and returns its JSON.
pub async fn rules(opts: RulesOptions) -> Result<Value, Error> {
    let mut scratch = Scratch::new();
    // Two identical paths, one node with 10 Services and one with 10,000, so the connection
    // rate can alternate between them without reprogramming (10,000 take minutes).
    let small = Path::build(&mut scratch, "s")?;
    let large = Path::build(&mut scratch, "l")?;
    let mut syncs = serde_json::Map::new();
    for n in SYNC_SIZES {
        let figures = sync_figures(&large.node, n, opts.repeats.max(1)).await?;
        syncs.insert(n.to_string(), figures);
    }
    // `large` now holds the last sync size (plus the incremental change, which leaves the
    // measured Service alone).
    let [few, many] = RATE_SIZES;
    if SYNC_SIZES.last() != Some(&many) {
        apply(&large.node, &build(&node_input(many))).await?;
    }
    let ruleset = build(&node_input(few));
    apply(&small.node, &ruleset).await?;
    let dispatch = [
        ruleset.dispatch_rule_count(),
        build(&node_input(many)).dispatch_rule_count(),
    ];

    let duration = Duration::from_secs_f64(opts.seconds.max(0.1));
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut runs = Vec::new();
    for round in 0..opts.rounds.max(1) {
        for (k, (n, path)) in [(few, &small), (many, &large)].into_iter().enumerate() {
            path.flush_conntrack()?;
            let rate = path.connection_rate(duration).await?;
            tracing::info!(
                round,
                services = n,
                per_second = rate.per_second(),
                "connection rate"
            );
            rates[k].push(rate.per_second());
            runs.push(
                json!({"round": round, "services": n, "connections": rate.connections,
                "failures": rate.failures, "seconds": rate.seconds,
                "per_second": rate.per_second()}),
            );
        }
    }
    let medians = rates.clone().map(|r| median(&r));
    let means = rates.map(|r| mean(&r));
    let ratio = |v: [f64; 2]| if v[0] > 0.0 { v[1] / v[0] } else { 0.0 };
    drop((small, large));
    drop(scratch);
    Ok(json!({
        "benchmark": "rules",
        "workload": "TCP Services, Cluster policy, VIPs 198.51.100.1-250 x ports 80-119, 2-3 endpoints each in 192.0.2.0/24",
        "speaker_nft_timeout_ms": ms(NFT_TIMEOUT),
        "sync": syncs,
        "connection_rate": {
            "method": "sequential connect + close (RST) from a client namespace through a forwarding node namespace to a backend namespace, VIP 198.51.100.1:80; two such paths (10 / 10,000 Services on the node), measured alternately",
            "seconds_each": duration.as_secs_f64(),
            "services": RATE_SIZES,
            "dispatch_rules": dispatch,
            "per_second_median": medians,
            "per_second_mean": means,
            "ratio_median_10000_to_10": ratio(medians),
            "ratio_mean_10000_to_10": ratio(means),
            "runs": runs,
        },
    }))
}

/// Times `repeats` full replacements of `n` Services (each by a fresh applier, as after a
/// restart), then one incremental change.
async fn sync_figures(node: &str, n: usize, repeats: usize) -> Result<Value, Error> {
    let input = node_input(n);
    let started = Instant::now();
    let ruleset = Arc::new(build(&input));
    let build_ms = ms(started.elapsed());
    let mut full_ms = Vec::new();
    let mut bytes = 0;
    let mut last = None;
    for _ in 0..repeats {
        let mut applier = applier(node);
        let report = sync(&mut applier, &ruleset).await?;
        if !matches!(report.mode, SyncMode::Full(_)) {
            return Err(Error::msg(format!(
                "expected a full replacement: {report:?}"
            )));
        }
        full_ms.push(ms(report.duration));
        bytes = report.bytes;
        last = Some(applier);
    }
    let mut applier = last.ok_or_else(|| Error::msg("no full replacement ran"))?;
    let changed = Arc::new(build(&with_added_endpoint(&input, CHANGED)));
    let parts = update_parts(applier.nft(), &ruleset, &changed).await?;
    let update = sync(&mut applier, &changed).await?;
    if update.mode != SyncMode::Update {
        return Err(Error::msg(format!("expected an update: {update:?}")));
    }
    // Back to the first rule set, rewriting every rule in place (the periodic resync).
    let mut applier = applier.resync_every(Duration::ZERO);
    let resync = sync(&mut applier, &ruleset).await?;
    if resync.mode != SyncMode::Resync {
        return Err(Error::msg(format!("expected a resync: {resync:?}")));
    }
    let stats = ruleset.stats();
    tracing::info!(services = n, full_ms = ?full_ms, bytes, update_ms = ms(update.duration),
        resync_ms = ms(resync.duration), "sync");
    Ok(json!({
        "services": n,
        "chains": stats.chains,
        "rules": stats.rules,
        "map_elements": stats.map_elements,
        "build_ms": build_ms,
        "full": {"ms": full_ms, "median_ms": median(&full_ms), "bytes": bytes,
            "over_speaker_nft_timeout": full_ms.iter().any(|&t| t > ms(NFT_TIMEOUT))},
        "incremental": {"change": "one endpoint added to one Service",
            "ms": ms(update.duration), "bytes": update.bytes, "parts": parts},
        "resync": {"change": "every rule and map rewritten in place (periodic, keeps affinity state)",
            "ms": ms(resync.duration), "bytes": resync.bytes},
    }))
}

/// The parts of one incremental change, each timed alone on the same table: the speaker's
/// diff of the two rule sets into an update script, and `nft -f` running that script (then the
/// reverse script, to leave the table as it was). The applier's update adds one line to it,
/// the check that the table is still its own.
async fn update_parts(nft: &Nft, from: &Ruleset, to: &Ruleset) -> Result<Value, Error> {
    let started = Instant::now();
    let script = to
        .to_nft_update_script(from)
        .map_err(|e| Error::msg(format!("no update script: {e}")))?;
    let diff_ms = ms(started.elapsed());
    let started = Instant::now();
    nft.apply(&script)
        .await
        .map_err(|e| Error::msg(format!("nft -f of the update script: {e}")))?;
    let nft_ms = ms(started.elapsed());
    let back = from
        .to_nft_update_script(to)
        .map_err(|e| Error::msg(format!("no reverse update script: {e}")))?;
    nft.apply(&back)
        .await
        .map_err(|e| Error::msg(format!("nft -f of the reverse script: {e}")))?;
    Ok(json!({"diff_ms": diff_ms, "nft_f_ms": nft_ms, "script": script}))
}

/// Programs `ruleset` with a fresh applier (a full replacement).
async fn apply(node: &str, ruleset: &Ruleset) -> Result<(), Error> {
    let mut applier = applier(node);
    sync(&mut applier, &Arc::new(ruleset.clone()))
        .await
        .map(|_| ())
}

/// The speaker's applier in namespace `node`, with [`NFT_DEADLINE`].
fn applier(node: &str) -> Applier {
    let ns = Some(node.to_string());
    Applier::with_tools(
        Nft::new(ns.clone()).with_timeout(NFT_DEADLINE),
        Conntrack::new(ns),
    )
}

/// The daemon's sync: the rule set shared with the applier, not copied.
async fn sync(applier: &mut Applier, ruleset: &Arc<Ruleset>) -> Result<SyncReport, Error> {
    applier
        .sync_shared(ruleset)
        .await
        .map_err(|e| Error::msg(format!("programming table inet ferrolb: {e}")))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Arithmetic mean; 0 for no values.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Median (mean of the middle two for an even count); 0 for no values.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_median() {
        assert_eq!(mean(&[]), 0.0);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
