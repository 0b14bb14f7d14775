//! The addresses `/debug/probe` and `/debug/rules` accept, and where this node probes each on
//! the wire (pure): so that these endpoints answer only for LoadBalancer addresses the
//! cluster knows, never as a scanner of the LAN.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::announcer;
use crate::election::{L2Policy, NodeView, VipInput, candidates};

/// Every LoadBalancer ingress address of every Service in the snapshot, with where this node
/// probes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownAddresses {
    /// This node.
    pub node: String,
    /// Address → where to probe it.
    pub addresses: BTreeMap<IpAddr, ProbeOn>,
}

/// Where this node probes one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeOn {
    /// This node's desired state announces the address.
    pub announced: bool,
    /// The interfaces to send the probe out of: those the L2AnnouncementPolicies covering the
    /// address select on this node (the ones the announcer answers on when the node wins it);
    /// when none does, every interface this node announces anything on. Empty: nowhere.
    /// Shared by every address probed on the same interfaces (most of them).
    pub interfaces: Arc<BTreeSet<String>>,
}

/// [`KnownAddresses`] of `node`: `ingress` (every Service's `status.loadBalancer.ingress`
/// addresses), the election's `vips`, the valid `policies`, this node's view (`None` when its
/// Node is unknown) and what it announces.
pub fn known_addresses<'a>(
    node: &str,
    ingress: impl IntoIterator<Item = IpAddr>,
    vips: impl IntoIterator<Item = &'a VipInput>,
    policies: &[L2Policy],
    me: Option<&NodeView>,
    announce: &announcer::Desired,
) -> KnownAddresses {
    let valid: Vec<&L2Policy> = policies.iter().filter(|p| p.validate().is_ok()).collect();
    let everywhere: BTreeSet<String> = announce
        .iter()
        .filter(|(_, ips)| !ips.is_empty())
        .map(|(iface, _)| iface.clone())
        .collect();
    let mut interfaces: BTreeMap<IpAddr, BTreeSet<String>> = ingress
        .into_iter()
        .map(|ip| (ip, BTreeSet::new()))
        .collect();
    if let Some(me) = me {
        for vip in vips {
            if let Some(on) = interfaces.get_mut(&vip.ip) {
                on.extend(candidates::interfaces_for(me, &valid, vip));
            }
        }
    }
    let mut shared: BTreeSet<Arc<BTreeSet<String>>> = BTreeSet::new();
    let addresses = interfaces
        .into_iter()
        .map(|(ip, on)| {
            let on = if on.is_empty() {
                everywhere.clone()
            } else {
                on
            };
            let on = match shared.get(&on) {
                Some(same) => Arc::clone(same),
                None => {
                    let on = Arc::new(on);
                    shared.insert(Arc::clone(&on));
                    on
                }
            };
            let probe = ProbeOn {
                announced: announce.values().any(|ips| ips.contains(&ip)),
                interfaces: on,
            };
            (ip, probe)
        })
        .collect();
    KnownAddresses {
        node: node.to_string(),
        addresses,
    }
}
