//! Which speakers are alive, and every node's interfaces, by SWIM gossip among the speakers
//! ([foca]) over UDP. It needs no apiserver: liveness keeps working through an apiserver
//! outage, and a dead speaker is noticed in well under a second on a LAN.
//!
//! - [`core`]: foca plus this node's interface list, without I/O (deterministic; tested by
//!   driving several cores in memory with virtual time).
//! - [`shell`]: one UDP socket and one tokio task per speaker ([`Membership::spawn`]).
//! - [`identity`]: node name + gossip address + start time; a restarted or renewed speaker
//!   replaces its stale identity at its first message.
//! - [`info`]: each speaker's interfaces as a versioned custom broadcast.
//! - [`seal`], [`keyring`]: every datagram encrypted and authenticated with the gossip keys
//!   (see Sealing below).
//!
//! The output is [`Members`]: every node heard of, alive or not, with its gossip address and
//! interfaces; [`Members::live`] and [`Members::interfaces_of`] feed
//! [`nodestate::Local`](crate::nodestate::Local). This node is always alive in it.
//!
//! # Timings (defaults of [`MembershipConfig`])
//!
//! Probe period P = 150 ms, direct-ping timeout 75 ms, suspicion S = 300 ms, periodic gossip
//! G = 100 ms. They are short because a LAN round trip is well under a millisecond; a live
//! member is wrongly declared down only if it stays silent for a probe period and then S
//! (about 450 ms), which a loaded node (CPU throttling, a busy runtime) rarely does.
//! - **A speaker that dies** (crash, kill, node off): every speaker probes one member per
//!   period (shuffled round-robin), so with n speakers the dead one is probed about once per
//!   period by one of the n − 1 others. The probe fails at the end of its period (direct ping,
//!   then indirect pings through up to 3 others), the member is suspect, and down S later
//!   unless it refutes; the prober gossips "down" at once. Expected detection ≈ P/2 + P + S ≈
//!   525 ms; for a few nodes the worst case is about 4P + S ≈ 900 ms. Measured on the
//!   simulated network (3 speakers, 20 crash phases): min 464 ms, mean 569 ms, max 839 ms
//!   (`core_tests::a_dead_member_is_down_quickly_everywhere`); on real sockets see
//!   `tests/membership.rs`.
//! - **A speaker that leaves** ([`MembershipHandle::leave`], on SIGTERM): it sends "I am down"
//!   to every live member in one datagram each, before stopping: peers mark it down as soon as
//!   the datagram arrives (a LAN round trip, a few ms at most).
//! - **A restarted speaker** (same node name and address): its new identity has a later start
//!   time and wins the address conflict, so the first message it sends (its announce to the
//!   seeds at start) makes the receiver replace the old identity and mark the node alive;
//!   others learn it by gossip within a few G.
//! - **Joining**: a speaker announces to its seeds (other nodes' InternalIPs and the gossip
//!   port) at start and every `join_interval` (1 s) to those that are not live members, at
//!   most `max_seeds_per_join` per round, so an isolated speaker keeps trying at a bounded rate.
//!
//! # Partitions
//!
//! During a network partition each side fails to probe the other and, after the detection time
//! above, declares it down. Each side then elects among its own speakers, so a VIP may be
//! answered by one node on each side, each only reachable from its own side: clients on both
//! sides keep being served, and there is no split answer within one side.
//!
//! When the partition heals, speakers announce to seeds that are not live members (every
//! `join_interval`, 1 s) and foca announces to members it holds down (every
//! `announce_to_down_period`, 1 s). A speaker receiving a message from a member it holds down
//! replies that it is down (`notify_down_members`); that member renews its identity (a higher
//! `renewed` wins over the down one) and is accepted at its next message, and the same happens
//! the other way. Memberships merge, every speaker computes the same election again and the
//! duplicate answers stop. This takes one to two announce rounds, about 1–3 s after the heal
//! (measured on the simulated network with 4 speakers split 2/2: 1.8 s;
//! `core_tests::partition_splits_then_heals`).
//!
//! # Sealing
//!
//! Every datagram is encrypted and authenticated ([`seal`]) with a key of the [`Keyring`]
//! (Secret `ferrolb-gossip`, [`keyring`]); anything else on the gossip port is dropped and
//! counted before foca sees it, so nobody without the key can declare a speaker down or
//! join as a member.

pub mod config;
pub mod core;
pub mod identity;
pub mod info;
pub mod keyring;
pub mod seal;
pub mod shell;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::election::InterfaceView;

pub use config::{ConfigError, MembershipConfig};
pub use identity::Id;
pub use keyring::{GossipKey, KeyId, Keyring, KeyringError};
pub use shell::{
    DropLabels, GossipDrops, Membership, MembershipError, MembershipHandle, MembershipOptions,
};

/// One node's speaker as the gossip sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its gossip address.
    pub addr: SocketAddr,
    /// Alive (or suspect but not yet down).
    pub alive: bool,
    /// Its interfaces as it gossiped them (empty until heard).
    pub interfaces: Vec<InterfaceView>,
}

/// Every speaker heard of, by node name; this node's own is always there and alive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// This node's name.
    pub local: String,
    /// Node name → member.
    pub nodes: BTreeMap<String, Member>,
}

impl Members {
    /// Nodes whose speaker is alive (this node included).
    pub fn live(&self) -> BTreeSet<String> {
        let mut live: BTreeSet<String> = self
            .nodes
            .iter()
            .filter(|(_, m)| m.alive)
            .map(|(n, _)| n.clone())
            .collect();
        if !self.local.is_empty() {
            live.insert(self.local.clone());
        }
        live
    }

    /// Every node's interfaces as gossiped (this node's included).
    pub fn interfaces_of(&self) -> BTreeMap<String, Vec<InterfaceView>> {
        self.nodes
            .iter()
            .map(|(n, m)| (n.clone(), m.interfaces.clone()))
            .collect()
    }

    /// The membership as JSON, for `/debug/state`: node → address, liveness, interface names.
    pub fn debug_json(&self) -> serde_json::Value {
        let nodes: serde_json::Map<String, serde_json::Value> = self
            .nodes
            .iter()
            .map(|(node, m)| {
                let names: Vec<&str> = m.interfaces.iter().map(|i| i.name.as_str()).collect();
                let value = serde_json::json!({
                    "addr": m.addr.to_string(),
                    "alive": m.alive,
                    "interfaces": names,
                });
                (node.clone(), value)
            })
            .collect();
        serde_json::json!({ "local": self.local, "nodes": nodes })
    }

    /// Whether `node`'s speaker is alive.
    pub fn is_alive(&self, node: &str) -> bool {
        node == self.local || self.nodes.get(node).is_some_and(|m| m.alive)
    }
}
