//! Keeps table `inet ferrolb` equal to the latest [`Ruleset`]: full
//! replacement or in-place update (see [`choose_mode`]), then removal of UDP
//! conntrack entries pointing at endpoints that went away.

use std::time::{Duration, Instant};

use super::conntrack::Conntrack;
use super::nft::{Nft, NftError};
use super::plan::{FullReason, SyncMode, choose_mode, conntrack_deletions};
use crate::ruleset::Ruleset;

/// A sync that did not program the table; the kernel keeps its previous
/// content (every script is one transaction).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading the table's handle failed (nft missing or not permitted?).
    #[error("cannot inspect table inet ferrolb: {0}")]
    Inspect(#[source] NftError),
    /// The full replacement was refused.
    #[error("replacing table inet ferrolb failed ({reason}): {error}")]
    Replace {
        /// Why a full replacement was attempted.
        reason: FullReason,
        /// nft's error.
        #[source]
        error: NftError,
    },
}

/// What the conntrack cleanup of one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConntrackReport {
    /// Endpoints (address, port) whose UDP flows were looked for.
    pub endpoints: usize,
    /// Flows deleted.
    pub flows_deleted: usize,
    /// Deletions that failed (the rules are programmed anyway).
    pub errors: Vec<String>,
}

/// What one successful sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// How the table was programmed (and why, for a full replacement).
    pub mode: SyncMode,
    /// Size of the script that was applied.
    pub bytes: usize,
    /// Time for the whole sync (inspection, nft, conntrack).
    pub duration: Duration,
    /// Conntrack cleanup.
    pub conntrack: ConntrackReport,
}

struct Applied {
    ruleset: Ruleset,
    /// Table handle after that sync (`None` if it could not be read).
    handle: Option<u64>,
}

/// Programs table `inet ferrolb` and remembers what it applied.
pub struct Applier {
    nft: Nft,
    conntrack: Conntrack,
    last: Option<Applied>,
}

impl Applier {
    /// An applier in `netns` (`None`: the current network namespace, what
    /// the speaker uses; tests pass a namespace of their own).
    pub fn new(netns: Option<String>) -> Self {
        Self::with_tools(Nft::new(netns.clone()), Conntrack::new(netns))
    }

    /// An applier using these tool wrappers (e.g. other deadlines).
    pub fn with_tools(nft: Nft, conntrack: Conntrack) -> Self {
        Self {
            nft,
            conntrack,
            last: None,
        }
    }

    /// The `nft` wrapper in use.
    pub fn nft(&self) -> &Nft {
        &self.nft
    }

    /// The rule set last applied successfully.
    pub fn last_applied(&self) -> Option<&Ruleset> {
        self.last.as_ref().map(|applied| &applied.ruleset)
    }

    /// Makes the kernel table equal to `ruleset`. An update falls back to
    /// one full replacement if refused. On error nothing changed and the
    /// applier keeps its record. Conntrack cleanup needs the previous rule
    /// set, so it starts with the second sync.
    pub async fn sync(&mut self, ruleset: &Ruleset) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let kernel = self.nft.table_handle().await.map_err(SyncError::Inspect)?;
        let recorded = self.last.as_ref().and_then(|applied| applied.handle);
        let mut mode = choose_mode(recorded, kernel);
        let mut bytes = 0;
        if mode == SyncMode::Update {
            // `Update` is only chosen with a record, hence a previous rule set.
            let previous = self.last.as_ref().map(|applied| &applied.ruleset);
            let script = previous.map(|previous| ruleset.to_nft_update_script(previous));
            mode = match script {
                None => SyncMode::Full(FullReason::NothingApplied),
                Some(script) => {
                    bytes = script.len();
                    match self.nft.apply(&script).await {
                        Ok(()) => SyncMode::Update,
                        Err(error) => {
                            tracing::warn!(%error, "in-place update of table inet ferrolb refused; replacing it");
                            SyncMode::Full(FullReason::UpdateFailed(error.to_string()))
                        }
                    }
                }
            };
        }
        if let SyncMode::Full(reason) = &mode {
            let script = ruleset.to_nft_script();
            bytes = script.len();
            if let Err(error) = self.nft.apply(&script).await {
                return Err(SyncError::Replace {
                    reason: reason.clone(),
                    error,
                });
            }
        }
        let handle = match self.nft.table_handle().await {
            Ok(handle) => handle,
            Err(error) => {
                tracing::warn!(%error, "cannot read the table handle; the next sync replaces the table");
                None
            }
        };
        let previous = self.last.replace(Applied {
            ruleset: ruleset.clone(),
            handle,
        });
        let conntrack = match previous {
            Some(previous) => self.clear_stale_udp(&previous.ruleset, ruleset).await,
            None => ConntrackReport::default(),
        };
        let report = SyncReport {
            mode,
            bytes,
            duration: started.elapsed(),
            conntrack,
        };
        log(&report);
        Ok(report)
    }

    async fn clear_stale_udp(&self, old: &Ruleset, new: &Ruleset) -> ConntrackReport {
        let deletions = conntrack_deletions(old, new);
        let mut report = ConntrackReport {
            endpoints: deletions.len(),
            ..ConntrackReport::default()
        };
        for deletion in &deletions {
            match self.conntrack.delete(deletion).await {
                Ok(count) => report.flows_deleted += count,
                Err(error) => {
                    tracing::warn!(endpoint = %deletion.ip, port = deletion.port, %error,
                        "cannot delete UDP conntrack entries of a removed endpoint");
                    report.errors.push(error.to_string());
                }
            }
        }
        report
    }
}

fn log(report: &SyncReport) {
    let millis = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX);
    match &report.mode {
        SyncMode::Full(reason) => tracing::info!(
            mode = "full", %reason, bytes = report.bytes, duration_ms = millis,
            udp_flows_deleted = report.conntrack.flows_deleted,
            "replaced table inet ferrolb"
        ),
        SyncMode::Update => tracing::debug!(
            mode = "update",
            bytes = report.bytes,
            duration_ms = millis,
            udp_flows_deleted = report.conntrack.flows_deleted,
            "updated table inet ferrolb"
        ),
    }
}
