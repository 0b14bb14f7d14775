//! Step 5, wire: who answers ARP/NDP for each address on the LAN. The announcer and up to two
//! peers each sent one ARP request / Neighbor Solicitation and report every answer (a node
//! never sees its own, so the announcer's claim counts for itself); each MAC is named by the
//! probing nodes' own MACs. None, a wrong node, a stranger or two nodes (split brain) fail.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::{STEP_WIRE, Step, WireFacts};
use crate::speakers::answers::ProbeAnswer;

/// Who answered one address.
#[derive(Debug, Default)]
struct Heard {
    /// Nodes that answer (claimed or seen).
    nodes: BTreeSet<String>,
    /// MACs seen that belong to no probing node, with how often.
    strangers: BTreeMap<String, usize>,
    /// Every answer counted, per probing node.
    counts: Vec<String>,
}

fn heard(probes: &BTreeMap<String, ProbeAnswer>) -> Heard {
    let owner: BTreeMap<String, &str> = probes
        .values()
        .flat_map(|p| {
            p.interfaces
                .iter()
                .map(move |i| (i.mac.to_ascii_lowercase(), p.node.as_str()))
        })
        .collect();
    let mut h = Heard::default();
    for p in probes.values() {
        if p.announced {
            h.nodes.insert(p.node.clone());
        }
        let mut per_mac: BTreeMap<String, usize> = BTreeMap::new();
        for a in &p.answers {
            *per_mac.entry(a.mac.to_ascii_lowercase()).or_default() += 1;
        }
        let seen: Vec<String> = per_mac
            .iter()
            .map(|(mac, n)| {
                let who = owner.get(mac).copied().unwrap_or("unknown host");
                format!("{mac} ({who}) ×{n}")
            })
            .collect();
        for (mac, n) in per_mac {
            match owner.get(&mac) {
                Some(node) => {
                    h.nodes.insert((*node).to_string());
                }
                None => *h.strangers.entry(mac).or_default() += n,
            }
        }
        h.counts.push(format!(
            "from {}{}: {}",
            p.node,
            if p.announced {
                " (announces it; a node never hears its own answers)"
            } else {
                ""
            },
            if seen.is_empty() {
                "no answer".to_string()
            } else {
                seen.join(", ")
            }
        ));
    }
    h
}

/// Runs step 5 on the fetched probes; `expected`: each address's announcer per the election.
pub fn check(wire: &WireFacts, expected: &BTreeMap<IpAddr, String>) -> Step {
    if expected.is_empty() {
        return Step::skipped(STEP_WIRE, vec!["no address is announced".into()]);
    }
    let mut ev = Vec::new();
    let mut fix: Option<String> = None;
    let mut unchecked = false;
    for (ip, winner) in expected {
        let Some(per_node) = wire.probes.get(ip) else {
            ev.push(format!("{ip}: not probed (no ready speaker on {winner})"));
            unchecked = true;
            continue;
        };
        let mut ok: BTreeMap<String, ProbeAnswer> = BTreeMap::new();
        let mut not_asked: Vec<&str> = Vec::new();
        for (node, got) in per_node {
            match got {
                Ok(p) => {
                    ok.insert(node.clone(), p.clone());
                }
                Err(e) => {
                    ev.push(format!("{ip}: probe from {node} failed: {e}"));
                    not_asked.push(node);
                }
            }
        }
        if ok.is_empty() {
            ev.push(format!("{ip}: no speaker could probe it"));
            unchecked = true;
            continue;
        }
        let h = heard(&ok);
        ev.extend(h.counts.iter().map(|c| format!("{ip}: {c}")));
        let peers_saw_winner = ok
            .values()
            .filter(|p| &p.node != winner)
            .any(|p| !p.answers.is_empty());
        let verdict = if !h.strangers.is_empty() && !not_asked.is_empty() {
            // A node whose speaker could not be asked has MACs nobody listed: an unknown MAC
            // may be its own, so nothing is concluded about this address.
            let macs: Vec<&str> = h.strangers.keys().map(String::as_str).collect();
            ev.push(format!(
                "{ip}: answered by {}, which no probing node owns; {} could not be asked, so it may be theirs",
                macs.join(", "),
                not_asked.join(", ")
            ));
            unchecked = true;
            Ok(())
        } else if !h.strangers.is_empty() {
            let macs: Vec<&str> = h.strangers.keys().map(String::as_str).collect();
            Err(format!(
                "{ip} is answered by {} that no speaker owns: another host uses the address; find it by MAC ({}) and remove the address from it, or take it out of the pool",
                if macs.len() == 1 { "a MAC" } else { "MACs" },
                macs.join(", ")
            ))
        } else if h.nodes.len() > 1 {
            let nodes: Vec<&str> = h.nodes.iter().map(String::as_str).collect();
            Err(format!(
                "split brain: {} all answer for {ip}: the speakers do not see each other (gossip partition, UDP port 7946 between the nodes, or different gossip keys); restore that path, then one answers",
                nodes.join(" and ")
            ))
        } else if h.nodes.is_empty() {
            Err(format!(
                "nobody answers ARP/NDP for {ip}, though {winner} should: check the speaker on {winner} (its logs, /debug/state `announce`) and that its interface is up"
            ))
        } else if !h.nodes.contains(winner) {
            let who = h.nodes.iter().next().cloned().unwrap_or_default();
            Err(format!(
                "{who} answers for {ip} but {winner} was elected: {who}'s speaker holds a stale announcement; check its logs, or restart it"
            ))
        } else if ok.len() > 1 && !peers_saw_winner {
            Err(format!(
                "{winner} claims {ip} but no peer hears its answers: check {winner}'s interface and the LAN between the nodes"
            ))
        } else {
            ev.push(format!("{ip}: answered by {winner} only"));
            Ok(())
        };
        if let Err(f) = verdict {
            fix.get_or_insert(f);
        }
    }
    match fix {
        Some(f) => Step::failed(STEP_WIRE, ev, f),
        // An address nobody could probe is not checked: never a pass without an answer.
        None if unchecked => Step::unchecked(STEP_WIRE, ev),
        None => Step::passed(STEP_WIRE, ev),
    }
}
