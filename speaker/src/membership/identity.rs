//! Who a speaker is in the gossip.
//!
//! foca keys members by [`Identity::addr`], here the gossip socket address (one speaker per
//! node and address). Several identities may claim one address over time: a restarted speaker
//! starts with a larger `started` (microseconds since the Unix epoch when the process began),
//! and a speaker declared down renews itself by bumping `renewed`. The larger
//! `(started, renewed, node)` wins, so peers replace a stale identity at the first message of
//! the new one instead of waiting for the old one to be forgotten. This assumes the wall clock
//! does not step back across a restart by more than the restart takes.

use std::net::SocketAddr;

use foca::Identity;
use serde::{Deserialize, Serialize};

/// A speaker's identity in the gossip.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Id {
    /// Kubernetes node name.
    pub node: String,
    /// Gossip address (node IP and gossip port).
    pub addr: SocketAddr,
    /// When this speaker process started (µs since the Unix epoch).
    pub started: u64,
    /// How many times this process renewed its identity after being declared down.
    pub renewed: u16,
}

impl Id {
    /// A placeholder for an address whose speaker is not known yet: foca accepts an announce
    /// addressed to any identity with the receiver's address.
    pub fn seed(addr: SocketAddr) -> Id {
        Id {
            node: String::new(),
            addr,
            started: 0,
            renewed: 0,
        }
    }

    fn rank(&self) -> (u64, u16, &str) {
        (self.started, self.renewed, &self.node)
    }
}

impl Identity for Id {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        let renewed = self.renewed.checked_add(1)?;
        Some(Id {
            renewed,
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.rank() > adversary.rank()
    }
}
