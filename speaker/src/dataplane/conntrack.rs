//! The `conntrack` binary (conntrack-tools): deleting UDP flows to endpoints
//! that went away, so their clients are balanced again on the next packet
//! instead of talking to a dead endpoint until the entry times out.

use std::time::Duration;

use super::command::{CommandError, Runner};
use super::plan::{ConntrackDeletion, deleted_flow_count};

/// Default deadline for one `conntrack` run.
pub const CONNTRACK_TIMEOUT: Duration = Duration::from_secs(10);

/// `conntrack` in the current network namespace, or in a named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conntrack {
    runner: Runner,
}

impl Default for Conntrack {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Conntrack {
    /// `conntrack` in `netns` (`ip netns exec NS conntrack …`) or, with
    /// `None`, in the current network namespace.
    pub fn new(netns: Option<String>) -> Self {
        Self {
            runner: Runner {
                netns,
                timeout: CONNTRACK_TIMEOUT,
            },
        }
    }

    /// Runs one deletion; the number of flows deleted (0 is success).
    pub async fn delete(&self, deletion: &ConntrackDeletion) -> Result<usize, CommandError> {
        let args = deletion.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let finished = self.runner.run("conntrack", &args, None).await?;
        deleted_flow_count(&finished.stderr()).ok_or_else(|| finished.failure())
    }
}
