//! Step 6, data path: on each announcing node, the kernel's rules for each address and port
//! (ferrolb's table where the speaker programs one, kube-proxy's otherwise) send traffic to
//! exactly the endpoints the EndpointSlices give, as the speakers' own selection computes them
//! ([`ferrolb_speaker::ruleset::backends`]: ready ones, else serving-terminating; only the
//! node's own for `externalTrafficPolicy: Local`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use ferrolb_adapter::service::{self, ServiceView};
use ferrolb_core::{IpFamily, TrafficPolicy};
use ferrolb_speaker::nodestate::endpoints::by_service;
use ferrolb_speaker::nodestate::rules::port as port_input;
use ferrolb_speaker::ruleset::backends;

use super::{STEP_DATA_PATH, Snapshot, Step, WireFacts};
use crate::speakers::answers::{RulesAnswer, TableRules};

/// Runs step 6; `expected`: each address's announcer per the election.
pub fn check(snap: &Snapshot, wire: &WireFacts, expected: &BTreeMap<IpAddr, String>) -> Step {
    if expected.is_empty() {
        return Step::skipped(STEP_DATA_PATH, vec!["no address is announced".into()]);
    }
    let view = ServiceView::of(&snap.service);
    let local = view.external_traffic_policy == TrafficPolicy::Local;
    let endpoints = by_service(&snap.slices)
        .remove(&service::key(&snap.service))
        .unwrap_or_default();
    let mut ev = Vec::new();
    let mut fix: Option<String> = None;
    let mut unchecked = false;
    for (ip, node) in expected {
        let Some(got) = wire.rules.get(&(node.clone(), *ip)) else {
            ev.push(format!(
                "{ip}: rules on {node} not read (no ready speaker there)"
            ));
            unchecked = true;
            continue;
        };
        let answer = match got {
            Ok(a) => a,
            Err(e) => {
                ev.push(format!("{ip}: reading the rules on {node} failed: {e}"));
                match wire.proxy_health.get(node) {
                    Some(Ok(200)) | None => unchecked = true,
                    Some(answer) => {
                        let seen = match answer {
                            Ok(status) => format!("answers HTTP {status}"),
                            Err(e) => format!("does not answer ({e})"),
                        };
                        ev.push(format!(
                            "{node}: proxy health /healthz on port 10256 {seen}"
                        ));
                        fix.get_or_insert_with(|| proxy_down(snap, node, &seen));
                    }
                }
                continue;
            }
        };
        let programs_ferrolb = snap
            .speaker_states
            .get(node)
            .and_then(|s| s.as_ref().ok())
            .map(|s| s.observed.dataplane.enabled);
        let (owner, table) = pick(answer, programs_ferrolb);
        if !table.present {
            let f = match owner {
                Owner::Ferrolb => format!(
                    "table {} is missing on {node}: its speaker rewrites it within seconds when running; check the speaker on {node} (logs, /debug/state observed.rules)",
                    table.table
                ),
                Owner::KubeProxy => format!(
                    "kube-proxy's table {} is missing on {node}: is kube-proxy running there? (its /healthz on port 10256, its logs)",
                    table.table
                ),
            };
            ev.push(format!("{ip}: no table {} on {node}", table.table));
            fix.get_or_insert(f);
            continue;
        }
        for p in &view.ports {
            let want: BTreeSet<String> = backends(
                &endpoints,
                &port_input(p, false),
                IpFamily::of(*ip),
                node,
                local,
            )
            .into_iter()
            .map(|b| SocketAddr::new(b.ip, b.port).to_string())
            .collect();
            let proto = p.protocol.to_string();
            let have: Option<BTreeSet<String>> = table
                .ports
                .iter()
                .find(|r| r.port == p.port && r.protocol.eq_ignore_ascii_case(&proto))
                .map(|r| r.endpoints.iter().cloned().collect());
            let at = format!("{ip} {proto}/{} on {node} ({})", p.port, table.table);
            match have {
                None => {
                    ev.push(format!("{at}: no rule"));
                    fix.get_or_insert_with(|| missing_rule(owner, node, &at));
                }
                Some(have) if have == want => {
                    ev.push(format!("{at} → {}", list(&have)));
                }
                Some(have) => {
                    ev.push(format!(
                        "{at} → {}, but the EndpointSlices give {}",
                        list(&have),
                        list(&want)
                    ));
                    fix.get_or_insert_with(|| lagging(owner, node));
                }
            }
        }
    }
    match fix {
        Some(f) => Step::failed(STEP_DATA_PATH, ev, f),
        None if unchecked => Step::unchecked(STEP_DATA_PATH, ev),
        None => Step::passed(STEP_DATA_PATH, ev),
    }
}

/// Who programs the address on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Ferrolb,
    KubeProxy,
}

/// The table that serves the address: ferrolb's where its speaker programs one (or, when the
/// speaker's decision is unknown, where ferrolb's table exists), else kube-proxy's.
fn pick(answer: &RulesAnswer, programs_ferrolb: Option<bool>) -> (Owner, &TableRules) {
    let ferrolb = programs_ferrolb.unwrap_or(answer.ferrolb.present && !answer.kube_proxy.present);
    if ferrolb {
        (Owner::Ferrolb, &answer.ferrolb)
    } else {
        (Owner::KubeProxy, &answer.kube_proxy)
    }
}

/// The fix when the node's proxy health fails: who programs its rules is down. Beside
/// kube-proxy that is kube-proxy (and the speaker there cannot reach the apiserver either:
/// the `kubernetes` Service's address needs kube-proxy's rules too).
fn proxy_down(snap: &Snapshot, node: &str, seen: &str) -> String {
    let speakers_program = snap
        .speaker_states
        .values()
        .filter_map(|s| s.as_ref().ok())
        .any(|s| s.observed.dataplane.enabled);
    if speakers_program {
        format!(
            "ferrolb's speaker on {node} is not healthy (its /healthz on port 10256 {seen}): nothing keeps the Service's rules there; check the speaker Pod on {node} and its logs"
        )
    } else {
        format!(
            "kube-proxy on {node} is down (its /healthz on port 10256 {seen}): nothing programs the Service's rules there; start kube-proxy on {node} (its Pod, its logs)"
        )
    }
}

fn missing_rule(owner: Owner, node: &str, at: &str) -> String {
    match owner {
        Owner::Ferrolb => format!(
            "{at} has no rule: the speaker on {node} has not programmed it; check its /debug/state (desired.rules, observed.rules) and logs"
        ),
        Owner::KubeProxy => format!(
            "{at} has no rule: kube-proxy on {node} has not programmed the address; check that kube-proxy runs there and its logs"
        ),
    }
}

fn lagging(owner: Owner, node: &str) -> String {
    match owner {
        Owner::Ferrolb => format!(
            "the rules on {node} lag the EndpointSlices: the speaker there should rewrite them within a second; check its logs and /debug/state observed.rules"
        ),
        Owner::KubeProxy => format!(
            "kube-proxy's rules on {node} lag the EndpointSlices: check kube-proxy there (its /healthz on port 10256, its logs)"
        ),
    }
}

fn list(v: &BTreeSet<String>) -> String {
    if v.is_empty() {
        "no endpoint".into()
    } else {
        v.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
