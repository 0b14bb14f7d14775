//! Step 3, endpoints: ready, serving and terminating endpoints per node, and for
//! `externalTrafficPolicy: Local` the nodes that have one.

use std::collections::BTreeMap;

use ferrolb_adapter::service::{self, ServiceView};
use ferrolb_core::TrafficPolicy;
use ferrolb_speaker::nodestate::endpoints::by_service;

use super::{STEP_ENDPOINTS, Snapshot, Step};

/// Per node: ready, serving-terminating, other terminating.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ready: usize,
    serving_terminating: usize,
    terminating: usize,
}

/// Runs step 3.
pub fn check(snap: &Snapshot) -> Step {
    let key = service::key(&snap.service);
    let etp = ServiceView::of(&snap.service).external_traffic_policy;
    let all = by_service(&snap.slices);
    let eps = all.get(&key).cloned().unwrap_or_default();
    // Counted per family, the larger kept: a dual-stack Pod is in both families' slices but is
    // one endpoint (as kube-proxy's per-family proxiers count).
    let mut per_family: BTreeMap<(String, bool), Counts> = BTreeMap::new();
    for e in &eps {
        let node = e.node.clone().unwrap_or_else(|| "(no node)".into());
        let c = per_family.entry((node, e.ip.is_ipv4())).or_default();
        if e.ready && !e.terminating {
            c.ready += 1;
        } else if e.terminating && e.serving {
            c.serving_terminating += 1;
        } else if e.terminating {
            c.terminating += 1;
        }
    }
    let mut per_node: BTreeMap<String, Counts> = BTreeMap::new();
    for ((node, _), c) in per_family {
        let n = per_node.entry(node).or_default();
        n.ready = n.ready.max(c.ready);
        n.serving_terminating = n.serving_terminating.max(c.serving_terminating);
        n.terminating = n.terminating.max(c.terminating);
    }
    let mut ev: Vec<String> = per_node
        .iter()
        .map(|(n, c)| {
            format!(
                "{n}: {} ready, {} serving-terminating, {} terminating",
                c.ready, c.serving_terminating, c.terminating
            )
        })
        .collect();
    if eps.is_empty() {
        ev.push("no endpoints in the Service's EndpointSlices".into());
    }
    let ready: Vec<&String> = per_node
        .iter()
        .filter(|(_, c)| c.ready > 0)
        .map(|(n, _)| n)
        .collect();
    let serving: Vec<&String> = per_node
        .iter()
        .filter(|(_, c)| c.serving_terminating > 0)
        .map(|(n, _)| n)
        .collect();
    let local = etp == TrafficPolicy::Local;
    if local {
        ev.push(format!(
            "externalTrafficPolicy Local: nodes with a ready endpoint: {}",
            if ready.is_empty() {
                "none".to_string()
            } else {
                join(&ready)
            }
        ));
    }
    if ready.is_empty() && serving.is_empty() {
        let fix = if local {
            "eTP=Local with no ready endpoint: no node may announce; fix the Pods behind the Service's selector (kubectl get pods -l ..., readiness probes) or scale the workload up"
        } else {
            "no ready endpoint: fix the Pods behind the Service's selector (readiness probes, selector labels) or scale the workload up"
        };
        return Step::failed(STEP_ENDPOINTS, ev, fix);
    }
    if ready.is_empty() {
        ev.push(format!("only serving-terminating endpoints (on {}): the terminating fallback serves until they end", join(&serving)));
    }
    Step::passed(STEP_ENDPOINTS, ev)
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}
