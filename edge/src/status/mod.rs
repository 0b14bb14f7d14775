//! The edge's one write to the API: condition [`CONDITION_EDGE_SERVING`] on each edge
//! Service, saying how many of its nodes are healthy.
//!
//! The edge never writes `status.loadBalancer.ingress` (the controller does, from edge pools).
//! It applies only its condition, with server-side apply under field manager
//! [`MANAGER_EDGE`](ferrolb_core::names::MANAGER_EDGE) without `force`, so it never takes a
//! field from the controller; and only when the condition's content differs from what the
//! object shows (`lastTransitionTime` moves only when the status flips). A Service that stops
//! being an edge Service gets an empty apply, which drops the condition.
//! [`condition`] and [`body`] are pure; [`writer`] does the I/O.

pub mod writer;

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use serde_json::{Value, json};

use crate::frontends::{Candidate, Frontend, ServiceOutcome};

use ferrolb_core::names::{
    CONDITION_EDGE_SERVING, REASON_NO_CANDIDATE_NODES, REASON_NO_HEALTHY_NODES, REASON_NOT_SERVED,
    REASON_SERVING,
};

/// Node names listed in a message at most.
const MAX_LISTED: usize = 20;

/// The condition's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeCondition {
    /// `True`: some node receives new connections.
    pub status: bool,
    /// `Serving`, `NoHealthyNodes`, `NoCandidateNodes` or `NotServed`.
    pub reason: String,
    /// E.g. `2 of 3 nodes healthy: node-a, node-b`.
    pub message: String,
}

/// The condition of one edge Service, from its frontends and each candidate's health.
pub fn condition(
    outcome: &ServiceOutcome,
    frontends: &[&Frontend],
    healthy: impl Fn(&Frontend, &Candidate) -> bool,
) -> EdgeCondition {
    let suffix = if outcome.skipped.is_empty() {
        String::new()
    } else {
        format!("; not served: {}", outcome.skipped.join("; "))
    };
    if frontends.is_empty() {
        let why = if outcome.skipped.is_empty() {
            "nothing to serve".to_string()
        } else {
            outcome.skipped.join("; ")
        };
        return EdgeCondition {
            status: false,
            reason: REASON_NOT_SERVED.into(),
            message: why,
        };
    }
    let mut all = BTreeSet::new();
    let mut up = BTreeSet::new();
    for f in frontends {
        for c in &f.candidates {
            all.insert(c.node.as_str());
            if healthy(f, c) {
                up.insert(c.node.as_str());
            }
        }
    }
    let (status, reason, head) = if all.is_empty() {
        (
            false,
            REASON_NO_CANDIDATE_NODES,
            "no Ready node without node.kubernetes.io/exclude-from-external-load-balancers has an address of the frontend's family".to_string(),
        )
    } else if up.is_empty() {
        (
            false,
            REASON_NO_HEALTHY_NODES,
            format!("0 of {} nodes healthy", all.len()),
        )
    } else {
        (
            true,
            REASON_SERVING,
            format!("{} of {} nodes healthy: {}", up.len(), all.len(), list(&up)),
        )
    };
    EdgeCondition {
        status,
        reason: reason.into(),
        message: format!("{head}{suffix}"),
    }
}

fn list(names: &BTreeSet<&str>) -> String {
    let shown: Vec<&str> = names.iter().take(MAX_LISTED).copied().collect();
    let more = names.len().saturating_sub(MAX_LISTED);
    if more == 0 {
        shown.join(", ")
    } else {
        format!("{} and {more} more", shown.join(", "))
    }
}

/// The server-side-apply body that puts `want` on the Service, or `None` when the object
/// already shows it (same status, reason, message and observed generation).
pub fn body(outcome: &ServiceOutcome, want: &EdgeCondition, now: &Time) -> Option<Value> {
    let status = if want.status { "True" } else { "False" };
    let current = outcome.condition.as_ref();
    if let Some(c) = current
        && c.status == status
        && c.reason == want.reason
        && c.message == want.message
        && c.observed_generation == outcome.generation
    {
        return None;
    }
    let since = match current {
        Some(c) if c.status == status => &c.last_transition_time,
        _ => now,
    };
    let mut condition = json!({
        "type": CONDITION_EDGE_SERVING,
        "status": status,
        "reason": want.reason,
        "message": want.message,
        "lastTransitionTime": since,
    });
    if let Some(g) = outcome.generation {
        condition["observedGeneration"] = json!(g);
    }
    Some(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "status": { "conditions": [condition] },
    }))
}

/// The body that drops the edge's condition (an apply owning nothing).
pub fn release_body() -> Value {
    json!({ "apiVersion": "v1", "kind": "Service", "status": {} })
}

#[cfg(test)]
mod tests;
