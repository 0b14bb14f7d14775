//! Per Service: what this node announces and why, which addresses nobody announces and why,
//! and which another node announces — what the shell publishes as a `ServiceAnnouncement`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::names::{LABEL_MODE, MODE_EDGE};
use ferrolb_api::{Announcement, AnnouncementKind, ServiceAnnouncementStatus, SilentAddress};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::election::Election;
use ferrolb_core::ServiceKey;

use super::vips::ServiceVips;

/// One address this node answers ARP/NDP for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAnnouncement {
    /// The address.
    pub ip: IpAddr,
    /// LoadBalancer IP or externalIP.
    pub kind: AnnouncementKind,
    /// Interfaces to answer on (the decision's list, shared).
    pub interfaces: Arc<[String]>,
    /// The election's explanation (the decision's, shared).
    pub reason: Arc<str>,
}

/// One address of the Service nobody announces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SilentIp {
    /// The address.
    pub ip: IpAddr,
    /// Why nobody announces it (the decision's text, shared, when the election decided so).
    pub reason: Arc<str>,
}

/// One address of the Service another node announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Elsewhere {
    /// The address.
    pub ip: IpAddr,
    /// LoadBalancer IP or externalIP.
    pub kind: AnnouncementKind,
    /// The node that announces it.
    pub node: String,
}

/// What this node knows about one Service's announcements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnouncementPlan {
    /// The Service.
    pub service: ServiceKey,
    /// Addresses this node announces.
    pub announced: Vec<PlannedAnnouncement>,
    /// Addresses nobody announces (refused, not covered, no endpoints, ...).
    pub silent: Vec<SilentIp>,
    /// Addresses another node announces.
    pub elsewhere: Vec<Elsewhere>,
}

impl AnnouncementPlan {
    /// This node's part of the `ServiceAnnouncement` status: its announcements (with `since`
    /// from the shell's memory of when each began) and the silent addresses.
    pub fn status(&self, node: &str, since: &BTreeMap<IpAddr, Time>) -> ServiceAnnouncementStatus {
        ServiceAnnouncementStatus {
            announcements: self
                .announced
                .iter()
                .map(|a| Announcement {
                    ip: a.ip.to_string(),
                    kind: a.kind,
                    node: node.to_string(),
                    interfaces: a.interfaces.to_vec(),
                    since: since.get(&a.ip).cloned(),
                    reason: a.reason.to_string(),
                })
                .collect(),
            silent: self.silent_addresses(),
        }
    }

    /// The addresses nobody announces, as the status lists them.
    pub fn silent_addresses(&self) -> Vec<SilentAddress> {
        self.silent
            .iter()
            .map(|s| SilentAddress {
                ip: s.ip.to_string(),
                reason: s.reason.to_string(),
            })
            .collect()
    }
}

/// The plan of one Service from its sorted-out addresses and the election.
pub fn plan(
    key: &ServiceKey,
    vips: &ServiceVips,
    election: &Election,
    node: &str,
) -> AnnouncementPlan {
    let mut plan = AnnouncementPlan {
        service: key.clone(),
        announced: Vec::new(),
        silent: vips
            .refused
            .iter()
            .map(|(ip, reason)| SilentIp {
                ip: *ip,
                reason: reason.as_str().into(),
            })
            .collect(),
        elsewhere: Vec::new(),
    };
    let elected = vips
        .lb
        .iter()
        .filter_map(|p| {
            if p.edge {
                plan.silent.push(SilentIp {
                    ip: p.ip,
                    reason: format!(
                        "pool {} is an edge pool ({LABEL_MODE}={MODE_EDGE}): not announced over L2",
                        p.pool
                    )
                    .into(),
                });
                return None;
            }
            Some((p.ip, AnnouncementKind::LoadBalancerIP))
        })
        .collect::<Vec<_>>();
    let externals = vips
        .external
        .iter()
        .map(|ip| (*ip, AnnouncementKind::ExternalIP));
    for (ip, kind) in elected.into_iter().chain(externals) {
        let Some(decision) = election.per_ip.get(&ip) else {
            continue;
        };
        match decision.winner.as_deref() {
            Some(winner) if winner == node => plan.announced.push(PlannedAnnouncement {
                ip,
                kind,
                interfaces: Arc::clone(&decision.interfaces),
                reason: Arc::clone(&decision.reason),
            }),
            Some(winner) => plan.elsewhere.push(Elsewhere {
                ip,
                kind,
                node: winner.to_string(),
            }),
            None => plan.silent.push(SilentIp {
                ip,
                reason: Arc::clone(&decision.reason),
            }),
        }
    }
    plan.silent.sort();
    plan.silent.dedup();
    // Built by push (four entries at the first), then kept with the desired state.
    plan.announced.shrink_to_fit();
    plan.silent.shrink_to_fit();
    plan.elsewhere.shrink_to_fit();
    plan
}
