//! `kubectl ferrolb why`: why a Service is (not) served, as a pure function of a [`Snapshot`].
//!
//! [`diagnose`] walks the chain in order and stops at the first broken link (later steps are
//! [`Outcome::Skipped`]); each step reuses the code the components run: the controller's pool
//! view ([`ferrolb_controller::inputs::ipam_request::pool`]), the annotations it reads
//! ([`ferrolb_adapter::requested`]), and the speakers' election
//! ([`ferrolb_speaker::election::elect`]). Steps checked now:
//! 1. [`allocation`]: ownership and allocation; 2. [`external`]: externalIPs;
//! 3. [`endpoints`]; 4. [`election`]; 8. [`history`] (informational, never fails).
//!
//! Wire, data path and health (steps 5–7) need the speakers and are not checked yet.
//!
//! [`fetch`] is the I/O shell.

pub mod allocation;
pub mod election;
pub mod endpoints;
pub mod external;
pub mod fetch;
pub mod history;
pub mod render;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrolb_api::{L2AnnouncementPolicy, ServiceAnnouncement, VIPPool};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Serialize;

/// Everything `why` reads about one Service, as the API returned it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The Service.
    pub service: Service,
    /// Labels of the Service's namespace (pools' and policies' namespace selectors).
    pub namespace_labels: BTreeMap<String, String>,
    /// The Service's EndpointSlices.
    pub slices: Vec<Arc<EndpointSlice>>,
    /// Every VIPPool.
    pub pools: Vec<Arc<VIPPool>>,
    /// Every L2AnnouncementPolicy.
    pub l2: Vec<Arc<L2AnnouncementPolicy>>,
    /// Every Node.
    pub nodes: Vec<Arc<Node>>,
    /// The Service's ServiceAnnouncement, if any.
    pub announcement: Option<ServiceAnnouncement>,
    /// The controller's leader-election Lease, if found.
    pub lease: Option<Lease>,
    /// The Service's Events.
    pub events: Vec<Event>,
    /// The speakers' Pods.
    pub speakers: Vec<Pod>,
}

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The link holds.
    Passed,
    /// The link is broken: the Service is not served.
    Failed,
    /// Not checked (an earlier step failed, or nothing to check); the evidence says why.
    Skipped,
}

/// One step of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// What the step checks.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What was seen.
    pub evidence: Vec<String>,
    /// What to do, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Step {
    fn new(name: &str, outcome: Outcome, evidence: Vec<String>, fix: Option<String>) -> Step {
        Step {
            name: name.to_string(),
            outcome,
            evidence,
            fix,
        }
    }

    pub(crate) fn passed(name: &str, evidence: Vec<String>) -> Step {
        Step::new(name, Outcome::Passed, evidence, None)
    }

    pub(crate) fn failed(name: &str, evidence: Vec<String>, fix: impl Into<String>) -> Step {
        Step::new(name, Outcome::Failed, evidence, Some(fix.into()))
    }

    pub(crate) fn skipped(name: &str, evidence: Vec<String>) -> Step {
        Step::new(name, Outcome::Skipped, evidence, None)
    }
}

/// The diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The Service, `namespace/name`.
    pub service: String,
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// No step failed and some node is expected to answer for an address.
    pub served: bool,
}

/// Step names, in order.
pub const STEP_ALLOCATION: &str = "ownership and allocation";
/// Step 2.
pub const STEP_EXTERNAL_IPS: &str = "externalIPs";
/// Step 3.
pub const STEP_ENDPOINTS: &str = "endpoints";
/// Step 4.
pub const STEP_ELECTION: &str = "election";
/// Step 8.
pub const STEP_HISTORY: &str = "history";

/// Diagnoses `snap` at `now` (the Lease's freshness is judged against it).
pub fn diagnose(snap: &Snapshot, now: jiff::Timestamp) -> Report {
    let service = ferrolb_adapter::service::key(&snap.service).to_string();
    let checks: [(&str, &dyn Fn() -> Step); 4] = [
        (STEP_ALLOCATION, &|| allocation::check(snap, now)),
        (STEP_EXTERNAL_IPS, &|| external::check(snap)),
        (STEP_ENDPOINTS, &|| endpoints::check(snap)),
        (STEP_ELECTION, &|| election::check(snap)),
    ];
    let mut steps = Vec::new();
    let mut broken: Option<&str> = None;
    for (name, check) in checks {
        let step = match broken {
            Some(earlier) => Step::skipped(name, vec![format!("not checked: {earlier} failed")]),
            None => check(),
        };
        if step.outcome == Outcome::Failed && broken.is_none() {
            broken = Some(name);
        }
        steps.push(step);
    }
    let election_announces = steps
        .iter()
        .any(|s| s.name == STEP_ELECTION && s.outcome == Outcome::Passed);
    steps.push(history::check(snap));
    Report {
        service,
        served: broken.is_none() && election_announces,
        steps,
    }
}
