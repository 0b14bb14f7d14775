//! What `/debug/state` prints: this node's desired state as [`nodestate::desired`] computed it,
//! and, kept apart under `observed`, the runtime facts that are not desired state.

use std::sync::Arc;

use ferrolb_adapter::reflect::FailingWatches;
use serde::Serialize;

use crate::dataplane::{Decision, KubeProxy, Mode};
use crate::health::RulesState;
use crate::health::timefmt::rfc3339_nano;
use crate::nodestate::NodeDesired;

use super::rules::RulesStatus;

/// The `/debug/state` document.
#[derive(Debug, Serialize)]
pub struct DebugDocument {
    /// Exactly the value the loop applies.
    pub desired: Arc<NodeDesired>,
    /// What the speaker found at run time.
    pub observed: Observed,
}

/// Runtime facts: not computed from the snapshot, not applied by the loop.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Whether this node programs table `inet ferrolb` (and serves the healthCheckNodePorts),
    /// why, since when and what was seen.
    pub dataplane: DataplaneView,
    /// The gossip membership as this node sees it.
    pub gossip: serde_json::Value,
    /// The dataplane task's last apply status.
    pub rules: RulesView,
    /// The watches whose last attempt failed (`kind: error`), as they are when printed:
    /// while one is listed, this node plans from that kind's last state seen.
    pub failing_watches: FailingWatches,
}

/// [`Decision`] as printed (times in RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataplaneView {
    /// `--dataplane`.
    pub mode: Mode,
    /// Program the table and serve the healthCheckNodePorts.
    pub enabled: bool,
    /// `nftables` or `announce-only`.
    pub programs: &'static str,
    /// Why.
    pub reason: String,
    /// When `enabled` took its value.
    pub since: String,
    /// What the last detection of kube-proxy found; `null`: not looked for.
    pub kube_proxy: Option<KubeProxy>,
    /// When the speaker takes over if kube-proxy stays absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub takeover_at: Option<String>,
}

impl From<&Decision> for DataplaneView {
    fn from(d: &Decision) -> DataplaneView {
        DataplaneView {
            mode: d.mode,
            enabled: d.enabled,
            programs: d.programs(),
            reason: d.reason.clone(),
            since: rfc3339_nano(Some(d.since)),
            kube_proxy: d.kube_proxy.clone(),
            takeover_at: d.takeover_at.map(|t| rfc3339_nano(Some(t))),
        }
    }
}

/// [`RulesStatus`] as printed (times in RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    /// The table matches the desired state (or there is no dataplane).
    pub applied: bool,
    /// When the oldest change not yet applied was queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<String>,
    /// Why the last attempt failed (to program the table, or to delete it while
    /// announce-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the rules were last applied.
    pub last_updated: Option<String>,
}

impl From<&RulesStatus> for RulesView {
    fn from(s: &RulesStatus) -> RulesView {
        let (applied, pending_since, error) = match &s.state {
            RulesState::Applied => (true, None, s.withdraw_error.clone()),
            RulesState::Pending { since, error } => {
                (false, Some(rfc3339_nano(Some(*since))), error.clone())
            }
        };
        RulesView {
            applied,
            pending_since,
            error,
            last_updated: s.last_updated.map(|t| rfc3339_nano(Some(t))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    #[test]
    fn the_document_keeps_runtime_facts_apart_from_the_desired_state() {
        let doc = DebugDocument {
            desired: Arc::new(crate::nodestate::NodeDesired {
                node: "node-a".into(),
                warnings: Vec::new(),
                announce: Default::default(),
                election: Default::default(),
                announcements: Vec::new(),
                publication: Default::default(),
                health: Default::default(),
                rules: Default::default(),
                probes: Default::default(),
            }),
            observed: Observed {
                dataplane: (&Decision {
                    mode: Mode::Auto,
                    enabled: false,
                    reason: "--dataplane=auto: kube-proxy programs this node".into(),
                    since: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
                    kube_proxy: Some(KubeProxy::Present("table ip kube-proxy".into())),
                    takeover_at: None,
                })
                    .into(),
                gossip: json!({"local": "node-a", "nodes": {}}),
                rules: (&RulesStatus {
                    state: RulesState::Pending {
                        since: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
                        error: Some("nft: busy".into()),
                    },
                    last_updated: None,
                    withdraw_error: None,
                })
                    .into(),
                failing_watches: FailingWatches,
            },
        };
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["desired"]["node"], "node-a");
        assert_eq!(v["desired"]["rules"]["ruleset"], json!(null));
        assert_eq!(
            v["observed"]["rules"],
            json!({"applied": false, "pendingSince": "2026-01-01T00:00:00Z",
                   "error": "nft: busy", "lastUpdated": null})
        );
        assert_eq!(
            v["observed"]["dataplane"],
            json!({"mode": "auto", "enabled": false, "programs": "announce-only",
                   "reason": "--dataplane=auto: kube-proxy programs this node",
                   "since": "2026-01-01T00:00:00Z",
                   "kubeProxy": {"present": "table ip kube-proxy"}})
        );
        assert_eq!(v["observed"]["gossip"]["local"], "node-a");
        // No watch ran in this test: none failed (the watches' own tests fail one).
        assert_eq!(v["observed"]["failingWatches"], json!([]));
    }
}
