//! What the speakers' own states say about ferrolb as a whole: whether their gossip views agree
//! (the same live set everywhere) and whether two of them answer for one address (a split
//! brain). Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::speakers::answers::{Fetched, SpeakerState};

/// The speakers' views, judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Views {
    /// Per node: what its speaker sees (`3/3 alive`), or why its state was not read.
    pub per_node: BTreeMap<String, String>,
    /// Partitions and split brains, each with what to do.
    pub problems: Vec<String>,
}

/// Judges the states read from the speakers.
pub fn judge(states: &BTreeMap<String, Fetched<SpeakerState>>) -> Views {
    let mut v = Views::default();
    let mut lives: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut answering: BTreeMap<IpAddr, BTreeSet<&str>> = BTreeMap::new();
    for (node, got) in states {
        match got {
            Err(e) => {
                v.per_node
                    .insert(node.clone(), format!("state not read: {e}"));
            }
            Ok(s) => {
                let live = s.live();
                let known = s.observed.gossip.nodes.len().max(live.len());
                v.per_node
                    .insert(node.clone(), format!("sees {}/{known} alive", live.len()));
                lives.insert(node, live);
                for ip in s.desired.announce.values().flatten() {
                    answering.entry(*ip).or_default().insert(node);
                }
            }
        }
    }
    let distinct: BTreeSet<&BTreeSet<String>> = lives.values().collect();
    if distinct.len() > 1 {
        let each: Vec<String> = lives
            .iter()
            .map(|(n, live)| {
                format!(
                    "{n} sees {}",
                    live.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        v.problems.push(format!(
            "the speakers' gossip views differ ({}): a partition; restore UDP port 7946 between the nodes (firewalls, the gossip keys Secret)",
            each.join("; ")
        ));
    }
    for (ip, nodes) in answering.iter().filter(|(_, n)| n.len() > 1) {
        v.problems.push(format!(
            "split brain: {} all answer for {ip}: `kubectl ferrolb why` on its Service says more",
            nodes.iter().copied().collect::<Vec<_>>().join(" and ")
        ));
    }
    v
}
