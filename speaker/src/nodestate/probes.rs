//! The addresses `/debug/probe` and `/debug/rules` accept, and where this node probes each on
//! the wire (pure): so that these endpoints answer only for LoadBalancer addresses the
//! cluster knows, never as a scanner of the LAN.
//!
//! Answered on request from what the step was computed from ([`Basis`]), not computed for
//! every address at every step: a step costs what changed (issue 21), and these endpoints are
//! asked about one address at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::announcer;
use crate::election::{L2Policy, candidates};

use super::Basis;

/// Every LoadBalancer ingress address of every Service in the snapshot, with where this node
/// probes it ([`KnownAddresses::on`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownAddresses {
    /// This node.
    pub node: String,
    known: Known,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Known {
    /// Answered from what a step was computed from.
    Step(Step),
    /// A fixed list (empty before the first step).
    Listed(BTreeMap<IpAddr, ProbeOn>),
}

impl Default for Known {
    fn default() -> Known {
        Known::Listed(BTreeMap::new())
    }
}

/// What a step was computed from, and what this node announces.
#[derive(Debug, Clone)]
struct Step {
    basis: Arc<Basis>,
    announce: announcer::Desired,
}

/// Where this node probes one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeOn {
    /// This node's desired state announces the address.
    pub announced: bool,
    /// The interfaces to send the probe out of: those the L2AnnouncementPolicies covering the
    /// address select on this node (the ones the announcer answers on when the node wins it);
    /// when none does, every interface this node announces anything on. Empty: nowhere.
    pub interfaces: BTreeSet<String>,
}

impl KnownAddresses {
    /// The addresses of `basis` on `basis.node`, which announces `announce`.
    pub(super) fn new(basis: Arc<Basis>, announce: &announcer::Desired) -> KnownAddresses {
        KnownAddresses {
            node: basis.node.clone(),
            known: Known::Step(Step {
                basis,
                announce: announce.clone(),
            }),
        }
    }

    /// `node`'s addresses as listed.
    pub fn listed(node: &str, addresses: BTreeMap<IpAddr, ProbeOn>) -> KnownAddresses {
        KnownAddresses {
            node: node.to_string(),
            known: Known::Listed(addresses),
        }
    }

    /// Every known address, sorted.
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        match &self.known {
            Known::Step(step) => step.basis.ingress_set(),
            Known::Listed(list) => list.keys().copied().collect(),
        }
    }

    /// Where this node probes `ip`; `None` when no Service's status holds it.
    pub fn on(&self, ip: IpAddr) -> Option<ProbeOn> {
        match &self.known {
            Known::Step(step) => step.on(&self.node, ip),
            Known::Listed(list) => list.get(&ip).cloned(),
        }
    }
}

impl Step {
    fn on(&self, node: &str, ip: IpAddr) -> Option<ProbeOn> {
        let basis = self.basis.as_ref();
        if !basis.ingress.contains(&ip) {
            return None;
        }
        let valid: Vec<&L2Policy> = basis
            .policies
            .iter()
            .filter(|p| p.validate().is_ok())
            .collect();
        let mut interfaces = BTreeSet::new();
        if let Some(me) = basis.node_views.iter().find(|v| v.name == node) {
            let vips = basis.rows.iter().flat_map(|r| r.vip_inputs.iter());
            for vip in vips.filter(|v| v.ip == ip) {
                interfaces.extend(candidates::interfaces_for(me, &valid, vip));
            }
        }
        if interfaces.is_empty() {
            interfaces = self
                .announce
                .iter()
                .filter(|(_, ips)| !ips.is_empty())
                .map(|(iface, _)| iface.clone())
                .collect();
        }
        Some(ProbeOn {
            announced: self.announce.values().any(|ips| ips.contains(&ip)),
            interfaces,
        })
    }
}

/// Equal when they answer the same for every address: the same announcements, and the same
/// rows, policies, nodes and addresses to answer from.
impl PartialEq for Step {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.basis.as_ref(), other.basis.as_ref());
        self.announce == other.announce
            && a.rows == b.rows
            && a.policies == b.policies
            && a.node_views == b.node_views
            && a.ingress_set() == b.ingress_set()
    }
}

impl Eq for Step {}
