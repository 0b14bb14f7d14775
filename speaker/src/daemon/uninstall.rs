//! On SIGTERM, once the handover is done: is ferrolb being uninstalled? Then this node's table
//! `inet ferrolb` goes with it; on a rolling restart, an upgrade or a node drain it stays (like
//! kube-proxy's rules, so connections on the node keep working until the next speaker runs).
//!
//! The speaker asks the apiserver for its own DaemonSet (RBAC: `get` on that one name). Gone,
//! or being deleted, or this ServiceAccount no longer authenticates (401) or may not read it
//! (403: its Role or binding went first): uninstalling. Any other answer, or none within
//! [`ASK_TIMEOUT`] (an apiserver outage), keeps the table: a wrong "keep" leaves rules a
//! reinstall reuses, a wrong "remove" breaks every Service on the node.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::{Api, Client};
use tracing::{info, warn};

use crate::dataplane::Nft;

/// How long the question may take (after the handover, within the Pod's grace period).
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long deleting the table may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(3);

/// What the apiserver said about the speakers' DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It exists and is not being deleted.
    Running,
    /// It has a deletionTimestamp.
    Deleting,
    /// 404.
    Gone,
    /// 401 or 403: the ServiceAccount or its RBAC is gone.
    Refused(u16),
    /// Any other error (an outage, a 5xx, a timeout).
    Failed(String),
}

/// What happens to the node's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Delete it: ferrolb is being uninstalled (the reason, for the log).
    Remove(String),
    /// Keep it (the reason, for the log).
    Keep(String),
}

/// The decision: remove only on positive evidence of an uninstall.
pub fn fate(daemonset: &str, answer: &Answer) -> Fate {
    match answer {
        Answer::Running => Fate::Keep(format!(
            "DaemonSet {daemonset} still exists (a restart or an upgrade)"
        )),
        Answer::Deleting => Fate::Remove(format!("DaemonSet {daemonset} is being deleted")),
        Answer::Gone => Fate::Remove(format!("DaemonSet {daemonset} is gone")),
        Answer::Refused(code) => Fate::Remove(format!(
            "the apiserver answers {code} for DaemonSet {daemonset}: this ServiceAccount or its RBAC is gone"
        )),
        Answer::Failed(why) => Fate::Keep(format!(
            "cannot tell whether DaemonSet {daemonset} exists ({why})"
        )),
    }
}

/// Where to ask.
pub struct Check {
    /// The API client.
    pub client: Client,
    /// ferrolb's namespace.
    pub namespace: String,
    /// The speakers' DaemonSet.
    pub daemonset: String,
}

impl Check {
    /// Asks, decides, and deletes the table when uninstalling; never longer than
    /// [`ASK_TIMEOUT`] plus the deletion's own bound.
    pub async fn run(&self, nft: &Nft) {
        let answer = match tokio::time::timeout(ASK_TIMEOUT, self.ask()).await {
            Ok(a) => a,
            Err(_) => Answer::Failed(format!("no answer in {} ms", ASK_TIMEOUT.as_millis())),
        };
        match fate(&self.daemonset, &answer) {
            Fate::Keep(why) => info!(reason = %why, "rules in table inet ferrolb left in place"),
            Fate::Remove(why) => {
                match tokio::time::timeout(DELETE_TIMEOUT, nft.delete_table()).await {
                    Ok(Ok(())) => info!(reason = %why, "uninstalling: table inet ferrolb deleted"),
                    Ok(Err(e)) if e.could_not_run() => {
                        info!(reason = %why, error = %e, "uninstalling: nft cannot run, so no table inet ferrolb to delete")
                    }
                    Ok(Err(e)) => {
                        warn!(reason = %why, error = %e, "uninstalling: deleting table inet ferrolb failed")
                    }
                    Err(_) => {
                        warn!(reason = %why, "uninstalling: deleting table inet ferrolb timed out")
                    }
                }
            }
        }
    }

    async fn ask(&self) -> Answer {
        let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), &self.namespace);
        match api.get_opt(&self.daemonset).await {
            Ok(Some(ds)) if ds.metadata.deletion_timestamp.is_some() => Answer::Deleting,
            Ok(Some(_)) => Answer::Running,
            Ok(None) => Answer::Gone,
            Err(kube::Error::Api(e)) if e.code == 401 || e.code == 403 => Answer::Refused(e.code),
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removes(a: &Answer) -> bool {
        matches!(fate("ferrolb-speaker", a), Fate::Remove(_))
    }

    #[test]
    fn only_an_uninstall_removes_the_table() {
        assert!(removes(&Answer::Gone));
        assert!(removes(&Answer::Deleting));
        assert!(removes(&Answer::Refused(401)));
        assert!(removes(&Answer::Refused(403)));
        assert!(!removes(&Answer::Running), "a rolling restart keeps it");
        assert!(
            !removes(&Answer::Failed("connection refused".into())),
            "an outage keeps it"
        );
        assert!(!removes(&Answer::Failed("no answer in 2000 ms".into())));
    }

    #[test]
    fn the_reason_names_the_daemonset() {
        for a in [
            Answer::Gone,
            Answer::Running,
            Answer::Refused(401),
            Answer::Failed("x".into()),
        ] {
            let (Fate::Keep(why) | Fate::Remove(why)) = fate("ds-x", &a);
            assert!(why.contains("ds-x"), "{why}");
        }
    }
}
