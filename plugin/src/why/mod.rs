//! `kubectl ferrolb why`: why a Service is (not) served, as a pure function of a [`Snapshot`].
//!
//! [`diagnose`] walks the chain in order and stops at the first broken link (later steps are
//! [`Outcome::Skipped`]); each step reuses the code the components run: the controller's pool
//! view ([`ferrolb_controller::inputs::ipam_request::pool`]), the annotations it reads
//! ([`ferrolb_adapter::requested`]), and the speakers' election
//! ([`ferrolb_speaker::election::elect`]). Steps checked now:
//! 1. ownership and allocation ([`allocation`]);
//! 2. externalIPs ([`external`]);
//! 3. endpoints ([`endpoints`]);
//! 4. election, with the speakers' own views ([`election`], [`views`]);
//! 5. who answers ARP/NDP on the LAN ([`wire`]);
//! 6. the kernel's rules on the announcer ([`datapath`]);
//! 7. the healthCheckNodePort answers ([`health`]);
//! 8. history, informational, never fails ([`history`]).
//!
//! [`fetch`] is the I/O shell: it reads the API and the speakers' states, diagnoses, and only
//! when steps 1–4 hold asks the speakers for the facts of steps 5–7 ([`Targets`]), then
//! diagnoses again.

pub mod allocation;
pub mod datapath;
pub mod election;
pub mod endpoints;
pub mod external;
pub mod fetch;
pub mod health;
pub mod history;
pub mod render;
pub mod views;
pub mod wire;

#[cfg(test)]
mod speaker_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferrolb_adapter::slice::NodeSlice;
use ferrolb_api::{L2AnnouncementPolicy, ServiceAnnouncement, VIPPool};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use serde::Serialize;

use crate::speakers::answers::{Fetched, HealthAnswer, ProbeAnswer, RulesAnswer, SpeakerState};
use ferrolb_speaker::daemon::KUBE_PROXY_HEALTHZ_PORT;

/// Everything `why` reads about one Service, as the API returned it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The Service.
    pub service: Service,
    /// Labels of the Service's namespace (pools' and policies' namespace selectors).
    pub namespace_labels: BTreeMap<String, String>,
    /// The Service's EndpointSlices.
    pub slices: Vec<Arc<NodeSlice>>,
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
    /// Each speaker's `/debug/state`, by node (empty when the speakers were not asked).
    pub speaker_states: BTreeMap<String, Fetched<SpeakerState>>,
    /// Why the speakers were not asked (no token), if so.
    pub speakers_unreachable: Option<String>,
    /// The facts of steps 5–7; `None`: not fetched (an earlier step failed, or no token).
    pub wire: Option<WireFacts>,
    /// Whether the apiserver reaches ferrolb's webhook (a dry-run create it must refuse, as
    /// the controller checks); `None`: not asked.
    pub webhook: Option<Result<(), String>>,
}

/// What the speakers and the nodes answered for steps 5–7.
#[derive(Debug, Clone, Default)]
pub struct WireFacts {
    /// Per address, per probing node: its `/debug/probe`.
    pub probes: BTreeMap<IpAddr, BTreeMap<String, Fetched<ProbeAnswer>>>,
    /// Per (announcing node, address): its `/debug/rules`.
    pub rules: BTreeMap<(String, IpAddr), Fetched<RulesAnswer>>,
    /// Per node: its healthCheckNodePort's answer.
    pub health: BTreeMap<String, Fetched<HealthAnswer>>,
    /// Per announcing node: its proxy health (`/healthz` on port 10256, kube-proxy's or the
    /// speaker's where it programs the rules): the HTTP status.
    pub proxy_health: BTreeMap<String, Fetched<u16>>,
}

/// What to ask for steps 5–7: computed from the snapshot (pure), fetched by [`fetch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// (address, probing node, its speaker's private address).
    pub probes: Vec<(IpAddr, String, SocketAddr)>,
    /// (announcing node, address, its speaker's private address).
    pub rules: Vec<(String, IpAddr, SocketAddr)>,
    /// (node, its healthCheckNodePort's address).
    pub health: Vec<(String, SocketAddr)>,
    /// (announcing node, its proxy health's address).
    pub proxy_health: Vec<(String, SocketAddr)>,
}

/// How many peers besides the announcer probe each address.
pub const PEER_PROBES: usize = 2;

/// Each announced LoadBalancer address's announcer, as the ServiceAnnouncement says.
pub fn announcers(snap: &Snapshot) -> BTreeMap<IpAddr, String> {
    let ingress: Vec<IpAddr> = ferrolb_adapter::ingress::ingress_ip_list(&snap.service);
    snap.announcement
        .as_ref()
        .and_then(|a| a.status.as_ref())
        .map(|s| {
            s.announcements
                .iter()
                .filter_map(|a| Some((a.ip.parse::<IpAddr>().ok()?, a.node.clone())))
                .filter(|(ip, _)| ingress.contains(ip))
                .collect()
        })
        .unwrap_or_default()
}

/// What to ask: each address probed from its announcer and up to [`PEER_PROBES`] other
/// speakers; the announcer's rules; every Node's healthCheckNodePort (eTP=Local), at its
/// InternalIP of the first address's family.
pub fn targets(snap: &Snapshot) -> Targets {
    // Every speaker with an address is asked (a restarted one answers before its Pod is
    // Ready); peers are taken from the Ready ones.
    let speakers: BTreeMap<&str, SocketAddr> = snap
        .speakers
        .iter()
        .filter_map(|p| Some((crate::speakers::node(p)?, crate::speakers::private_addr(p)?)))
        .collect();
    let ready: std::collections::BTreeSet<&str> = snap
        .speakers
        .iter()
        .filter(|p| crate::speakers::ready(p))
        .filter_map(crate::speakers::node)
        .collect();
    let mut t = Targets::default();
    let announced = announcers(snap);
    for (ip, node) in &announced {
        let Some(addr) = speakers.get(node.as_str()) else {
            continue;
        };
        t.probes.push((*ip, node.clone(), *addr));
        t.rules.push((node.clone(), *ip, *addr));
        let healthz = SocketAddr::new(addr.ip(), KUBE_PROXY_HEALTHZ_PORT);
        if !t.proxy_health.contains(&(node.clone(), healthz)) {
            t.proxy_health.push((node.clone(), healthz));
        }
        for (peer, peer_addr) in speakers
            .iter()
            .filter(|(n, _)| *n != node && ready.contains(*n))
            .take(PEER_PROBES)
        {
            t.probes.push((*ip, (*peer).to_string(), *peer_addr));
        }
    }
    if let Some(port) = health::node_port(snap) {
        let v6 = announced.keys().next().is_some_and(IpAddr::is_ipv6);
        for node in &snap.nodes {
            let ip = node
                .status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .into_iter()
                .flatten()
                .filter(|a| a.type_ == "InternalIP")
                .filter_map(|a| a.address.parse::<IpAddr>().ok())
                .find(|ip| ip.is_ipv6() == v6);
            if let Some(ip) = ip {
                t.health.push((
                    kube::ResourceExt::name_any(node.as_ref()),
                    SocketAddr::new(ip, port),
                ));
            }
        }
    }
    t
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
    /// Could not be checked (a speaker could not be asked); the evidence says why. Never a
    /// pass: the verdict names it.
    Unchecked,
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

    pub(crate) fn unchecked(name: &str, evidence: Vec<String>) -> Step {
        Step::new(name, Outcome::Unchecked, evidence, None)
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
    /// The steps that could not be checked.
    pub unchecked: Vec<String>,
}

/// Step names, in order.
pub const STEP_ALLOCATION: &str = "ownership and allocation";
/// Step 2.
pub const STEP_EXTERNAL_IPS: &str = "externalIPs";
/// Step 3.
pub const STEP_ENDPOINTS: &str = "endpoints";
/// Step 4.
pub const STEP_ELECTION: &str = "election";
/// Step 5.
pub const STEP_WIRE: &str = "wire (ARP/NDP)";
/// Step 6.
pub const STEP_DATA_PATH: &str = "data path";
/// Step 7.
pub const STEP_HEALTH: &str = "health checks";
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
    let expected = announcers(snap);
    type WireCheck<'a> = &'a dyn Fn(&WireFacts) -> Step;
    let later: [(&str, WireCheck); 3] = [
        (STEP_WIRE, &|w| wire::check(w, &expected)),
        (STEP_DATA_PATH, &|w| datapath::check(snap, w, &expected)),
        (STEP_HEALTH, &|w| health::check(snap, w)),
    ];
    let edge = health::edge(snap);
    for (name, check) in later {
        let step = match (broken, &snap.wire, &edge) {
            (Some(earlier), _, _) => {
                Step::skipped(name, vec![format!("not checked: {earlier} failed")])
            }
            // The edge's condition needs no speaker.
            (None, _, Some(edge_step)) if name == STEP_HEALTH => edge_step.clone(),
            (None, None, _) => Step::unchecked(
                name,
                vec![format!(
                    "not checked: {}",
                    snap.speakers_unreachable
                        .as_deref()
                        .unwrap_or("the speakers were not asked")
                )],
            ),
            (None, Some(w), _) => check(w),
        };
        if step.outcome == Outcome::Failed && broken.is_none() {
            broken = Some(name);
        }
        steps.push(step);
    }
    steps.push(history::check(snap));
    let edge_serves = edge.is_some_and(|e| e.outcome == Outcome::Passed);
    Report {
        service,
        served: broken.is_none() && (election_announces || edge_serves),
        unchecked: steps
            .iter()
            .filter(|s| s.outcome == Outcome::Unchecked)
            .map(|s| s.name.clone())
            .collect(),
        steps,
    }
}

/// Whether steps 1–4 of `report` hold (then [`fetch`] asks for steps 5–7's facts).
pub fn first_steps_hold(report: &Report) -> bool {
    report
        .steps
        .iter()
        .take_while(|s| s.name != STEP_WIRE)
        .all(|s| s.outcome != Outcome::Failed)
}
