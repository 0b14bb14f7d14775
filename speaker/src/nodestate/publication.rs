//! The `ServiceAnnouncement` statuses this node publishes (pure): [`Statuses`] and the
//! [`Since`] memory that dates each announcement.
//!
//! Every speaker computes the same election, so one of them writes each Service's object: the
//! winner of the Service's lowest announced address, or, when nobody announces any, the first
//! live speaker by node name. The first live speaker is also the sweeper that removes the
//! objects of Services without a plan.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::{Announcement, AnnouncementKind, ServiceAnnouncementStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::election::Election;
use ferrolb_core::ServiceKey;

use super::digest::StatusDigest;
use super::plan::AnnouncementPlan;

/// When each address's current winner started announcing it, as far as this speaker knows:
/// the `since` of announcements. The only memory in the desired state: the shell passes the
/// previous one in ([`Local::since`](super::Local::since)) and keeps the new one. Shared: a
/// copy costs a reference count, not the map.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Since {
    seen: Arc<BTreeMap<IpAddr, Began>>,
}

/// Who announces one address, since when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Began {
    /// The winner.
    pub node: Arc<str>,
    /// When this speaker first saw it win.
    pub since: Time,
}

impl Since {
    /// Records the current winners (keeping the time of pairs already known) and forgets
    /// addresses nobody announces.
    pub fn update(&mut self, election: &Election, now: Time) {
        // Collected in address order: built in bulk, its nodes full (inserted one by one
        // in order, they would stay about half full).
        let seen = election
            .per_ip
            .iter()
            .filter_map(|(ip, decision)| {
                let winner = decision.winner.as_deref()?;
                let began = match self.seen.get(ip) {
                    Some(b) if &*b.node == winner => b.clone(),
                    _ => Began {
                        node: winner.into(),
                        since: now.clone(),
                    },
                };
                Some((*ip, began))
            })
            .collect();
        self.seen = Arc::new(seen);
    }

    /// When the current winner of `ip` began announcing it.
    pub fn get(&self, ip: IpAddr) -> Option<Time> {
        self.seen.get(&ip).map(|b| b.since.clone())
    }
}

/// What this node publishes as `ServiceAnnouncement`s.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Publication {
    /// The statuses this node writes, by Service.
    pub statuses: Statuses,
    /// The plans: every Service with one (objects of other Services are stale). Shared with
    /// the desired state; printed as their Services.
    #[serde(rename = "described", serialize_with = "services_of")]
    pub plans: Vec<Arc<AnnouncementPlan>>,
    /// This node removes stale objects (it is the first live speaker by name).
    pub sweeper: bool,
    /// When each address's winner began (the `since` of the statuses).
    pub since: Since,
}

impl Publication {
    /// Every Service with a plan.
    pub fn described(&self) -> impl Iterator<Item = &ServiceKey> {
        self.plans.iter().map(|p| &p.service)
    }
}

/// Serializes plans as the sorted list of their Services.
fn services_of<S: serde::Serializer>(
    plans: &[Arc<AnnouncementPlan>],
    s: S,
) -> Result<S::Ok, S::Error> {
    let services: BTreeSet<&ServiceKey> = plans.iter().map(|p| &p.service).collect();
    s.collect_seq(services)
}

/// The statuses this node writes: for each Service it is the writer of, the whole status.
/// Kept as what they are composed from (the plans, the election and `since`, all shared with
/// the desired state) and a digest of each ([`StatusDigest`]): composed, each held about
/// 1.4 KB of strings at 10,000 Services (issue 21), while the publisher only compares digests
/// and writes the few that changed. Composed again where they are read ([`Statuses::status`],
/// `/debug/state`). Equal when they are of the same Services with the same digests.
#[derive(Debug, Clone, Default)]
pub struct Statuses {
    /// The plans of the Services this node writes, sorted by Service, with their statuses'
    /// digests.
    written: Vec<(Arc<AnnouncementPlan>, StatusDigest)>,
    /// The election the statuses were composed with.
    election: Arc<Election>,
    /// This node.
    node: Arc<str>,
    /// When each winner began.
    since: Since,
}

impl Statuses {
    /// The statuses `node` writes of `plans` (one per Service: of a Service planned twice the
    /// last plan), composed with `election` and `since`; `live` names the live speakers.
    pub fn new(
        plans: &[Arc<AnnouncementPlan>],
        election: &Arc<Election>,
        node: &str,
        live: &BTreeSet<String>,
        since: &Since,
    ) -> Statuses {
        let mut statuses = Statuses {
            written: Vec::new(),
            election: Arc::clone(election),
            node: node.into(),
            since: since.clone(),
        };
        let fallback = live.iter().next().map(String::as_str);
        let mut written: Vec<&Arc<AnnouncementPlan>> = plans
            .iter()
            .filter(|plan| writer(plan, node).or(fallback) == Some(node))
            .collect();
        written.sort_by(|a, b| a.service.cmp(&b.service));
        let mut kept: Vec<(Arc<AnnouncementPlan>, StatusDigest)> =
            Vec::with_capacity(written.len());
        for plan in written {
            let digest = StatusDigest::of(&statuses.compose(plan));
            match kept.last_mut() {
                Some(last) if last.0.service == plan.service => *last = (Arc::clone(plan), digest),
                _ => kept.push((Arc::clone(plan), digest)),
            }
        }
        kept.shrink_to_fit();
        statuses.written = kept;
        statuses
    }

    /// How many statuses this node writes.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    /// Whether this node writes none.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Each Service this node writes the status of, with the status's digest, by Service.
    pub fn digests(&self) -> impl Iterator<Item = (&ServiceKey, StatusDigest)> {
        self.written
            .iter()
            .map(|(plan, digest)| (&plan.service, *digest))
    }

    /// The status of `service`, if this node writes it.
    pub fn status(&self, service: &ServiceKey) -> Option<ServiceAnnouncementStatus> {
        let at = self
            .written
            .binary_search_by(|(plan, _)| plan.service.cmp(service))
            .ok()?;
        self.written.get(at).map(|(plan, _)| self.compose(plan))
    }

    /// The whole status of `plan`'s Service.
    fn compose(&self, plan: &AnnouncementPlan) -> ServiceAnnouncementStatus {
        let mut entries: Vec<(IpAddr, Announcement)> = Vec::new();
        for a in &plan.announced {
            let announcement = entry(
                a.ip,
                a.kind,
                &self.node,
                &a.interfaces,
                &a.reason,
                &self.since,
            );
            entries.push((a.ip, announcement));
        }
        for e in &plan.elsewhere {
            let (interfaces, reason) = self
                .election
                .per_ip
                .get(&e.ip)
                .map(|d| (&d.interfaces[..], &*d.reason))
                .unwrap_or_default();
            let a = entry(e.ip, e.kind, &e.node, interfaces, reason, &self.since);
            entries.push((e.ip, a));
        }
        entries.sort_by_key(|(ip, _)| *ip);
        ServiceAnnouncementStatus {
            announcements: entries.into_iter().map(|(_, a)| a).collect(),
            silent: plan.silent_addresses(),
        }
    }
}

impl PartialEq for Statuses {
    fn eq(&self, other: &Statuses) -> bool {
        self.written.len() == other.written.len()
            && self
                .written
                .iter()
                .zip(&other.written)
                .all(|(a, b)| a.0.service == b.0.service && a.1 == b.1)
    }
}

impl Serialize for Statuses {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.written
                .iter()
                .map(|(plan, _)| (plan.service.to_string(), self.compose(plan))),
        )
    }
}

/// The node that writes the status of `plan`'s Service when it announces any address: the
/// winner of its lowest.
fn writer<'p>(plan: &'p AnnouncementPlan, node: &'p str) -> Option<&'p str> {
    plan.announced
        .iter()
        .map(|a| (a.ip, node))
        .chain(plan.elsewhere.iter().map(|e| (e.ip, e.node.as_str())))
        .min_by_key(|(ip, _)| *ip)
        .map(|(_, n)| n)
}

fn entry(
    ip: IpAddr,
    kind: AnnouncementKind,
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

/// The whole publication of `node`: the statuses it writes, with `since` updated to the
/// election at `now`.
pub fn publication(
    plans: &[Arc<AnnouncementPlan>],
    election: &Arc<Election>,
    node: &str,
    live: &BTreeSet<String>,
    previous: &Since,
    now: &Time,
) -> Publication {
    let mut since = previous.clone();
    since.update(election, now.clone());
    Publication {
        statuses: Statuses::new(plans, election, node, live, &since),
        plans: plans.to_vec(),
        sweeper: live.iter().next().map(String::as_str) == Some(node),
        since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election::IpDecision;
    use crate::nodestate::plan::{Elsewhere, PlannedAnnouncement, SilentIp};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key() -> ServiceKey {
        ServiceKey {
            namespace: "ns".into(),
            name: "web".into(),
        }
    }

    fn election(winners: &[(&str, Option<&str>)]) -> Arc<Election> {
        let mut e = Election::default();
        for (a, w) in winners {
            e.per_ip.insert(
                ip(a),
                std::sync::Arc::new(IpDecision {
                    winner: w.map(str::to_string),
                    interfaces: vec!["eth0".into()].into(),
                    candidates: Vec::new().into(),
                    reason: format!("won by {w:?}").into(),
                    services: vec![key()],
                }),
            );
        }
        Arc::new(e)
    }

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn plan(
        announced: &[&str],
        elsewhere: &[(&str, &str)],
        silent: &[&str],
    ) -> Arc<AnnouncementPlan> {
        Arc::new(AnnouncementPlan {
            service: key(),
            announced: announced
                .iter()
                .map(|a| PlannedAnnouncement {
                    ip: ip(a),
                    kind: AnnouncementKind::LoadBalancerIP,
                    interfaces: vec!["eth0".to_string()].into(),
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
        })
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
        let out = Statuses::new(&plans_a, &e, "a", &live(&["a", "b"]), &since);
        let status = &out.status(&key()).unwrap();
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
        assert!(Statuses::new(&plans_b, &e, "b", &live(&["a", "b"]), &since).is_empty());
    }

    #[test]
    fn with_nothing_announced_the_first_live_speaker_writes() {
        let e = election(&[("198.51.100.200", None)]);
        let plans = [plan(&[], &[], &["198.51.100.200"])];
        let since = Since::default();
        assert!(Statuses::new(&plans, &e, "b", &live(&["a", "b"]), &since).is_empty());
        let out = Statuses::new(&plans, &e, "a", &live(&["a", "b"]), &since);
        let status = out.status(&key()).unwrap();
        assert_eq!(status.announcements.len(), 0);
        assert_eq!(status.silent.len(), 1);
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
