//! The node's last health-relevant state, kept across a speaker restart so that a speaker
//! started while the apiserver is unreachable answers the health API as before until its
//! watches sync (it knows no Service until then).
//!
//! Pure: [`KeptHealth::of`] takes what the answers depend on from a synced [`HealthSnapshot`];
//! [`KeptHealth::restore`] makes the snapshot a restarted speaker serves until its first sync.
//! The daemon stores it in a node-local file under `/run` (see `daemon::kept_file`), which,
//! like table `inet ferrolb`, goes away when the node reboots.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::model::{DebugState, HealthSnapshot, RulesState, ServiceHealth};
use ferrolb_core::ServiceKey;

/// Everything the health answers of a synced node depend on, but time and the dataplane
/// decision (which a restarted speaker knows again at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptHealth {
    /// The node this state is of; another node's file is never restored.
    pub node: String,
    /// [`HealthSnapshot::last_updated`], in milliseconds since the Unix epoch.
    pub last_updated_ms: Option<u64>,
    /// [`HealthSnapshot::node_known`].
    pub node_known: bool,
    /// [`HealthSnapshot::node_deleting`].
    pub node_deleting: bool,
    /// [`HealthSnapshot::node_excluded`].
    pub node_excluded: Option<String>,
    /// [`HealthSnapshot::services`] as a list (JSON keys must be strings).
    pub services: Vec<KeptService>,
}

/// One Service of [`KeptHealth`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptService {
    /// Its namespace and name.
    pub key: ServiceKey,
    /// What the node answers for it.
    pub health: ServiceHealth,
}

impl KeptHealth {
    /// The state to keep from `snapshot` of `node`; `None` before the first sync (a
    /// starting or restored snapshot is never written back).
    pub fn of(node: &str, snapshot: &HealthSnapshot) -> Option<KeptHealth> {
        snapshot.synced.then(|| KeptHealth {
            node: node.to_string(),
            last_updated_ms: snapshot.last_updated.map(to_ms),
            node_known: snapshot.node_known,
            node_deleting: snapshot.node_deleting,
            node_excluded: snapshot.node_excluded.clone(),
            services: snapshot
                .services
                .iter()
                .map(|(key, health)| KeptService {
                    key: key.clone(),
                    health: *health,
                })
                .collect(),
        })
    }

    /// The snapshot a speaker of `node` restarted before its watches synced serves: the kept
    /// answers, rules applied (the kept table is still in the kernel: the caller checks),
    /// `serve_node_ports` from the current dataplane decision, still not synced. `None` when
    /// the state is another node's.
    pub fn restore(&self, node: &str, serve_node_ports: bool) -> Option<HealthSnapshot> {
        (self.node == node).then(|| HealthSnapshot {
            synced: false,
            rules: RulesState::Applied,
            last_updated: self.last_updated_ms.map(from_ms),
            node_known: self.node_known,
            node_deleting: self.node_deleting,
            node_excluded: self.node_excluded.clone(),
            services: self
                .services
                .iter()
                .map(|s| (s.key.clone(), s.health))
                .collect::<BTreeMap<_, _>>(),
            serve_node_ports,
            debug_state: DebugState::new(serde_json::json!({
                "restored": "health state kept from the previous run; the watches have not synced yet",
            })),
            probes: std::sync::Arc::default(),
        })
    }
}

fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::KeptHealth;
    use crate::health::answers;
    use crate::health::model::{HealthSnapshot, Judge, RulesState, ServiceHealth};
    use ferrolb_core::ServiceKey;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn synced() -> HealthSnapshot {
        let mut snap = HealthSnapshot {
            synced: true,
            node_known: true,
            last_updated: Some(at(1_700_000_000) + Duration::from_millis(125)),
            serve_node_ports: true,
            ..HealthSnapshot::default()
        };
        for (name, eps, port) in [
            ("web", 1, Some(31_000)),
            ("empty", 0, Some(31_001)),
            ("db", 2, None),
        ] {
            snap.services.insert(
                ServiceKey::new("default", name),
                ServiceHealth {
                    local_ready_endpoints: eps,
                    health_check_node_port: port,
                },
            );
        }
        snap
    }

    #[test]
    fn a_restored_node_answers_every_path_as_before_its_restart() {
        let before = synced();
        let kept = KeptHealth::of("node-a", &before).unwrap();
        let text = serde_json::to_string(&kept).unwrap();
        let read: KeptHealth = serde_json::from_str(&text).unwrap();
        let after = read.restore("node-a", true).unwrap();
        assert!(!after.synced, "still waiting for the watches");
        let judge = Judge::default();
        // Long after the restart: the kept table is applied, nothing is pending.
        let now = at(1_700_000_000 + 3_600);
        assert_eq!(
            answers::healthz(&after, &judge, now),
            answers::healthz(&before, &judge, now)
        );
        assert_eq!(
            answers::livez(&after, &judge, now),
            answers::livez(&before, &judge, now)
        );
        for name in ["web", "empty", "db", "absent"] {
            let key = ServiceKey::new("default", name);
            assert_eq!(
                answers::service(&after, &judge, now, &key),
                answers::service(&before, &judge, now, &key),
                "{name}"
            );
        }
        assert_eq!(after.node_ports(), before.node_ports());
        assert_eq!(answers::healthz(&after, &judge, now).status, 200);
    }

    #[test]
    fn only_synced_state_of_this_node_is_kept_and_restored() {
        assert_eq!(
            KeptHealth::of("node-a", &HealthSnapshot::starting(at(5))),
            None
        );
        let kept = KeptHealth::of("node-a", &synced()).unwrap();
        assert_eq!(kept.restore("node-b", true), None);
        let excluded = HealthSnapshot {
            node_excluded: Some("ToBeDeletedByClusterAutoscaler".into()),
            node_deleting: true,
            rules: RulesState::Pending {
                since: at(9),
                error: None,
            },
            ..synced()
        };
        let back = KeptHealth::of("node-a", &excluded)
            .unwrap()
            .restore("node-a", false)
            .unwrap();
        assert_eq!(back.node_excluded, excluded.node_excluded);
        assert!(back.node_deleting);
        assert_eq!(back.rules, RulesState::Applied);
        assert!(back.node_ports().0.is_empty(), "announce-only binds none");
    }
}
