//! The dataplane task: keeps table `inet ferrolb` equal to the latest ruleset the loop
//! computed, on its own task so that a slow `nft` never delays an ARP/NDP takeover.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::dataplane::Applier;
use crate::health::RulesState;
use crate::ruleset::Ruleset;

use super::metrics::Metrics;

/// What the dataplane task reports to the health API.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulesStatus {
    /// Applied, or pending since when and why.
    pub state: RulesState,
    /// When the rules were last applied.
    pub last_updated: Option<SystemTime>,
}

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often the task checks that the kernel still holds its table (one cheap `nft list set`).
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Starts the task. It ends when `rx`'s sender is dropped.
pub fn spawn(
    mut applier: Applier,
    mut rx: watch::Receiver<Arc<Ruleset>>,
    status: watch::Sender<RulesStatus>,
    metrics: Arc<Metrics>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut retry = RETRY_FIRST;
        // Set when the periodic check found the table gone or rewritten by someone else.
        let mut lost = false;
        loop {
            let ruleset = rx.borrow_and_update().clone();
            if lost || applier.last_applied() != Some(ruleset.as_ref()) {
                status.send_if_modified(queue);
                match applier.sync(&ruleset).await {
                    Ok(report) => {
                        retry = RETRY_FIRST;
                        lost = false;
                        metrics.rules_synced(true, report.duration);
                        info!(mode = ?report.mode, bytes = report.bytes, ms = report.duration.as_millis() as u64,
                            udp_flows_cleared = report.conntrack.flows_deleted, "rules applied");
                        for e in &report.conntrack.errors {
                            warn!(error = %e, "clearing stale UDP conntrack entries failed");
                        }
                        status.send_replace(RulesStatus {
                            state: RulesState::Applied,
                            last_updated: Some(SystemTime::now()),
                        });
                    }
                    Err(e) => {
                        metrics.rules_synced(false, Duration::ZERO);
                        warn!(error = %e, retry_ms = retry.as_millis() as u64, "applying rules failed");
                        status.send_modify(|s| {
                            if let RulesState::Pending { error, .. } = &mut s.state {
                                *error = Some(e.to_string());
                            }
                        });
                        tokio::select! {
                            () = tokio::time::sleep(retry) => {}
                            changed = rx.changed() => if changed.is_err() { return },
                        }
                        retry = (retry * 2).min(RETRY_MAX);
                        continue;
                    }
                }
            }
            // Wait for a change, checking meanwhile that the kernel still holds the table.
            loop {
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                    () = tokio::time::sleep(CHECK_EVERY) => {
                        if applier.last_applied().is_some() && matches!(applier.in_sync().await, Ok(false)) {
                            warn!("table inet ferrolb was deleted or written by someone else; writing it again");
                            metrics.rules_lost();
                            lost = true;
                            break;
                        }
                    }
                }
            }
        }
    })
}

/// Marks a change as queued, keeping the time of the oldest one not yet applied.
fn queue(s: &mut RulesStatus) -> bool {
    match s.state {
        RulesState::Pending { .. } => false,
        RulesState::Applied => {
            s.state = RulesState::Pending {
                since: SystemTime::now(),
                error: None,
            };
            true
        }
    }
}
