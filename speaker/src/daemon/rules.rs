//! The dataplane task: keeps table `inet ferrolb` equal to what the loop wants (the latest
//! ruleset, or no table at all while announce-only), on its own task so that a slow `nft`
//! never delays an ARP/NDP takeover.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::dataplane::Applier;
use crate::health::RulesState;
use crate::ruleset::Ruleset;

use super::metrics::Metrics;

/// What the loop wants in the kernel.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Wanted {
    /// No desired state computed yet: touch nothing (a table left by the previous run keeps
    /// serving until the first step).
    #[default]
    NotYet,
    /// Announce-only: table `inet ferrolb` deleted.
    Withdrawn,
    /// Table `inet ferrolb` equal to this ruleset.
    Rules(Arc<Ruleset>),
}

impl Wanted {
    /// From the desired state's ruleset (`None`: the dataplane decision is announce-only).
    pub fn from_desired(ruleset: Option<&Arc<Ruleset>>) -> Wanted {
        ruleset.map_or(Wanted::Withdrawn, |r| Wanted::Rules(r.clone()))
    }
}

/// What the dataplane task reports to the health API.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulesStatus {
    /// Applied, or pending since when and why.
    pub state: RulesState,
    /// When the rules were last applied.
    pub last_updated: Option<SystemTime>,
    /// Why deleting the table (announce-only) failed; retried, never a health failure.
    pub withdraw_error: Option<String>,
}

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often the task checks that the kernel still holds its table (one cheap `nft list set`).
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Starts the task. It ends when `rx`'s sender is dropped.
pub fn spawn(
    applier: Applier,
    rx: watch::Receiver<Wanted>,
    status: watch::Sender<RulesStatus>,
    metrics: Arc<Metrics>,
) -> JoinHandle<()> {
    tokio::spawn(
        Task {
            applier,
            status,
            metrics,
            retry: RETRY_FIRST,
            lost: false,
            withdrawn: false,
        }
        .run(rx),
    )
}

struct Task {
    applier: Applier,
    status: watch::Sender<RulesStatus>,
    metrics: Arc<Metrics>,
    retry: Duration,
    /// Set when the periodic check found the table gone or rewritten by someone else.
    lost: bool,
    /// The table was deleted since the last [`Wanted::Rules`].
    withdrawn: bool,
}

impl Task {
    async fn run(mut self, mut rx: watch::Receiver<Wanted>) {
        loop {
            let wanted = rx.borrow_and_update().clone();
            let done = match &wanted {
                Wanted::NotYet => true,
                Wanted::Withdrawn => self.withdraw().await,
                Wanted::Rules(ruleset) => self.program(ruleset).await,
            };
            if !done {
                tokio::select! {
                    () = tokio::time::sleep(self.retry) => {}
                    changed = rx.changed() => if changed.is_err() { return },
                }
                self.retry = (self.retry * 2).min(RETRY_MAX);
                continue;
            }
            self.retry = RETRY_FIRST;
            // Wait for a change, checking meanwhile that the kernel still holds the table.
            let programmed = matches!(wanted, Wanted::Rules(_));
            loop {
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                    () = tokio::time::sleep(CHECK_EVERY), if programmed => {
                        if self.applier.last_applied().is_some() && matches!(self.applier.in_sync().await, Ok(false)) {
                            warn!("table inet ferrolb was deleted or written by someone else; writing it again");
                            self.metrics.rules_lost();
                            self.lost = true;
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Brings the table to `ruleset`; `false`: failed, retry.
    async fn program(&mut self, ruleset: &Arc<Ruleset>) -> bool {
        self.withdrawn = false;
        if !self.lost && self.applier.last_applied() == Some(ruleset.as_ref()) {
            return true;
        }
        self.status.send_if_modified(queue);
        match self.applier.sync_shared(ruleset).await {
            Ok(report) => {
                self.lost = false;
                self.metrics.rules_synced(true, report.duration);
                info!(mode = ?report.mode, bytes = report.bytes, ms = report.duration.as_millis() as u64,
                    udp_flows_cleared = report.conntrack.flows_deleted, "rules applied");
                for e in &report.conntrack.errors {
                    warn!(error = %e, "clearing stale UDP conntrack entries failed");
                }
                self.status.send_replace(RulesStatus {
                    state: RulesState::Applied,
                    last_updated: Some(SystemTime::now()),
                    withdraw_error: None,
                });
                true
            }
            Err(e) => {
                self.metrics.rules_synced(false, Duration::ZERO);
                warn!(error = %e, retry_ms = self.retry.as_millis() as u64, "applying rules failed");
                self.status.send_modify(|s| {
                    if let RulesState::Pending { error, .. } = &mut s.state {
                        *error = Some(e.to_string());
                    }
                });
                false
            }
        }
    }

    /// Deletes the table (announce-only); `false`: failed, retry. Never pending for the health
    /// API: kube-proxy, not this node's table, delivers Service traffic now.
    async fn withdraw(&mut self) -> bool {
        if self.withdrawn {
            return true;
        }
        let result = self.applier.remove().await;
        let (done, error) = match result {
            Ok(()) => {
                info!("table inet ferrolb deleted (announce-only)");
                (true, None)
            }
            Err(e) if e.could_not_run() => {
                info!(error = %e, "nft cannot run, so no table inet ferrolb to delete (announce-only)");
                (true, None)
            }
            Err(e) => {
                let text = e.to_string();
                if self.status.borrow().withdraw_error.as_ref() != Some(&text) {
                    warn!(error = %e, "deleting table inet ferrolb failed (announce-only); retrying");
                }
                (false, Some(text))
            }
        };
        self.withdrawn = done;
        self.lost = false;
        self.status.send_if_modified(|s| {
            let next = RulesStatus {
                state: RulesState::Applied,
                last_updated: s.last_updated,
                withdraw_error: error,
            };
            (*s != next).then(|| *s = next).is_some()
        });
        done
    }
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
