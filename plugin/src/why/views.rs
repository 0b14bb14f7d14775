//! Step 4's second half: the speakers' own views (their `/debug/state`), compared with each
//! other. Two speakers answering for one address is a split brain; speakers electing different
//! winners see different live sets (a gossip partition); every speaker silent for a reason the
//! API cannot show (interfaces) names that reason.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::Snapshot;
use crate::speakers::answers::{SpeakerState, agreed, answering, lives};

/// What the speakers' views say about the addresses: evidence, and the fix when they show a
/// broken link.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What was seen.
    pub evidence: Vec<String>,
    /// The fix, when broken.
    pub fix: Option<String>,
}

fn set(v: &BTreeSet<String>) -> String {
    if v.is_empty() {
        "nobody".into()
    } else {
        v.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The live speakers every reachable speaker agrees on (their gossip), if they were read and
/// agree: fresher than the Pods' Ready conditions, which lag a restarted speaker by seconds.
pub fn agreed_live(snap: &Snapshot) -> Option<BTreeSet<String>> {
    agreed(&lives(&snap.speaker_states)).cloned()
}

/// Compares the reachable speakers' views of `ips`; `expected`: the winner computed from the
/// API's inputs, per address.
pub fn check(
    snap: &Snapshot,
    ips: &[IpAddr],
    expected: &BTreeMap<IpAddr, Option<String>>,
) -> Verdict {
    let mut out = Verdict::default();
    let states: BTreeMap<&String, &SpeakerState> = snap
        .speaker_states
        .iter()
        .filter_map(|(n, s)| s.as_ref().ok().map(|s| (n, s)))
        .collect();
    for (node, got) in &snap.speaker_states {
        if let Err(e) = got {
            out.evidence
                .push(format!("speaker on {node}: state not read: {e}"));
        }
    }
    if states.is_empty() {
        return out;
    }
    let lives = lives(&snap.speaker_states);
    let answering_all = answering(&snap.speaker_states);
    let agreed_live = agreed(&lives);
    let partition = agreed_live.is_none();
    match agreed_live {
        Some(live) => out
            .evidence
            .push(format!("every speaker sees alive: {}", set(live))),
        None => {
            for (n, live) in &lives {
                out.evidence
                    .push(format!("speaker on {n} sees alive: {}", set(live)));
            }
        }
    }
    for ip in ips {
        let answering: BTreeSet<String> = answering_all
            .get(ip)
            .into_iter()
            .flatten()
            .map(|n| (*n).to_string())
            .collect();
        let winners: BTreeMap<&String, Option<&str>> = states
            .iter()
            .map(|(n, s)| {
                let w = s
                    .desired
                    .election
                    .per_ip
                    .get(ip)
                    .and_then(|d| d.winner.as_deref());
                (*n, w)
            })
            .collect();
        let distinct_winners: BTreeSet<Option<&str>> = winners.values().copied().collect();
        if answering.len() > 1 {
            out.evidence
                .push(format!("{ip}: answered by {} at once", set(&answering)));
            out.fix.get_or_insert_with(|| format!(
                "split brain: {} all answer for {ip} because their speakers do not see each other ({}); restore gossip between the nodes (UDP port 7946, firewalls, the gossip keys Secret), then one answers",
                set(&answering),
                if partition { "their live sets differ, see above" } else { "their election views differ" }
            ));
            continue;
        }
        if distinct_winners.len() > 1 {
            let each: Vec<String> = winners
                .iter()
                .map(|(n, w)| format!("{n} elects {}", w.unwrap_or("nobody")))
                .collect();
            out.evidence
                .push(format!("{ip}: the speakers disagree: {}", each.join(", ")));
            out.fix.get_or_insert_with(|| format!(
                "the speakers disagree on who answers for {ip}: they see different live speakers (a gossip partition) or different inputs; restore gossip between the nodes (UDP port 7946) and check each speaker's failing watches in /debug/state"
            ));
            continue;
        }
        let decision = states
            .values()
            .find_map(|s| s.desired.election.per_ip.get(ip));
        match decision {
            Some(d) if d.winner.is_none() => {
                out.evidence
                    .push(format!("{ip}: every speaker is silent: {}", d.reason));
                if expected.get(ip).is_some_and(Option::is_some) {
                    out.fix
                        .get_or_insert_with(|| silent_fix(snap, *ip, &d.reason));
                }
            }
            Some(d) => out.evidence.push(format!(
                "{ip}: every speaker elects {} (on {})",
                d.winner.as_deref().unwrap_or_default(),
                d.interfaces.join(",")
            )),
            None => out
                .evidence
                .push(format!("{ip}: not in the speakers' election")),
        }
    }
    out
}

/// The fix for an address every speaker keeps silent although the API's inputs elect a node.
fn silent_fix(snap: &Snapshot, ip: IpAddr, reason: &str) -> String {
    if reason.contains("interface") {
        let seen: Vec<String> = snap
            .speaker_states
            .values()
            .filter_map(|s| s.as_ref().ok())
            .take(1)
            .flat_map(|s| {
                s.observed
                    .gossip
                    .nodes
                    .iter()
                    .map(|(n, m)| format!("{n}: {}", m.interfaces.join(",")))
            })
            .collect();
        return format!(
            "no interface the covering L2AnnouncementPolicies select can carry {ip} on the eligible nodes ({reason}): correct spec.interfaces (globs) to name the nodes' LAN interfaces; interfaces seen: {}",
            seen.join("; ")
        );
    }
    format!("every speaker keeps {ip} silent: {reason}")
}
