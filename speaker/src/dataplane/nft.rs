//! The `nft` binary, run directly (text scripts on stdin).
//!
//! The binary rather than the `nftables` crate: that crate also only spawns
//! `nft`, with JSON, while [`crate::ruleset`] renders nft's text syntax (what
//! operators read and diff). Scripts are one `nft -f -` transaction each, so
//! the kernel applies all of one or nothing. Only table `inet ferrolb` is
//! ever written.

use std::time::Duration;

use super::command::{CommandError, Runner};
use super::plan::{says_missing, sync_tokens};
use crate::ruleset::{SYNC_TOKEN_SET, TABLE};

/// Default deadline for one `nft` run (a full replacement of a large table
/// takes well under a second; this only guards against a hung process).
pub const NFT_TIMEOUT: Duration = Duration::from_secs(30);

/// Extra time per started megabyte of script (`cargo xtask bench rules`: 0.3 s for 1,000
/// Services / 0.8 MB, 4–7 s for 10,000 / 8.2 MB on a busy 2-core machine): killing nft
/// half-way only means starting again.
pub const NFT_TIMEOUT_PER_MB: Duration = Duration::from_secs(30);

/// The deadline of one `nft -f` run of a script of `bytes` bytes: `base` plus
/// [`NFT_TIMEOUT_PER_MB`] per started megabyte.
pub fn script_deadline(base: Duration, bytes: usize) -> Duration {
    let mb = u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX);
    base.saturating_add(NFT_TIMEOUT_PER_MB.saturating_mul(mb))
}

/// Failure of an `nft` run.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// nft could not run, timed out or refused; carries nft's stderr.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// nft answered something this code cannot read.
    #[error("unexpected output of `nft -j list tables`: {0}")]
    Output(String),
}

impl NftError {
    /// `nft` could not be started at all (not installed?): it cannot have written anything.
    pub fn could_not_run(&self) -> bool {
        matches!(self, NftError::Command(CommandError::Io { .. }))
    }

    /// nft's standard error when it ran and refused.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            NftError::Command(error) => error.stderr(),
            NftError::Output(_) => None,
        }
    }
}

/// `nft` in the current network namespace, or in a named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nft {
    runner: Runner,
}

impl Default for Nft {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Nft {
    /// `nft` in `netns` (`ip netns exec NS nft …`) or, with `None`, in the
    /// current network namespace (what the speaker uses).
    pub fn new(netns: Option<String>) -> Self {
        Self {
            runner: Runner {
                netns,
                timeout: NFT_TIMEOUT,
            },
        }
    }

    /// Same, with another deadline per run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.runner.timeout = timeout;
        self
    }

    /// The named network namespace, if any.
    pub fn netns(&self) -> Option<&str> {
        self.runner.netns.as_deref()
    }

    async fn nft(&self, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
        Ok(self
            .runner
            .run("nft", args, stdin)
            .await?
            .stdout_if_success()?)
    }

    /// Applies `script` in one transaction (`nft -f -`), with a deadline that grows with the
    /// script ([`script_deadline`]).
    pub async fn apply(&self, script: &str) -> Result<(), NftError> {
        self.nft_script(&["-f", "-"], script).await
    }

    async fn nft_script(&self, args: &[&str], script: &str) -> Result<(), NftError> {
        let runner = Runner {
            timeout: script_deadline(self.runner.timeout, script.len()),
            ..self.runner.clone()
        };
        runner
            .run("nft", args, Some(script))
            .await?
            .stdout_if_success()
            .map(drop)
            .map_err(NftError::from)
    }

    /// Checks `script` without applying it (`nft -c -f -`). The kernel still
    /// validates it against the current tables (e.g. `delete` of a missing
    /// object fails), but nothing changes.
    pub async fn check(&self, script: &str) -> Result<(), NftError> {
        self.nft_script(&["-c", "-f", "-"], script).await
    }

    /// `nft list table inet ferrolb`, `None` when the table does not exist.
    pub async fn list_table(&self) -> Result<Option<String>, NftError> {
        let finished = self
            .runner
            .run("nft", &["list", "table", "inet", TABLE], None)
            .await?;
        if !finished.output.status.success() && says_missing(&finished.stderr()) {
            return Ok(None);
        }
        Ok(Some(finished.stdout_if_success()?))
    }

    /// `nft -j list table FAMILY NAME` for any table (reading only: `/debug/rules` reads
    /// kube-proxy's too), `None` when the table does not exist.
    pub async fn list_table_json(
        &self,
        family: &str,
        name: &str,
    ) -> Result<Option<String>, NftError> {
        let finished = self
            .runner
            .run("nft", &["-j", "list", "table", family, name], None)
            .await?;
        if !finished.output.status.success() && says_missing(&finished.stderr()) {
            return Ok(None);
        }
        Ok(Some(finished.stdout_if_success()?))
    }

    /// Deletes table `inet ferrolb`; succeeds whether or not it exists
    /// (`add` + `delete` in one transaction).
    pub async fn delete_table(&self) -> Result<(), NftError> {
        self.apply(&format!(
            "add table inet {TABLE}\ndelete table inet {TABLE}\n"
        ))
        .await
    }

    /// Tokens in set `sync_token` of table `inet ferrolb` (`None` when the
    /// table or the set does not exist). Cheap whatever the size of the
    /// table (~15 ms with 10,000 Services), unlike `nft list tables`, which
    /// nft 1.0.6 answers only after fetching every rule (seconds).
    pub async fn sync_tokens(&self) -> Result<Option<Vec<u32>>, NftError> {
        let finished = self
            .runner
            .run(
                "nft",
                &["-j", "list", "set", "inet", TABLE, SYNC_TOKEN_SET],
                None,
            )
            .await?;
        if !finished.output.status.success() && says_missing(&finished.stderr()) {
            return Ok(None);
        }
        let json = finished.stdout_if_success()?;
        sync_tokens(&json).map(Some).map_err(NftError::Output)
    }

    /// `nft list chains`: every table with its chains, without rules.
    pub async fn list_chains(&self) -> Result<String, NftError> {
        self.nft(&["list", "chains"], None).await
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn deadline_grows_with_the_script() {
        let base = NFT_TIMEOUT;
        assert_eq!(script_deadline(base, 0), base);
        assert_eq!(script_deadline(base, 1), base + NFT_TIMEOUT_PER_MB);
        assert_eq!(script_deadline(base, 1 << 20), base + NFT_TIMEOUT_PER_MB);
        let ten_k = 8_342_580; // bytes of 10,000 Services (bench rules)
        assert_eq!(script_deadline(base, ten_k), base + NFT_TIMEOUT_PER_MB * 8);
        assert!(script_deadline(base, usize::MAX) > Duration::from_secs(1 << 30));
    }
}
