//! Result of an election: one decision per IP.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use ferrolb_core::ServiceKey;

/// Every IP's decision, ordered by IP.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Election {
    /// Decision for each IP that appeared in the input. Shared with the next election while
    /// the IP's inputs stay the same ([`StepMemo`](crate::nodestate::StepMemo)): a step copies
    /// no decision it kept, and comparing two elections compares the pointers of those.
    pub per_ip: BTreeMap<IpAddr, Arc<IpDecision>>,
}

/// Who announces one IP, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpDecision {
    /// Node that answers ARP/NDP for the IP; `None` when the IP is silent.
    pub winner: Option<String>,
    /// Interfaces of the winner to answer on (sorted; empty when silent). One list shared by
    /// the decisions of an election that name the same interfaces.
    pub interfaces: Arc<[String]>,
    /// Nodes that could have won (sorted; common to all Services that want the IP announced).
    /// One list shared by the decisions of an election that name the same nodes.
    pub candidates: Arc<[String]>,
    /// Human explanation: why this node, or why nobody. One text shared by the decisions
    /// of an election that give the same reason.
    pub reason: Arc<str>,
    /// Every Service using this IP (sorted).
    pub services: Vec<ServiceKey>,
}

impl Election {
    /// IPs that `node` must answer for, each with the interfaces to answer on; sorted by IP.
    pub fn for_node(&self, node: &str) -> Vec<(IpAddr, Vec<String>)> {
        self.per_ip
            .iter()
            .filter(|(_, d)| d.winner.as_deref() == Some(node))
            .map(|(ip, d)| (*ip, d.interfaces.to_vec()))
            .collect()
    }

    /// The winner for `ip`, if the IP is known and announced.
    pub fn winner(&self, ip: IpAddr) -> Option<&str> {
        self.per_ip.get(&ip).and_then(|d| d.winner.as_deref())
    }
}
