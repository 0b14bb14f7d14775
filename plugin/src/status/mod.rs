//! `kubectl ferrolb status`: ferrolb as a whole, as a pure function of a [`Snapshot`]: the
//! controller's leader, every speaker (node, ready, version), every pool (usage, Ready), the
//! Services ferrolb owns that have no address, and who announces how many addresses. Anything
//! wrong is a problem line; `status` exits 1 when there is one.
//!
//! The speakers' own states ([`gossip`]): whether their gossip views agree, and whether two
//! answer for one address (a split brain). `why` checks one Service's chain, the wire included.

pub mod fetch;
pub mod gossip;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ferrolb_adapter::{DefaultClass, classify};
use ferrolb_api::{ServiceAnnouncement, VIPPool};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::ResourceExt;
use serde::Serialize;

use crate::speakers::answers::{Fetched, SpeakerState};

/// Everything `status` reads, as the API returned it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The controller's leader-election Lease, if found.
    pub lease: Option<Lease>,
    /// The speakers' Pods.
    pub speakers: Vec<Pod>,
    /// Every Node.
    pub nodes: Vec<Node>,
    /// Every VIPPool.
    pub pools: Vec<VIPPool>,
    /// Every Service.
    pub services: Vec<Service>,
    /// Every ServiceAnnouncement.
    pub announcements: Vec<ServiceAnnouncement>,
    /// Each ready speaker's `/debug/state`, by node.
    pub speaker_states: BTreeMap<String, Fetched<SpeakerState>>,
    /// Why the speakers were not asked, if so.
    pub speakers_unreachable: Option<String>,
}

/// One speaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Speaker {
    /// Its node.
    pub node: String,
    /// Its Pod.
    pub pod: String,
    /// Whether the Pod is Ready.
    pub ready: bool,
    /// Its image's tag (the version), or the whole image.
    pub version: String,
    /// Container restarts.
    pub restarts: i32,
    /// Addresses it announces, by the ServiceAnnouncements.
    pub announcing: usize,
    /// Its gossip view (`sees 3/3 alive`), or why it was not read.
    pub gossip: String,
}

/// One pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pool {
    /// Its name.
    pub name: String,
    /// Addresses in use, as its status says.
    pub used: String,
    /// Addresses free.
    pub available: String,
    /// Its Ready condition (`True`, `False`, or `Unknown` when the controller has not written it).
    pub ready: String,
}

/// ferrolb's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The controller's leader, or why there is none.
    pub leader: String,
    /// Every speaker, by node.
    pub speakers: Vec<Speaker>,
    /// Every pool.
    pub pools: Vec<Pool>,
    /// Services ferrolb owns without an address: `namespace/name` and the reason it gives.
    pub pending: Vec<String>,
    /// What is wrong, each with what to do.
    pub problems: Vec<String>,
    /// What could not be checked, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

/// ferrolb's state at `now` (`default_class`: whether the controller owns Services without a
/// class, as it does unless run with `--default-class=false`).
pub fn status(snap: &Snapshot, now: jiff::Timestamp, default_class: DefaultClass) -> Status {
    let mut problems = Vec::new();
    let leader = crate::leader::fresh(snap.lease.as_ref(), now).unwrap_or_else(|problem| {
        problems.push(format!(
            "{problem}: check the ferrolb-controller Pods and their logs (kubectl -n ferrolb-system logs deploy/ferrolb-controller)"
        ));
        problem
    });

    let views = gossip::judge(&snap.speaker_states);
    let mut announcing: BTreeMap<&str, usize> = BTreeMap::new();
    for sva in &snap.announcements {
        for a in sva.status.iter().flat_map(|s| s.announcements.iter()) {
            *announcing.entry(a.node.as_str()).or_default() += 1;
        }
    }
    let mut speakers: Vec<Speaker> = snap
        .speakers
        .iter()
        .map(|p| {
            let spec = p.spec.as_ref();
            let node = spec.and_then(|s| s.node_name.clone()).unwrap_or_default();
            let image = spec
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let version = image
                .rsplit_once(':')
                .filter(|(_, tag)| !tag.contains('/'))
                .map_or(image.clone(), |(_, tag)| tag.to_string());
            let restarts = p
                .status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
                .map(|c| c.restart_count)
                .sum();
            Speaker {
                announcing: announcing.get(node.as_str()).copied().unwrap_or(0),
                gossip: views
                    .per_node
                    .get(&node)
                    .cloned()
                    .unwrap_or_else(|| "not read".into()),
                node,
                pod: p.name_any(),
                ready: crate::speakers::ready(p),
                version,
                restarts,
            }
        })
        .collect();
    speakers.sort_by(|a, b| a.node.cmp(&b.node));
    for s in speakers.iter().filter(|s| !s.ready) {
        problems.push(format!(
            "speaker {} on {} is not ready: it announces nothing there (kubectl -n ferrolb-system describe pod {})",
            s.pod, s.node, s.pod
        ));
    }
    let mut nodes: Vec<String> = snap.nodes.iter().map(ResourceExt::name_any).collect();
    nodes.sort();
    for node in nodes
        .iter()
        .filter(|n| !speakers.iter().any(|s| &s.node == *n))
    {
        problems.push(format!(
            "node {node} runs no speaker: it never announces (check the ferrolb-speaker DaemonSet's nodeSelector and tolerations)"
        ));
    }
    problems.extend(views.problems.iter().cloned());
    let versions: std::collections::BTreeSet<&str> =
        speakers.iter().map(|s| s.version.as_str()).collect();
    if versions.len() > 1 {
        problems.push(format!(
            "speakers run different versions ({}): a rollout is under way or stuck",
            versions.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }

    let mut pools: Vec<Pool> = snap
        .pools
        .iter()
        .map(|p| {
            let st = p.status.clone().unwrap_or_default();
            let ready = st
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map_or_else(|| "Unknown".to_string(), |c| c.status.clone());
            Pool {
                name: p.name_any(),
                used: st.used.unwrap_or_else(|| "?".into()),
                available: st.available.unwrap_or_else(|| "?".into()),
                ready,
            }
        })
        .collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    for p in pools.iter().filter(|p| p.ready == "False") {
        problems.push(format!(
            "pool {} is not Ready: kubectl describe vippool {} says why",
            p.name, p.name
        ));
    }
    if pools.is_empty() {
        problems.push(
            "no VIPPool: no Service can get an address; create one (README: The CRDs)".into(),
        );
    }

    let mut pending = Vec::new();
    for svc in &snap.services {
        if classify(svc, default_class).is_none() || has_address(svc) {
            continue;
        }
        let reason = svc
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == ferrolb_core::names::CONDITION_ALLOCATED)
            })
            .map_or_else(|| "no condition yet".to_string(), |c| c.reason.clone());
        pending.push(format!(
            "{}/{} ({reason})",
            svc.namespace().unwrap_or_default(),
            svc.name_any()
        ));
    }
    pending.sort();
    if !pending.is_empty() {
        problems.push(format!(
            "{} Service(s) without an address: `kubectl ferrolb why -n NAMESPACE NAME` says why",
            pending.len()
        ));
    }
    Status {
        leader,
        speakers,
        pools,
        pending,
        problems,
        unchecked: snap
            .speakers_unreachable
            .as_ref()
            .map(|why| format!("the speakers' gossip views and split brains: {why}")),
    }
}

fn has_address(svc: &Service) -> bool {
    !ferrolb_adapter::ingress::ingress_ip_list(svc).is_empty()
}

/// The status as text: the leader, a table of speakers, one of pools, the pending Services,
/// then the problems (or "no problem found").
pub fn text(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "controller: {}", s.leader);
    let _ = writeln!(out, "speakers:");
    for sp in &s.speakers {
        let _ = writeln!(
            out,
            "  {:<16} {:<5} {:<12} restarts {:<3} announcing {:<4} gossip: {}  ({})",
            sp.node,
            if sp.ready { "ready" } else { "NOT" },
            sp.version,
            sp.restarts,
            sp.announcing,
            sp.gossip,
            sp.pod
        );
    }
    let _ = writeln!(out, "pools:");
    for p in &s.pools {
        let _ = writeln!(
            out,
            "  {:<24} used {:<6} available {:<6} Ready={}",
            p.name, p.used, p.available, p.ready
        );
    }
    if !s.pending.is_empty() {
        let _ = writeln!(out, "without an address:");
        for p in &s.pending {
            let _ = writeln!(out, "  {p}");
        }
    }
    if let Some(why) = &s.unchecked {
        let _ = writeln!(out, "not checked: {why}");
    }
    if s.problems.is_empty() {
        let _ = writeln!(out, "no problem found");
    } else {
        let _ = writeln!(out, "problems:");
        for p in &s.problems {
            let _ = writeln!(out, "  ✗ {p}");
        }
    }
    out
}
