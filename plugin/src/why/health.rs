//! Step 7, health: for `externalTrafficPolicy: Local`, each node's healthCheckNodePort answer
//! (what a load balancer probing the nodes sees) against its local endpoints: 200 and their
//! count where it has ready ones, 503 where it has none (kube-proxy's contract, served by
//! kube-proxy or by the speaker). Edge Services: the edge's view of the nodes, as its
//! `ferrolb.io/EdgeServing` condition says ([`edge`]).

use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::service::{self, ServiceView};
use ferrolb_api::names::ANN_ALLOCATED_FROM;
use ferrolb_core::TrafficPolicy;
use ferrolb_core::names::{
    CONDITION_EDGE_SERVING, REASON_NO_CANDIDATE_NODES, REASON_NO_HEALTHY_NODES,
};
use ferrolb_speaker::nodestate::endpoints::{by_service, local_ready};
use kube::ResourceExt;

use super::{STEP_HEALTH, Snapshot, Step, WireFacts};

/// For a Service the edge serves (allocated from an edge pool): the edge's view of the nodes,
/// from the condition it keeps on the Service; `None` for the others.
pub fn edge(snap: &Snapshot) -> Option<Step> {
    let pool = snap.service.annotations().get(ANN_ALLOCATED_FROM)?;
    if !Pools::new(&snap.pools).is_edge(pool) {
        return None;
    }
    let condition = snap
        .service
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_EDGE_SERVING));
    Some(match condition {
        None => Step::failed(
            STEP_HEALTH,
            vec![format!(
                "no {CONDITION_EDGE_SERVING} condition: the edge has not judged the nodes"
            )],
            "the edge writes this condition once it probes the nodes' health: check that the edge (ferrolb-edge) runs and reaches the apiserver",
        ),
        Some(c) => {
            let seen = format!(
                "edge: {CONDITION_EDGE_SERVING}={} reason {}: {}",
                c.status, c.reason, c.message
            );
            if c.status == "True" {
                Step::passed(STEP_HEALTH, vec![seen])
            } else {
                let fix = match c.reason.as_str() {
                    REASON_NO_HEALTHY_NODES => {
                        "no candidate node passes the edge's health probe: see the nodes' healthCheckNodePort (or /healthz on 10256) answers and their local endpoints"
                    }
                    REASON_NO_CANDIDATE_NODES => {
                        "no node can receive the edge's traffic: check the Nodes (Ready, not excluded) and the Service's nodePorts"
                    }
                    _ => "the edge cannot serve the Service's frontends: its message says why",
                };
                Step::failed(STEP_HEALTH, vec![seen], fix)
            }
        }
    })
}

/// The Service's healthCheckNodePort, when it has one.
pub fn node_port(snap: &Snapshot) -> Option<u16> {
    let view = ServiceView::of(&snap.service);
    if view.external_traffic_policy != TrafficPolicy::Local {
        return None;
    }
    snap.service
        .spec
        .as_ref()?
        .health_check_node_port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
}

/// Runs step 7.
pub fn check(snap: &Snapshot, wire: &WireFacts) -> Step {
    let Some(port) = node_port(snap) else {
        return Step::skipped(
            STEP_HEALTH,
            vec!["externalTrafficPolicy Cluster: no healthCheckNodePort to check".into()],
        );
    };
    let endpoints = by_service(&snap.slices)
        .remove(&service::key(&snap.service))
        .unwrap_or_default();
    let mut ev = Vec::new();
    let mut fix: Option<String> = None;
    for node in &snap.nodes {
        let name = node.name_any();
        let Some(got) = wire.health.get(&name) else {
            continue;
        };
        let want = local_ready(&endpoints, &name);
        let want_status = if want > 0 { 200 } else { 503 };
        match got {
            Err(e) => {
                ev.push(format!("{name}:{port}: no answer: {e}"));
                fix.get_or_insert_with(|| format!(
                    "{name} does not answer healthCheckNodePort {port}: whoever programs its rules (kube-proxy, or ferrolb's speaker without it) should listen there; check it on {name}"
                ));
            }
            Ok(a) if a.status == want_status && a.local_endpoints == want => {
                ev.push(format!(
                    "{name}:{port}: {} localEndpoints={}, as its endpoints say",
                    a.status, a.local_endpoints
                ));
            }
            Ok(a) => {
                ev.push(format!(
                    "{name}:{port}: {} localEndpoints={}, but it has {want} ready local endpoint(s) (expected {want_status})",
                    a.status, a.local_endpoints
                ));
                fix.get_or_insert_with(|| format!(
                    "{name}'s health answer disagrees with its endpoints: load balancers will send traffic wrongly; check kube-proxy or ferrolb's speaker on {name} (logs; the speaker's /debug/state desired.health)"
                ));
            }
        }
    }
    if ev.is_empty() {
        return Step::unchecked(STEP_HEALTH, vec!["no node's answer was read".into()]);
    }
    match fix {
        Some(f) => Step::failed(STEP_HEALTH, ev, f),
        None => Step::passed(STEP_HEALTH, ev),
    }
}
