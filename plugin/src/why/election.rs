//! Step 4, election: the expected announcer of each address, computed with the speakers' own
//! [`elect`] from the same inputs, compared with the ServiceAnnouncement; per node why it is
//! not a candidate.
//!
//! Interfaces: the API does not show nodes' interfaces (the speakers gossip them), so every
//! node is given one interface the policies select ("interfaces unknown", said in the
//! evidence); the ServiceAnnouncement shows the winner's real ones. Speakers' liveness is what
//! the speakers agree on through gossip when they could be asked (a restarted speaker's Pod
//! turns Ready seconds after its peers see it), else their Pods' readiness. Only this Service's inputs are used: a sharing conflict with another
//! Service is the controller's (step 1) or the ServiceAnnouncement's reason.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::selector::optional_matches;
use ferrolb_adapter::service::{self, ServiceView};
use ferrolb_api::names::ANN_ALLOCATED_FROM;
use ferrolb_core::TrafficPolicy;
use ferrolb_speaker::election::policy::covering;
use ferrolb_speaker::election::{InterfaceView, L2Policy, VipInput, VipKind, elect};
use ferrolb_speaker::nodestate::endpoints::{by_service, election_view};
use ferrolb_speaker::nodestate::{Local, Since, nodes, pools};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::{STEP_ELECTION, Snapshot, Step, views};
use ferrolb_adapter::ingress::ingress_ip_list;

/// Nodes whose speaker Pod is Ready.
fn live_speakers(speakers: &[Pod]) -> BTreeSet<String> {
    speakers
        .iter()
        .filter(|p| crate::speakers::ready(p))
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect()
}

/// Runs step 4.
pub fn check(snap: &Snapshot) -> Step {
    let svc = &snap.service;
    let key = service::key(svc);
    let pool_views = Pools::new(&snap.pools);
    let allocated_from = svc.annotations().get(ANN_ALLOCATED_FROM).cloned();
    if allocated_from
        .as_deref()
        .is_some_and(|p| pool_views.is_edge(p))
    {
        return Step::skipped(
            STEP_ELECTION,
            vec!["edge pool: the edge serves it, no L2 election".into()],
        );
    }
    // Interfaces unknown: policies select the default set, every node has one such interface.
    let policies: Vec<L2Policy> = snap
        .l2
        .iter()
        .map(|l| L2Policy {
            interfaces: Vec::new(),
            ..pools::policy(&pool_views, l)
        })
        .collect();
    // The speakers' own agreed view when read; their Pods' readiness otherwise.
    let live = views::agreed_live(snap).unwrap_or_else(|| live_speakers(&snap.speakers));
    let names: Vec<String> = snap.nodes.iter().map(|n| n.name_any()).collect();
    let local = Local {
        node: String::new(),
        interfaces: Vec::new(),
        live_speakers: live,
        interfaces_of: names
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    vec![InterfaceView::ethernet("(unknown)", Vec::new())],
                )
            })
            .collect(),
        dataplane: false,
        since: Since::default(),
        now: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
    };
    let views = nodes::views(&snap.nodes, &local);
    let view = ServiceView::of(svc);
    let endpoints = by_service(&snap.slices).remove(&key).unwrap_or_default();
    let eps = election_view(&endpoints);
    let mut vips: Vec<VipInput> = ingress_ip_list(svc)
        .into_iter()
        .map(|ip| (ip, allocated_from.clone(), VipKind::LoadBalancerIp))
        .chain(
            external_ips(snap)
                .into_iter()
                .map(|ip| (ip, None, VipKind::ExternalIp)),
        )
        .map(|(ip, pool, kind)| VipInput {
            service: key.clone(),
            ip,
            pool,
            kind,
            service_labels: svc.labels().clone(),
            etp: view.external_traffic_policy,
            endpoints: eps.clone(),
        })
        .collect();
    vips.sort_by_key(|v| v.ip);
    vips.dedup_by_key(|v| v.ip);
    if vips.is_empty() {
        return Step::failed(
            STEP_ELECTION,
            vec!["no address to announce".into()],
            "the Service has no address: see step 1",
        );
    }
    let election = elect(&views, &policies, &vips);
    let mut ev = vec!["interfaces unknown to the API (speakers gossip them): assumed to match; the speakers' /debug/state shows them".to_string()];
    let announced: BTreeMap<String, (String, Vec<String>)> = snap
        .announcement
        .as_ref()
        .and_then(|a| a.status.as_ref())
        .map(|s| {
            s.announcements
                .iter()
                .map(|a| (a.ip.clone(), (a.node.clone(), a.interfaces.clone())))
                .collect()
        })
        .unwrap_or_default();
    if snap.speakers.is_empty() {
        ev.push("no speaker Pod found: every node counts as speaker not alive".into());
    }
    let valid: Vec<&L2Policy> = policies.iter().filter(|p| p.validate().is_ok()).collect();
    let mut failure: Option<String> = None;
    let mut mismatch = false;
    for vip in &vips {
        let Some(decision) = election.per_ip.get(&vip.ip) else {
            continue;
        };
        let seen = announced.get(&vip.ip.to_string());
        match (&decision.winner, seen) {
            (Some(w), Some((node, ifs))) if w == node => {
                ev.push(format!(
                    "{}: {w} announces (on {}), as expected: {}",
                    vip.ip,
                    ifs.join(","),
                    decision.reason
                ));
            }
            (Some(w), Some((node, _))) => {
                mismatch = true;
                ev.push(format!(
                    "{}: expected {w}, but ServiceAnnouncement says {node}",
                    vip.ip
                ));
            }
            (Some(w), None) => {
                mismatch = true;
                ev.push(format!(
                    "{}: expected {w}, but no ServiceAnnouncement entry",
                    vip.ip
                ));
            }
            (None, _) => {
                ev.push(format!("{}: silent: {}", vip.ip, decision.reason));
                failure.get_or_insert_with(|| fix_for(vip, &valid, &views, &decision.reason));
            }
        }
        for (node, why) in rejections(vip, &valid, &views) {
            ev.push(format!("  {node}: not a candidate: {}", why.join("; ")));
        }
    }
    let expected: BTreeMap<IpAddr, Option<String>> = election
        .per_ip
        .iter()
        .map(|(ip, d)| (*ip, d.winner.clone()))
        .collect();
    let ips: Vec<IpAddr> = vips.iter().map(|v| v.ip).collect();
    let seen_by_speakers = views::check(snap, &ips, &expected);
    ev.extend(seen_by_speakers.evidence);
    match failure.or(seen_by_speakers.fix) {
        Some(fix) => Step::failed(STEP_ELECTION, ev, fix),
        None if mismatch => Step::failed(
            STEP_ELECTION,
            ev,
            "the speakers' announcement differs from the election on the API's inputs: a speaker may be lagging or see other live speakers (gossip); check the speakers' logs and /debug/state",
        ),
        None => Step::passed(STEP_ELECTION, ev),
    }
}

/// The allowed externalIPs (those the controller's condition allows; all when checked by step 2).
fn external_ips(snap: &Snapshot) -> Vec<IpAddr> {
    snap.service
        .spec
        .as_ref()
        .and_then(|s| s.external_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Per node, why it is not a candidate for `vip` (nodes that are have no entry).
fn rejections(
    vip: &VipInput,
    valid: &[&L2Policy],
    views: &[ferrolb_speaker::election::NodeView],
) -> BTreeMap<String, Vec<String>> {
    let covering = covering(valid, vip).unwrap_or_default();
    let mut out = BTreeMap::new();
    for n in views {
        let mut why = nodes::eligibility(n).reasons;
        why.retain(|r| !r.starts_with("no interface known"));
        if !covering.is_empty()
            && !covering
                .iter()
                .any(|p| optional_matches(p.node_selector.as_ref(), &n.labels))
        {
            why.push("no covering L2AnnouncementPolicy's nodeSelector matches it".into());
        }
        if vip.etp == TrafficPolicy::Local
            && !vip.endpoints.iter().any(|e| {
                e.node.as_deref() == Some(n.name.as_str())
                    && (e.is_ready() || e.is_serving_terminating())
            })
        {
            why.push("no local endpoint (externalTrafficPolicy Local)".into());
        }
        if !why.is_empty() {
            out.insert(n.name.clone(), why);
        }
    }
    out
}

/// The fix for a silent address: the first cause found.
fn fix_for(
    vip: &VipInput,
    valid: &[&L2Policy],
    views: &[ferrolb_speaker::election::NodeView],
    reason: &str,
) -> String {
    if let Err(why) = covering(valid, vip) {
        let pool = vip.pool.clone().unwrap_or_else(|| "(externalIPs)".into());
        return format!(
            "{why}: create an L2AnnouncementPolicy listing pool {pool} in spec.ipPools (or set externalIPs: true for externalIPs), with a serviceSelector matching this Service"
        );
    }
    let rejected = rejections(vip, valid, views);
    let all = |needle: &str| {
        !views.is_empty()
            && rejected.len() == views.len()
            && rejected
                .values()
                .all(|w| w.iter().any(|r| r.contains(needle)))
    };
    if views.is_empty() {
        "no Node in the cluster".into()
    } else if all("nodeSelector") {
        "the covering L2AnnouncementPolicies' nodeSelector matches no node: correct spec.nodeSelector or label the nodes that should announce".into()
    } else if vip.etp == TrafficPolicy::Local && endpoint_nodes_all(vip, &rejected, "excluded") {
        "every node with a local endpoint is excluded by label node.kubernetes.io/exclude-from-external-load-balancers: remove the label from one, or move the Pods to nodes without it".into()
    } else if endpoint_nodes_all(vip, &rejected, "speaker not alive")
        || all("speaker not alive")
        || admitted_all(views, &rejected, "speaker not alive")
    {
        "the speaker is not ready on any eligible node: check the ferrolb-speaker Pods there (kubectl -n ferrolb-system get pods -l app.kubernetes.io/component=speaker -o wide)".into()
    } else if all("excluded") {
        "every node is excluded by label node.kubernetes.io/exclude-from-external-load-balancers: remove it from the nodes that should announce".into()
    } else {
        format!("no node can announce ({reason}): see each node's reason above")
    }
}

/// Whether every node the covering policies' nodeSelector admits (and that is not excluded)
/// is rejected for `needle`, and some node is admitted.
fn admitted_all(
    views: &[ferrolb_speaker::election::NodeView],
    rejected: &BTreeMap<String, Vec<String>>,
    needle: &str,
) -> bool {
    let admitted: Vec<&Vec<String>> = views
        .iter()
        .filter_map(|n| rejected.get(&n.name))
        .filter(|w| {
            !w.iter()
                .any(|r| r.contains("nodeSelector") || r.contains("excluded"))
        })
        .collect();
    let candidates_left = views.iter().any(|n| !rejected.contains_key(&n.name));
    !candidates_left
        && !admitted.is_empty()
        && admitted
            .iter()
            .all(|w| w.iter().any(|r| r.contains(needle)))
}

/// Whether every node hosting a ready (or serving) endpoint is rejected for `needle`, and
/// some node hosts one.
fn endpoint_nodes_all(
    vip: &VipInput,
    rejected: &BTreeMap<String, Vec<String>>,
    needle: &str,
) -> bool {
    let hosts: BTreeSet<&str> = vip
        .endpoints
        .iter()
        .filter(|e| e.is_ready() || e.is_serving_terminating())
        .filter_map(|e| e.node.as_deref())
        .collect();
    !hosts.is_empty()
        && hosts.iter().all(|h| {
            rejected
                .get(*h)
                .is_some_and(|w| w.iter().any(|r| r.contains(needle)))
        })
}
