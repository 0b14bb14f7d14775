//! What each speaker gossips about itself besides liveness: its interfaces, as a foca custom
//! broadcast (`NodeInfo`, postcard-encoded). The newest `version` per node wins; a speaker's
//! versions start at its start time in microseconds and grow by one per change, so a restarted
//! speaker's list replaces the one its previous process sent.
//!
//! One list must fit a datagram next to foca's header ([`MembershipConfig::info_budget`]).
//! When a node has more interfaces than that (hundreds of pod veths), the ones the default
//! interface set never uses are left out first: container veths, then bridge ports, then down
//! links, then the last names. The node's own entry in [`Members`](super::Members) is the same
//! trimmed list, so every speaker computes the election on the same data.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use foca::{BroadcastHandler, Invalidates};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::config::MembershipConfig;
use super::identity::Id;
use crate::election::InterfaceView;

/// Node names longer than a DNS subdomain are refused.
const MAX_NODE_NAME: usize = 253;

/// One speaker's announcement of its interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Kubernetes node name.
    pub node: String,
    /// Grows with every change; the largest wins.
    pub version: u64,
    /// The interfaces.
    pub interfaces: Vec<WireInterface>,
}

/// [`InterfaceView`] on the wire (`ipnet` has no serde in this workspace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireInterface {
    name: String,
    /// Bits: up, broadcast, loopback, bridge port, container veth, has a MAC.
    flags: u8,
    subnets: Vec<(IpAddr, u8)>,
}

const FLAGS: [fn(&InterfaceView) -> bool; 6] = [
    |i| i.up,
    |i| i.broadcast,
    |i| i.loopback,
    |i| i.bridge_port,
    |i| i.container_veth,
    |i| i.has_lladdr,
];

impl From<&InterfaceView> for WireInterface {
    fn from(i: &InterfaceView) -> Self {
        let flags = FLAGS
            .iter()
            .enumerate()
            .fold(0u8, |acc, (bit, f)| acc | (u8::from(f(i)) << bit));
        WireInterface {
            name: i.name.clone(),
            flags,
            subnets: i
                .subnets
                .iter()
                .map(|n| (n.addr(), n.prefix_len()))
                .collect(),
        }
    }
}

impl WireInterface {
    fn view(&self) -> Result<InterfaceView, InfoError> {
        let bit = |n: u8| self.flags & (1 << n) != 0;
        let subnets = self
            .subnets
            .iter()
            .map(|(ip, prefix)| IpNet::new(*ip, *prefix).map_err(|_| InfoError::Invalid))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InterfaceView {
            name: self.name.clone(),
            up: bit(0),
            broadcast: bit(1),
            loopback: bit(2),
            bridge_port: bit(3),
            container_veth: bit(4),
            has_lladdr: bit(5),
            subnets,
        })
    }
}

/// A received broadcast that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    #[error("node info does not decode: {0}")]
    Decode(#[from] postcard::Error),
    #[error("node info holds an invalid name or subnet")]
    Invalid,
}

impl NodeInfo {
    /// Decoded interfaces; an invalid entry refuses the whole list.
    pub fn views(&self) -> Result<Vec<InterfaceView>, InfoError> {
        if self.node.is_empty() || self.node.len() > MAX_NODE_NAME {
            return Err(InfoError::Invalid);
        }
        self.interfaces.iter().map(WireInterface::view).collect()
    }

    /// Encodes `interfaces` within `config`'s budget, leaving out the least useful ones when
    /// they do not fit. Returns the bytes and the interfaces actually sent.
    pub fn encode_within(
        node: &str,
        version: u64,
        interfaces: &[InterfaceView],
        config: &MembershipConfig,
    ) -> Result<(Vec<u8>, Vec<InterfaceView>), InfoError> {
        let mut kept: Vec<InterfaceView> = interfaces.to_vec();
        // Least useful last: stable sort by class keeps names in order within a class.
        kept.sort_by_key(|i| (i.container_veth, i.bridge_port, !i.up));
        loop {
            let info = NodeInfo {
                node: node.to_string(),
                version,
                interfaces: kept.iter().map(WireInterface::from).collect(),
            };
            let bytes = postcard::to_allocvec(&info)?;
            if bytes.len() <= config.info_budget() || kept.is_empty() {
                kept.sort();
                return Ok((bytes, kept));
            }
            kept.pop();
        }
    }
}

/// The key foca keeps a broadcast under: a newer version of a node's list replaces the older
/// one still being disseminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoKey {
    node: String,
    version: u64,
}

impl Invalidates for InfoKey {
    fn invalidates(&self, other: &Self) -> bool {
        self.node == other.node && self.version >= other.version
    }
}

/// Newest interface list per node (other nodes only), shared between the broadcast handler
/// that foca owns and the [`Core`](super::core::Core).
#[derive(Debug, Default)]
pub struct InfoStore {
    /// `node → (version, interfaces)`.
    pub lists: BTreeMap<String, (u64, Vec<InterfaceView>)>,
}

/// Locks the store (a panic elsewhere while holding it leaves plain data behind; keep going).
pub fn lock(store: &Mutex<InfoStore>) -> MutexGuard<'_, InfoStore> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// foca's custom-broadcast handler for [`NodeInfo`].
pub struct InfoHandler {
    /// This node (its own list is kept by the core, never taken from the network).
    pub local: String,
    /// Where received lists go.
    pub store: Arc<Mutex<InfoStore>>,
}

impl BroadcastHandler<Id> for InfoHandler {
    type Key = InfoKey;
    type Error = InfoError;

    fn receive_item(
        &mut self,
        data: &[u8],
        sender: Option<&Id>,
    ) -> Result<Option<InfoKey>, InfoError> {
        let info: NodeInfo = postcard::from_bytes(data)?;
        let key = InfoKey {
            node: info.node.clone(),
            version: info.version,
        };
        if sender.is_none() {
            // Our own list, added by the core: always (re)disseminate it.
            return Ok(Some(key));
        }
        if info.node == self.local {
            return Ok(None);
        }
        let views = info.views()?;
        let mut store = lock(&self.store);
        match store.lists.get(&info.node) {
            Some((known, _)) if *known >= info.version => Ok(None),
            _ => {
                store.lists.insert(info.node, (info.version, views));
                Ok(Some(key))
            }
        }
    }
}
