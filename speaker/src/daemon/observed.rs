//! What `/debug/state` prints: this node's desired state as [`nodestate::desired`] computed it,
//! and, kept apart under `observed`, the runtime facts that are not desired state.

use std::sync::Arc;

use serde::Serialize;

use crate::dataplane::Decision;
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
    /// Whether this node programs table `inet ferrolb`, and why.
    pub dataplane: DataplaneView,
    /// The gossip membership as this node sees it.
    pub gossip: serde_json::Value,
    /// The dataplane task's last apply status.
    pub rules: RulesView,
}

/// [`Decision`] as printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataplaneView {
    /// Program the table.
    pub enabled: bool,
    /// Why.
    pub reason: String,
}

impl From<&Decision> for DataplaneView {
    fn from(d: &Decision) -> DataplaneView {
        DataplaneView {
            enabled: d.enabled,
            reason: d.reason.clone(),
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
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the rules were last applied.
    pub last_updated: Option<String>,
}

impl From<&RulesStatus> for RulesView {
    fn from(s: &RulesStatus) -> RulesView {
        let (applied, pending_since, error) = match &s.state {
            RulesState::Applied => (true, None, None),
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
            }),
            observed: Observed {
                dataplane: DataplaneView {
                    enabled: false,
                    reason: "--dataplane=off".into(),
                },
                gossip: json!({"local": "node-a", "nodes": {}}),
                rules: (&RulesStatus {
                    state: RulesState::Pending {
                        since: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
                        error: Some("nft: busy".into()),
                    },
                    last_updated: None,
                })
                    .into(),
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
        assert_eq!(v["observed"]["dataplane"]["enabled"], false);
        assert_eq!(v["observed"]["gossip"]["local"], "node-a");
    }
}
