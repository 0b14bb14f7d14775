//! What the speakers' own states say about ferrolb as a whole: whether their gossip views agree
//! (the same live set everywhere) and whether two of them answer for one address (a split
//! brain). Pure.

use std::collections::BTreeMap;

use crate::speakers::answers::{Fetched, SpeakerState, agreed, answering, lives};

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
    for (node, got) in states {
        let seen = match got {
            Err(e) => format!("state not read: {e}"),
            Ok(s) => {
                let live = s.live().len();
                let known = s.observed.gossip.nodes.len().max(live);
                format!("sees {live}/{known} alive")
            }
        };
        v.per_node.insert(node.clone(), seen);
    }
    let lives = lives(states);
    if !lives.is_empty() && agreed(&lives).is_none() {
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
    for (ip, nodes) in answering(states).iter().filter(|(_, n)| n.len() > 1) {
        v.problems.push(format!(
            "split brain: {} all answer for {ip}: `kubectl ferrolb why` on its Service says more",
            nodes.iter().copied().collect::<Vec<_>>().join(" and ")
        ));
    }
    v
}
