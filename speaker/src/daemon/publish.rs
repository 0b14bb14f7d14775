//! `ServiceAnnouncement` objects: which node answers for each of a Service's addresses.
//!
//! Every speaker computes the same election, so one of them writes each Service's object: the
//! winner of the Service's lowest announced address, or, when nobody announces any, the first
//! live speaker by node name. [`compose`] is the pure part; [`Publisher`] writes with
//! server-side apply (one field manager for every speaker, forced: a takeover is never a
//! conflict) and only what changed since its last write.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::{Announcement, ServiceAnnouncement, ServiceAnnouncementStatus, SilentAddress};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::election::Election;
use crate::nodestate::AnnouncementPlan;
use ferrolb_core::ServiceKey;

/// Field manager of every speaker's writes.
pub const FIELD_MANAGER: &str = "ferrolb-speaker";

/// When each (address, node) pair was first seen by this speaker: the `since` of announcements.
#[derive(Debug, Default)]
pub struct Since {
    seen: BTreeMap<IpAddr, (String, Time)>,
}

impl Since {
    /// Records the current winners (keeping the time of pairs already known) and forgets
    /// addresses nobody announces.
    pub fn update(&mut self, election: &Election, now: Time) {
        let mut next = BTreeMap::new();
        for (ip, decision) in &election.per_ip {
            let Some(winner) = &decision.winner else {
                continue;
            };
            let time = match self.seen.get(ip) {
                Some((node, t)) if node == winner => t.clone(),
                _ => now.clone(),
            };
            next.insert(*ip, (winner.clone(), time));
        }
        self.seen = next;
    }

    fn get(&self, ip: IpAddr) -> Option<Time> {
        self.seen.get(&ip).map(|(_, t)| t.clone())
    }
}

/// The statuses this node writes: for each Service it is the writer of, the whole status.
pub fn compose(
    plans: &[AnnouncementPlan],
    election: &Election,
    node: &str,
    live: &BTreeSet<String>,
    since: &Since,
) -> BTreeMap<ServiceKey, ServiceAnnouncementStatus> {
    let fallback = live.iter().next().map(String::as_str);
    let mut out = BTreeMap::new();
    for plan in plans {
        let mut entries: Vec<(IpAddr, Announcement)> = Vec::new();
        for a in &plan.announced {
            entries.push((
                a.ip,
                entry(a.ip, a.kind, node, &a.interfaces, &a.reason, since),
            ));
        }
        for e in &plan.elsewhere {
            let (interfaces, reason) = election
                .per_ip
                .get(&e.ip)
                .map(|d| (d.interfaces.clone(), d.reason.clone()))
                .unwrap_or_default();
            let a = entry(e.ip, e.kind, &e.node, &interfaces, &reason, since);
            entries.push((e.ip, a));
        }
        entries.sort_by_key(|(ip, _)| *ip);
        let writer = entries.first().map(|(_, a)| a.node.as_str()).or(fallback);
        if writer != Some(node) {
            continue;
        }
        let status = ServiceAnnouncementStatus {
            announcements: entries.into_iter().map(|(_, a)| a).collect(),
            silent: plan
                .silent
                .iter()
                .map(|s| SilentAddress {
                    ip: s.ip.to_string(),
                    reason: s.reason.clone(),
                })
                .collect(),
        };
        out.insert(plan.service.clone(), status);
    }
    out
}

fn entry(
    ip: IpAddr,
    kind: ferrolb_api::AnnouncementKind,
    node: &str,
    interfaces: &[String],
    reason: &str,
    since: &Since,
) -> Announcement {
    Announcement {
        ip: ip.to_string(),
        kind,
        node: node.to_string(),
        interfaces: interfaces.to_vec(),
        since: since.get(ip),
        reason: reason.to_string(),
    }
}

/// One round of work for the publisher task.
#[derive(Debug, Default)]
pub struct Batch {
    /// The statuses this node writes ([`compose`]).
    pub statuses: BTreeMap<ServiceKey, ServiceAnnouncementStatus>,
    /// Every Service with a plan.
    pub described: BTreeSet<ServiceKey>,
    /// This node removes objects of Services without a plan (the first live speaker does).
    pub sweeper: bool,
    /// The Services (for owner references).
    pub services: Vec<Arc<Service>>,
    /// The `ServiceAnnouncement` objects as watched.
    pub current: Vec<Arc<ServiceAnnouncement>>,
}

/// The writes and deletions that bring the watched objects to the batch (pure).
pub fn changes(
    batch: &Batch,
) -> (
    Vec<(ServiceKey, &ServiceAnnouncementStatus)>,
    Vec<ServiceKey>,
) {
    let key_of = |sa: &ServiceAnnouncement| ServiceKey {
        namespace: sa.namespace().unwrap_or_default(),
        name: sa.name_any(),
    };
    let current: HashMap<ServiceKey, Option<&ServiceAnnouncementStatus>> = batch
        .current
        .iter()
        .map(|sa| (key_of(sa), sa.status.as_ref()))
        .collect();
    let writes = batch
        .statuses
        .iter()
        .filter(|(k, wanted)| current.get(*k).copied().flatten() != Some(*wanted))
        .map(|(k, wanted)| (k.clone(), wanted))
        .collect();
    let deletes = if batch.sweeper {
        current
            .keys()
            .filter(|k| !batch.described.contains(*k))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    (writes, deletes)
}

/// How long the publisher waits before trying failed writes again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts the publisher task: it brings the objects to the latest batch, and tries again after
/// failures. Its writes never hold up the loop (an apiserver outage only delays the objects).
/// It compares with the watched objects, not with its own memory, so an object another speaker
/// overwrote during a takeover is put right by whoever writes it now.
pub fn spawn(client: Client, mut rx: watch::Receiver<Arc<Batch>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let publisher = Publisher { client };
        loop {
            let batch = rx.borrow_and_update().clone();
            let ok = publisher.publish(&batch).await;
            let retry = async {
                if ok {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(RETRY).await;
            };
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                () = retry => {}
            }
        }
    })
}

/// Writes `ServiceAnnouncement`s.
struct Publisher {
    client: Client,
}

impl Publisher {
    /// Applies [`changes`]; returns whether all succeeded (failures are logged).
    async fn publish(&self, batch: &Batch) -> bool {
        let (writes, deletes) = changes(batch);
        let mut ok = true;
        for key in deletes {
            let api: Api<ServiceAnnouncement> =
                Api::namespaced(self.client.clone(), &key.namespace);
            match api.delete(&key.name, &Default::default()).await {
                Ok(_) => debug!(service = %key, "ServiceAnnouncement deleted"),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => {
                    ok = false;
                    warn!(service = %key, error = %e, "deleting ServiceAnnouncement failed");
                }
            }
        }
        for (key, status) in writes {
            let found = batch.services.iter().find(|s| {
                s.namespace().as_deref() == Some(key.namespace.as_str()) && s.name_any() == key.name
            });
            let Some(svc) = found else {
                continue;
            };
            match self.write(svc, &key, status).await {
                Ok(()) => debug!(service = %key, "ServiceAnnouncement written"),
                Err(e) => {
                    ok = false;
                    warn!(service = %key, error = %e, "writing ServiceAnnouncement failed; will retry");
                }
            }
        }
        ok
    }

    async fn write(
        &self,
        svc: &Service,
        key: &ServiceKey,
        status: &ServiceAnnouncementStatus,
    ) -> Result<(), kube::Error> {
        let api: Api<ServiceAnnouncement> = Api::namespaced(self.client.clone(), &key.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let owner = svc.controller_owner_ref(&()).map(|mut o| {
            o.controller = Some(false);
            o.block_owner_deletion = Some(false);
            o
        });
        let body = json!({
            "apiVersion": ServiceAnnouncement::api_version(&()),
            "kind": ServiceAnnouncement::kind(&()),
            "metadata": {
                "name": key.name,
                "namespace": key.namespace,
                "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
            },
            "spec": { "serviceName": key.name },
        });
        api.patch(&key.name, &params, &Patch::Apply(body)).await?;
        let body = json!({
            "apiVersion": ServiceAnnouncement::api_version(&()),
            "kind": ServiceAnnouncement::kind(&()),
            "status": status,
        });
        api.patch_status(&key.name, &params, &Patch::Apply(body))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election::IpDecision;
    use crate::nodestate::{Elsewhere, PlannedAnnouncement, SilentIp};
    use ferrolb_api::AnnouncementKind;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key() -> ServiceKey {
        ServiceKey {
            namespace: "ns".into(),
            name: "web".into(),
        }
    }

    fn election(winners: &[(&str, Option<&str>)]) -> Election {
        let mut e = Election::default();
        for (a, w) in winners {
            e.per_ip.insert(
                ip(a),
                IpDecision {
                    winner: w.map(str::to_string),
                    interfaces: vec!["eth0".into()],
                    candidates: vec![],
                    reason: format!("won by {w:?}"),
                    services: vec![key()],
                },
            );
        }
        e
    }

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn plan(announced: &[&str], elsewhere: &[(&str, &str)], silent: &[&str]) -> AnnouncementPlan {
        AnnouncementPlan {
            service: key(),
            announced: announced
                .iter()
                .map(|a| PlannedAnnouncement {
                    ip: ip(a),
                    kind: AnnouncementKind::LoadBalancerIP,
                    interfaces: vec!["eth0".into()],
                    reason: "mine".into(),
                })
                .collect(),
            silent: silent
                .iter()
                .map(|a| SilentIp {
                    ip: ip(a),
                    reason: "no endpoints".into(),
                })
                .collect(),
            elsewhere: elsewhere
                .iter()
                .map(|(a, n)| Elsewhere {
                    ip: ip(a),
                    kind: AnnouncementKind::ExternalIP,
                    node: n.to_string(),
                })
                .collect(),
        }
    }

    fn live(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_winner_of_the_lowest_address_writes_everything() {
        let e = election(&[
            ("198.51.100.200", Some("a")),
            ("2001:db8:100::200", Some("b")),
        ]);
        let mut since = Since::default();
        since.update(&e, time(100));
        let plans_a = [plan(
            &["198.51.100.200"],
            &[("2001:db8:100::200", "b")],
            &["198.51.100.9"],
        )];
        let out = compose(&plans_a, &e, "a", &live(&["a", "b"]), &since);
        let status = &out[&key()];
        let nodes: Vec<(&str, &str)> = status
            .announcements
            .iter()
            .map(|a| (a.ip.as_str(), a.node.as_str()))
            .collect();
        assert_eq!(nodes, [("198.51.100.200", "a"), ("2001:db8:100::200", "b")]);
        assert_eq!(status.announcements[1].kind, AnnouncementKind::ExternalIP);
        assert_eq!(status.announcements[1].reason, "won by Some(\"b\")");
        assert_eq!(status.announcements[0].since, Some(time(100)));
        assert_eq!(status.silent[0].ip, "198.51.100.9");

        let plans_b = [plan(
            &["2001:db8:100::200"],
            &[("198.51.100.200", "a")],
            &[],
        )];
        assert!(compose(&plans_b, &e, "b", &live(&["a", "b"]), &since).is_empty());
    }

    #[test]
    fn with_nothing_announced_the_first_live_speaker_writes() {
        let e = election(&[("198.51.100.200", None)]);
        let plans = [plan(&[], &[], &["198.51.100.200"])];
        let since = Since::default();
        assert!(compose(&plans, &e, "b", &live(&["a", "b"]), &since).is_empty());
        let out = compose(&plans, &e, "a", &live(&["a", "b"]), &since);
        assert_eq!(out[&key()].announcements.len(), 0);
        assert_eq!(out[&key()].silent.len(), 1);
    }

    #[test]
    fn since_survives_recomputation_and_resets_on_takeover() {
        let mut since = Since::default();
        since.update(&election(&[("198.51.100.200", Some("a"))]), time(1));
        since.update(&election(&[("198.51.100.200", Some("a"))]), time(2));
        assert_eq!(since.get(ip("198.51.100.200")), Some(time(1)));
        since.update(&election(&[("198.51.100.200", Some("b"))]), time(3));
        assert_eq!(since.get(ip("198.51.100.200")), Some(time(3)));
        since.update(&election(&[("198.51.100.200", None)]), time(4));
        assert_eq!(since.get(ip("198.51.100.200")), None);
    }
}
