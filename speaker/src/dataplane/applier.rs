//! Keeps table `inet ferrolb` equal to the latest [`Ruleset`]: in-place update (guarded by the
//! token of the last full write, see [`Applier::sync_shared`]) or full replacement (why: see
//! [`choose_mode`]), then removal of UDP conntrack entries pointing at endpoints that went away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conntrack::Conntrack;
use super::nft::{Nft, NftError};
use super::plan::{FullReason, SyncMode, choose_mode, conntrack_deletions};
use crate::ruleset::{Ruleset, SYNC_TOKEN_SET, SYNC_TOKEN_TYPE, TABLE};

/// A sync that did not program the table; the kernel keeps its previous
/// content (every script is one transaction).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading the table's sync token failed (nft missing or not permitted?).
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
    /// Shared with the caller (the daemon's desired state): 10,000 Services' rules are tens of
    /// megabytes, not to be copied on every change.
    ruleset: Arc<Ruleset>,
    /// Token written into set `sync_token` with the last full write.
    token: u32,
    /// When every rule was last written (full replacement or resync).
    rewritten: Instant,
}

/// How often an in-place update is replaced by a rewrite of every rule
/// ([`SyncMode::Resync`]), so edits made by hand inside the table do not last.
pub const RESYNC_EVERY: Duration = Duration::from_secs(3600);

/// Programs table `inet ferrolb` and remembers what it applied.
pub struct Applier {
    nft: Nft,
    conntrack: Conntrack,
    last: Option<Applied>,
    resync_every: Duration,
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
            resync_every: RESYNC_EVERY,
        }
    }

    /// Rewrites every rule at least this often (default [`RESYNC_EVERY`]).
    pub fn resync_every(mut self, period: Duration) -> Self {
        self.resync_every = period;
        self
    }

    /// The `nft` wrapper in use.
    pub fn nft(&self) -> &Nft {
        &self.nft
    }

    /// The rule set last applied successfully.
    pub fn last_applied(&self) -> Option<&Ruleset> {
        self.last.as_ref().map(|applied| applied.ruleset.as_ref())
    }

    /// Whether the kernel still holds the table of the last sync (its token
    /// is there); `false` when nothing was applied yet. Cheap: callers poll
    /// it so that a table deleted by someone else (e.g. `nft flush ruleset`)
    /// is rewritten without waiting for the next Service change.
    pub async fn in_sync(&self) -> Result<bool, NftError> {
        let Some(applied) = &self.last else {
            return Ok(false);
        };
        let kernel = self.nft.sync_tokens().await?;
        Ok(choose_mode(Some(applied.token), kernel.as_deref()) == SyncMode::Update)
    }

    /// Deletes table `inet ferrolb` (only that table; done when it does not exist) and forgets
    /// what was applied, so that the next [`sync`](Self::sync) writes the whole table. On
    /// error the record is kept.
    pub async fn remove(&mut self) -> Result<(), NftError> {
        self.nft.delete_table().await?;
        self.last = None;
        Ok(())
    }

    /// Makes the kernel table equal to `ruleset`: an in-place update of the
    /// difference, a periodic in-place rewrite ([`RESYNC_EVERY`]), or a full
    /// replacement (first sync, table gone or written by someone else, or an
    /// update refused). On error nothing changed and the applier keeps its
    /// record. Conntrack cleanup needs the previous rule set, so it starts
    /// with the second sync.
    pub async fn sync(&mut self, ruleset: &Ruleset) -> Result<SyncReport, SyncError> {
        self.sync_shared(&Arc::new(ruleset.clone())).await
    }

    /// [`sync`](Self::sync) of a rule set the caller shares: remembered without a copy.
    ///
    /// An update or resync carries its own check that the kernel still holds the table of the
    /// last full write (the flush of its token's empty chain), so the common case runs `nft` once; only when that
    /// script is refused is the token read, to say why the table is replaced.
    pub async fn sync_shared(&mut self, ruleset: &Arc<Ruleset>) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let mut mode = SyncMode::Full(FullReason::NothingApplied);
        let mut kept = None;
        let mut bytes = 0;
        let token = new_token();
        if let Some(previous) = &self.last {
            let due = previous.rewritten.elapsed() >= self.resync_every;
            let script = if due {
                Ok(resync_guard_script(previous.token)
                    + &ruleset.to_nft_resync_script(&previous.ruleset)
                    + &token_script(token))
            } else {
                kept = Some((previous.token, previous.rewritten));
                ruleset
                    .to_nft_update_script(&previous.ruleset)
                    .map(|update| guard_script(previous.token) + &update)
            };
            mode = match script {
                Err(why) => SyncMode::Full(FullReason::Incompatible(why)),
                Ok(script) => {
                    bytes = script.len();
                    match self.nft.apply(&script).await {
                        Ok(()) if due => SyncMode::Resync,
                        Ok(()) => SyncMode::Update,
                        Err(error) => {
                            let kernel =
                                self.nft.sync_tokens().await.map_err(SyncError::Inspect)?;
                            match choose_mode(Some(previous.token), kernel.as_deref()) {
                                SyncMode::Full(reason) => SyncMode::Full(reason),
                                _ => {
                                    tracing::warn!(%error, "in-place update of table inet ferrolb refused; replacing it");
                                    SyncMode::Full(FullReason::UpdateFailed(error.to_string()))
                                }
                            }
                        }
                    }
                }
            };
        }
        if let SyncMode::Full(reason) = &mode {
            kept = None;
            let script = ruleset.to_nft_script() + &token_script(token);
            bytes = script.len();
            if let Err(error) = self.nft.apply(&script).await {
                return Err(SyncError::Replace {
                    reason: reason.clone(),
                    error,
                });
            }
        }
        let (token, rewritten) = match (&mode, kept) {
            (SyncMode::Update, Some(kept)) => kept,
            _ => (token, started),
        };
        let previous = self.last.replace(Applied {
            ruleset: Arc::clone(ruleset),
            token,
            rewritten,
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

/// A fresh token for set `sync_token` (random, so that another writer of the
/// table, e.g. a second speaker, never writes the same one).
fn new_token() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() as u32).max(1)
}

/// Puts `token` into set `sync_token` and makes its chain ([`token_chain`]), in the same
/// transaction as the rules. Both in the forms nft 1.0.6 writes without reading the table
/// first (an `add element` would make it read every chain of the table being replaced).
fn token_script(token: u32) -> String {
    format!(
        "add set inet {TABLE} {SYNC_TOKEN_SET} {{ type {SYNC_TOKEN_TYPE}; elements = {{ {token} }} }}\n\
         add chain inet {TABLE} {}\n",
        token_chain(token)
    )
}

/// An empty chain named after the token of the last full write: nothing jumps to it; an
/// update names it first, so that the kernel refuses the whole update when the table is not
/// the one written with `token` (deleted, emptied, or written by someone else).
fn token_chain(token: u32) -> String {
    format!("{SYNC_TOKEN_SET}_{token}")
}

/// The first line of an update: flushing the (empty) token chain fails when it is missing,
/// and nft needs no read of the table for it.
fn guard_script(token: u32) -> String {
    format!("flush chain inet {TABLE} {}\n", token_chain(token))
}

/// The first line of a resync, which writes a new token: the old token's chain goes, and
/// deleting it fails when it is missing.
fn resync_guard_script(token: u32) -> String {
    format!("delete chain inet {TABLE} {}\n", token_chain(token))
}

fn log(report: &SyncReport) {
    let millis = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX);
    match &report.mode {
        SyncMode::Full(reason) => tracing::info!(
            mode = "full", %reason, bytes = report.bytes, duration_ms = millis,
            udp_flows_deleted = report.conntrack.flows_deleted,
            "replaced table inet ferrolb"
        ),
        SyncMode::Update | SyncMode::Resync => tracing::debug!(
            mode = ?report.mode,
            bytes = report.bytes,
            duration_ms = millis,
            udp_flows_deleted = report.conntrack.flows_deleted,
            "updated table inet ferrolb"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lines_never_make_nft_read_the_table_and_the_guard_names_the_tokens_chain() {
        let token = 42;
        let lines = [token_script(token), guard_script(token)].concat();
        for line in lines.lines() {
            for reads in ["add rule", "insert rule", "add element", "delete element"] {
                assert!(!line.starts_with(reads), "{line}");
            }
        }
        let chain = format!("inet {TABLE} {SYNC_TOKEN_SET}_42\n");
        assert!(token_script(token).ends_with(&format!("add chain {chain}")));
        assert_eq!(guard_script(token), format!("flush chain {chain}"));
        assert_eq!(resync_guard_script(token), format!("delete chain {chain}"));
    }
}
