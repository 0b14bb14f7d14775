//! Candidate nodes for one (Service, IP) input.
//!
//! A node is a candidate when it is ready, not excluded from external load balancers, its
//! speaker is alive, some covering policy's `node_selector` matches it, and it has at least one
//! usable interface for the VIP (see [`interfaces`](super::interfaces)).
//!
//! Endpoints:
//! * The Service needs a ready endpoint, or a serving terminating one, somewhere; otherwise
//!   nobody announces ("no ready endpoints"), whatever the traffic policy.
//! * `externalTrafficPolicy: Local` keeps only candidates hosting a ready endpoint. If no
//!   candidate hosts one, it keeps candidates hosting a serving terminating endpoint
//!   (Kubernetes' terminating-endpoint fallback, applied across the eligible nodes so that a
//!   node which could not announce anyway does not block the fallback).

use std::collections::{BTreeMap, BTreeSet};

use super::interfaces::{selected, usable_for_vip};
use super::model::{EndpointView, L2Policy, NodeView, VipInput};
use super::policy::covering;
use ferrolb_adapter::selector::optional_matches;
use ferrolb_core::TrafficPolicy;

/// Candidate node name → interfaces it would answer on.
pub type CandidateSet = BTreeMap<String, BTreeSet<String>>;

/// Result of evaluating one (Service, IP) input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VipOutcome {
    /// This Service does not want the IP announced; the text says why.
    Silent(String),
    /// Non-empty set of candidates, with an optional note for the decision's reason.
    Candidates {
        /// Candidate node → usable interfaces (never empty).
        nodes: CandidateSet,
        /// Extra explanation, e.g. the terminating-endpoint fallback.
        note: Option<String>,
    },
}

/// Why a node was not a candidate, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rejection {
    NotReady,
    Excluded,
    SpeakerDown,
    NotSelected,
    NoInterface,
}

impl Rejection {
    fn describe(self) -> &'static str {
        match self {
            Rejection::NotReady => "not ready",
            Rejection::Excluded => "excluded from external load balancers",
            Rejection::SpeakerDown => "speaker not alive",
            Rejection::NotSelected => {
                "not matched by any covering L2AnnouncementPolicy nodeSelector"
            }
            Rejection::NoInterface => "no usable interface",
        }
    }
}

/// Evaluates `vip` against the (de-duplicated, name-keyed) nodes and the valid policies.
pub fn evaluate(
    vip: &VipInput,
    nodes: &BTreeMap<&str, &NodeView>,
    valid: &[&L2Policy],
) -> VipOutcome {
    let policies = match covering(valid, vip) {
        Ok(p) => p,
        Err(reason) => return VipOutcome::Silent(reason),
    };
    let ready_on: BTreeSet<&str> = endpoint_nodes(vip, |e| e.is_ready());
    let terminating_on: BTreeSet<&str> = endpoint_nodes(vip, |e| e.is_serving_terminating());
    let any_usable = vip
        .endpoints
        .iter()
        .any(|e| e.is_ready() || e.is_serving_terminating());
    if !any_usable {
        return VipOutcome::Silent("no ready endpoints".into());
    }

    let mut eligible = CandidateSet::new();
    let mut rejected: BTreeMap<Rejection, Vec<&str>> = BTreeMap::new();
    for (&name, node) in nodes {
        match check_node(node, &policies, vip) {
            Ok(ifaces) => {
                eligible.insert(name.to_string(), ifaces);
            }
            Err(why) => rejected.entry(why).or_default().push(name),
        }
    }
    if eligible.is_empty() {
        return VipOutcome::Silent(format!(
            "no eligible node among {}{}",
            nodes.len(),
            summarize(&rejected)
        ));
    }
    if vip.etp == TrafficPolicy::Cluster {
        return VipOutcome::Candidates {
            nodes: eligible,
            note: None,
        };
    }

    let with_ready = restrict(&eligible, &ready_on);
    if !with_ready.is_empty() {
        return VipOutcome::Candidates {
            nodes: with_ready,
            note: None,
        };
    }
    let with_terminating = restrict(&eligible, &terminating_on);
    if !with_terminating.is_empty() {
        return VipOutcome::Candidates {
            nodes: with_terminating,
            note: Some(format!(
                "{}: externalTrafficPolicy Local with no ready local endpoint on an eligible node, \
                 using nodes with serving terminating endpoints",
                vip.service
            )),
        };
    }
    let hosts: BTreeSet<&str> = ready_on.union(&terminating_on).copied().collect();
    VipOutcome::Silent(format!(
        "externalTrafficPolicy Local: no eligible node hosts a ready or serving endpoint \
         (endpoints on: {}; eligible: {})",
        list_or_none(hosts.iter().copied()),
        list_or_none(eligible.keys().map(String::as_str))
    ))
}

/// Node-level checks; the usable interfaces when the node qualifies.
fn check_node(
    node: &NodeView,
    policies: &[&L2Policy],
    vip: &VipInput,
) -> Result<BTreeSet<String>, Rejection> {
    if !node.ready {
        return Err(Rejection::NotReady);
    }
    if node.excluded {
        return Err(Rejection::Excluded);
    }
    if !node.speaker_alive {
        return Err(Rejection::SpeakerDown);
    }
    let applicable = applicable(node, policies);
    if applicable.is_empty() {
        return Err(Rejection::NotSelected);
    }
    let usable = usable_for_vip(&selected(&applicable, &node.interfaces), vip.ip);
    if usable.is_empty() {
        return Err(Rejection::NoInterface);
    }
    Ok(usable)
}

/// The policies (of those covering a VIP) whose node selector matches `node`.
fn applicable<'a>(node: &NodeView, policies: &[&'a L2Policy]) -> Vec<&'a L2Policy> {
    policies
        .iter()
        .copied()
        .filter(|p| optional_matches(p.node_selector.as_ref(), &node.labels))
        .collect()
}

/// The interfaces of `node` that the valid `policies` covering `vip` select for it: the same
/// ones the node would answer on if it won `vip`, whether it is eligible now or not (not
/// ready, speaker down…). Empty when no covering policy applies to the node.
pub fn interfaces_for(node: &NodeView, valid: &[&L2Policy], vip: &VipInput) -> BTreeSet<String> {
    let Ok(covering) = covering(valid, vip) else {
        return BTreeSet::new();
    };
    let applicable = applicable(node, &covering);
    usable_for_vip(&selected(&applicable, &node.interfaces), vip.ip)
}

fn endpoint_nodes(vip: &VipInput, keep: impl Fn(&EndpointView) -> bool) -> BTreeSet<&str> {
    vip.endpoints
        .iter()
        .filter(|e| keep(e))
        .filter_map(|e| e.node.as_deref())
        .collect()
}

fn restrict(eligible: &CandidateSet, hosts: &BTreeSet<&str>) -> CandidateSet {
    eligible
        .iter()
        .filter(|(name, _)| hosts.contains(name.as_str()))
        .map(|(n, i)| (n.clone(), i.clone()))
        .collect()
}

/// `": 2 not ready (a, b), 1 speaker not alive (c)"`; at most 5 names per cause.
fn summarize(rejected: &BTreeMap<Rejection, Vec<&str>>) -> String {
    let parts: Vec<String> = rejected
        .iter()
        .map(|(why, names)| {
            format!(
                "{} {} ({})",
                names.len(),
                why.describe(),
                list_or_none(names.iter().copied())
            )
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

/// Up to five names joined with ", " (then "…"), or "none".
pub fn list_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.len() {
        0 => "none".into(),
        n if n <= 5 => names.join(", "),
        n => format!(
            "{}, … ({} more)",
            names.iter().take(5).copied().collect::<Vec<_>>().join(", "),
            n - 5
        ),
    }
}
