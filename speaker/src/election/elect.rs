//! The election: per IP, intersect the candidates of every Service sharing it, then pick the
//! rendezvous winner.
//!
//! Services sharing one IP:
//! * A Service that would be silent on its own (no covering L2AnnouncementPolicy, no ready endpoints,
//!   no eligible node) **abstains**: it does not veto the IP for the others, and its reason is
//!   appended to the decision. Announcing the IP for the other Services costs it nothing: its
//!   traffic could not be served either way.
//! * The remaining Services' candidate sets are intersected, so the winner can serve every one
//!   of them. An empty intersection is a **conflict**: nobody announces the IP, and the reason
//!   lists each Service's candidates (fix: align their endpoints or L2AnnouncementPolicies).
//! * The winner answers on the union of the interfaces each Service's policies select.
//!
//! Duplicate node names (impossible in Kubernetes) are resolved deterministically: the
//! greatest [`NodeView`] under its derived ordering is kept, so the input order never matters.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::candidates::{CandidateSet, VipOutcome, evaluate, list_or_none};
use super::model::{L2Policy, NodeView, VipInput};
use super::output::{Election, IpDecision};
use super::rendezvous::rendezvous_winner;
use ferrolb_core::ServiceKey;

/// Marker present in the reason of every sharing-conflict decision.
pub const CONFLICT_REASON_PREFIX: &str = "conflict:";

/// Decides, for every IP in `vips`, which node answers ARP/NDP and on which interfaces.
///
/// Pure and order-independent: every speaker given the same nodes, policies and VIPs (in any
/// order) computes the same [`Election`]. Policies failing [`L2Policy::validate`] are ignored.
pub fn elect<'a>(
    nodes: &[NodeView],
    policies: &[L2Policy],
    vips: impl IntoIterator<Item = &'a VipInput>,
) -> Election {
    let shared = SharedParts::default();
    let electorate = Electorate::new(nodes, policies, &shared);
    let mut by_ip: BTreeMap<IpAddr, Vec<&VipInput>> = BTreeMap::new();
    for vip in vips {
        by_ip.entry(vip.ip).or_default().push(vip);
    }
    let per_ip = by_ip
        .into_iter()
        .map(|(ip, sharing)| (ip, Arc::new(electorate.decide(ip, &sharing))))
        .collect();
    Election { per_ip }
}

/// What every IP's decision of one election shares: the nodes by name and the valid policies.
/// [`elect`] is [`Electorate::decide`] for each IP; a caller that keeps decisions (the
/// speaker's step memo) decides only the IPs whose inputs changed.
pub struct Electorate<'a> {
    nodes: BTreeMap<&'a str, &'a NodeView>,
    valid: Vec<&'a L2Policy>,
    shared: &'a SharedParts,
}

/// The lists of names (candidates, interfaces) and the reasons of the decisions made so far:
/// most addresses of a cluster have the same candidates, interfaces and reason, so their
/// decisions share one of each instead of a copy per address. A caller that keeps decisions
/// across elections keeps this too ([`SharedParts::forget_unused`]): decided one change at a time,
/// 10,000 addresses otherwise kept 10,000 copies of the same few lists (issue 21).
#[derive(Debug, Default)]
pub struct SharedParts {
    lists: RefCell<HashSet<Arc<[String]>>>,
    texts: RefCell<HashSet<Arc<str>>>,
}

impl SharedParts {
    /// The shared list of `names` (in their order).
    fn list<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Arc<[String]> {
        let names: Vec<String> = names.into_iter().map(str::to_string).collect();
        let mut lists = self.lists.borrow_mut();
        if let Some(list) = lists.get(names.as_slice()) {
            return Arc::clone(list);
        }
        let list: Arc<[String]> = names.into();
        lists.insert(Arc::clone(&list));
        list
    }

    /// The shared `text`.
    fn text(&self, text: &str) -> Arc<str> {
        let mut texts = self.texts.borrow_mut();
        if let Some(shared) = texts.get(text) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = text.into();
        texts.insert(Arc::clone(&shared));
        shared
    }

    /// Forgets the lists and texts no decision holds any more.
    pub fn forget_unused(&mut self) {
        self.lists.get_mut().retain(|l| Arc::strong_count(l) > 1);
        self.texts.get_mut().retain(|t| Arc::strong_count(t) > 1);
    }

    /// Whether nothing is shared.
    pub fn is_empty(&self) -> bool {
        self.lists.borrow().is_empty() && self.texts.borrow().is_empty()
    }
}

impl<'a> Electorate<'a> {
    /// The electorate of `nodes` (duplicate names: the greatest view kept) under `policies`
    /// (invalid ones ignored); its decisions share the lists and texts of `shared`.
    pub fn new(
        nodes: &'a [NodeView],
        policies: &'a [L2Policy],
        shared: &'a SharedParts,
    ) -> Electorate<'a> {
        let mut by_name: BTreeMap<&str, &NodeView> = BTreeMap::new();
        for node in nodes {
            by_name
                .entry(node.name.as_str())
                .and_modify(|kept| *kept = (*kept).max(node))
                .or_insert(node);
        }
        let valid = policies.iter().filter(|p| p.validate().is_ok()).collect();
        Electorate {
            nodes: by_name,
            valid,
            shared,
        }
    }

    /// The decision for `ip`, which the Services of `sharing` want announced (one input per
    /// Service, in any order).
    pub fn decide(&self, ip: IpAddr, sharing: &[&VipInput]) -> IpDecision {
        decide(ip, sharing, &self.nodes, &self.valid, self.shared)
    }
}

/// [`elect`] as if node `leaving` were gone: what the cluster will converge to once a speaker
/// that is about to stop (planned shutdown) has left. Equivalent to the election other speakers
/// run after gossip marks it dead.
pub fn elect_without(
    nodes: &[NodeView],
    policies: &[L2Policy],
    vips: &[VipInput],
    leaving: &str,
) -> Election {
    let remaining: Vec<NodeView> = nodes
        .iter()
        .filter(|n| n.name != leaving)
        .cloned()
        .collect();
    elect(&remaining, policies, vips)
}

/// For a speaker about to stop: the IPs node `leaving` currently wins, each with its decision
/// once `leaving` is gone (successor, interfaces, reason). A `None` winner means the IP goes
/// silent when `leaving` stops.
pub fn handover(
    nodes: &[NodeView],
    policies: &[L2Policy],
    vips: &[VipInput],
    leaving: &str,
) -> BTreeMap<IpAddr, Arc<IpDecision>> {
    let now = elect(nodes, policies, vips);
    let mut after = elect_without(nodes, policies, vips, leaving);
    now.for_node(leaving)
        .into_iter()
        .filter_map(|(ip, _)| after.per_ip.remove(&ip).map(|d| (ip, d)))
        .collect()
}

/// One IP's decision from the outcomes of every Service sharing it.
fn decide(
    ip: IpAddr,
    sharing: &[&VipInput],
    nodes: &BTreeMap<&str, &NodeView>,
    valid: &[&L2Policy],
    shared: &SharedParts,
) -> IpDecision {
    let services: Vec<ServiceKey> = sharing
        .iter()
        .map(|v| v.service.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut wanting: Vec<(&ServiceKey, CandidateSet)> = Vec::new();
    let mut notes: BTreeSet<String> = BTreeSet::new();
    let mut abstaining: BTreeSet<(&ServiceKey, String)> = BTreeSet::new();
    for vip in sharing {
        match evaluate(vip, nodes, valid) {
            VipOutcome::Candidates { nodes, note } => {
                notes.extend(note);
                wanting.push((&vip.service, nodes));
            }
            VipOutcome::Silent(reason) => {
                abstaining.insert((&vip.service, reason));
            }
        }
    }
    let silent = |reason: String| IpDecision {
        winner: None,
        interfaces: shared.list([]),
        candidates: shared.list([]),
        reason: shared.text(&reason),
        services: services.clone(),
    };
    if wanting.is_empty() {
        return silent(silent_reason(&abstaining));
    }

    let common: BTreeSet<&str> = wanting
        .iter()
        .map(|(_, set)| set.keys().map(String::as_str).collect::<BTreeSet<&str>>())
        .reduce(|acc, s| acc.intersection(&s).copied().collect())
        .unwrap_or_default();
    let Some(winner) = rendezvous_winner(ip, common.iter().copied()) else {
        let detail: BTreeSet<String> = wanting
            .iter()
            .map(|(svc, set)| format!("{svc} → [{}]", list_or_none(set.keys().map(String::as_str))))
            .collect();
        let reason = format!(
            "{CONFLICT_REASON_PREFIX} Services sharing {ip} have no candidate node in common ({}); \
             nobody announces it — give them endpoints/L2AnnouncementPolicies on a common node, or stop sharing the IP",
            detail.into_iter().collect::<Vec<_>>().join("; ")
        );
        return silent(reason);
    };

    let interfaces: BTreeSet<&str> = wanting
        .iter()
        .filter_map(|(_, set)| set.get(winner))
        .flatten()
        .map(String::as_str)
        .collect();
    // Without the address (every reader shows it beside the decision), so that the
    // decisions of one winner among the same candidates share one text.
    let mut reason = format!(
        "{winner} has the highest rendezvous score among {} candidate(s)",
        common.len()
    );
    if wanting.len() > 1 {
        reason.push_str(&format!(" common to {} sharing Services", wanting.len()));
    }
    for note in notes {
        reason.push_str(&format!("; {note}"));
    }
    for (svc, why) in &abstaining {
        reason.push_str(&format!("; {svc} not served: {why}"));
    }
    IpDecision {
        winner: Some(winner.to_string()),
        interfaces: shared.list(interfaces),
        candidates: shared.list(common.iter().copied()),
        reason: shared.text(&reason),
        services,
    }
}

/// Reason for an IP no Service wants announced: the bare reason when all agree, else per Service.
fn silent_reason(abstaining: &BTreeSet<(&ServiceKey, String)>) -> String {
    let distinct: BTreeSet<&str> = abstaining.iter().map(|(_, r)| r.as_str()).collect();
    match distinct.into_iter().collect::<Vec<_>>().as_slice() {
        [only] => (*only).to_string(),
        _ => abstaining
            .iter()
            .map(|(svc, r)| format!("{svc}: {r}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}
