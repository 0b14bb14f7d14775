//! This node's network interfaces as the election sees them ([`InterfaceView`]).
//!
//! [`local_interfaces`] dumps links and addresses over rtnetlink (`RTM_GETLINK`,
//! `RTM_GETADDR`), so it reads the network namespace of the **thread that polls it** (sysfs under
//! `/sys/class/net` would show the namespace sysfs was mounted in, and `getifaddrs` does not
//! carry link kinds). [`classify`] then turns the raw facts into views (pure):
//!
//! - `up`: `IFF_UP` and `IFF_RUNNING` (the kernel's operational state is up or unknown, so a
//!   link without carrier, e.g. a veth whose peer is down or an empty bridge, is not up);
//! - `broadcast`, `loopback`: `IFF_BROADCAST`, `IFF_LOOPBACK`;
//! - `has_lladdr`: a non-zero `IFLA_ADDRESS` (loopback's all-zero one and tun/WireGuard links
//!   without any cannot send an ARP/NDP answer);
//! - `bridge_port`: the link's port kind (`IFLA_INFO_SLAVE_KIND`) is `bridge`, or its controller
//!   (`IFLA_MASTER`) is a link of kind `bridge`;
//! - `container_veth`: the host side of a pod's veth. A link of kind `veth` whose peer lives in
//!   another network namespace (`IFLA_LINK_NETNSID` present) **and** that has no subnet wider
//!   than a single host (IPv6 link-local ignored). The address test keeps a node's own uplink
//!   out of this class when that uplink is itself a veth into another namespace, as in kind
//!   (eth0 of a node container) or this project's lab: the uplink carries the node's subnet
//!   (e.g. /24), whereas a pod's host-side veth carries nothing (Calico, Cilium) or only a /32
//!   or /128 gateway address (ptp CNI, the lab's pods);
//! - `subnets`: every address with its prefix length (IFA_LOCAL, else IFA_ADDRESS), IPv6
//!   link-local included (the election decides), sorted and without duplicates.
//!
//! Views are sorted by name: the same interfaces always give the same vector.

mod netlink;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::election::InterfaceView;

/// Why the interfaces could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InterfacesError {
    /// The netlink socket could not be opened.
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// A dump failed (refused by the kernel, or an answer that does not decode).
    #[error("netlink dump: {0}")]
    Netlink(#[from] rtnetlink::Error),
    /// The kernel reported an address with an impossible prefix length.
    #[error("address {addr}/{prefix} is not valid")]
    BadPrefix { addr: IpAddr, prefix: u8 },
}

/// What rtnetlink says about one link, before judging it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkFacts {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `IFF_UP`.
    pub admin_up: bool,
    /// `IFF_RUNNING`.
    pub running: bool,
    /// `IFF_BROADCAST`.
    pub broadcast: bool,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// `IFLA_ADDRESS`, if any.
    pub lladdr: Option<Vec<u8>>,
    /// `IFLA_INFO_KIND` (`veth`, `bridge`, `dummy`…), if any.
    pub kind: Option<String>,
    /// `IFLA_INFO_SLAVE_KIND` (`bridge`, `bond`…), if the link is a port of something.
    pub port_kind: Option<String>,
    /// `IFLA_MASTER`: index of the link this one is a port of.
    pub controller: Option<u32>,
    /// `IFLA_LINK_NETNSID`: the peer (of a veth) is in another network namespace.
    pub peer_netnsid: Option<i32>,
}

/// One address of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrFacts {
    /// Index of the link holding the address.
    pub index: u32,
    /// The local address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

/// The interfaces of the network namespace of the thread that polls this future, sorted by
/// name.
pub async fn local_interfaces() -> Result<Vec<InterfaceView>, InterfacesError> {
    let (links, addrs) = netlink::links_and_addresses().await?;
    classify(&links, &addrs)
}

/// Judges the raw facts (pure). Addresses of unknown links are ignored (a link can disappear
/// between the two dumps).
pub fn classify(
    links: &[LinkFacts],
    addrs: &[AddrFacts],
) -> Result<Vec<InterfaceView>, InterfacesError> {
    let kind_of: BTreeMap<u32, Option<&str>> =
        links.iter().map(|l| (l.index, l.kind.as_deref())).collect();
    let mut subnets: BTreeMap<u32, Vec<IpNet>> = BTreeMap::new();
    for a in addrs {
        let net = IpNet::new(a.addr, a.prefix).map_err(|_| InterfacesError::BadPrefix {
            addr: a.addr,
            prefix: a.prefix,
        })?;
        subnets.entry(a.index).or_default().push(net);
    }
    let mut views: Vec<InterfaceView> = links
        .iter()
        .map(|link| {
            let mut nets = subnets.remove(&link.index).unwrap_or_default();
            nets.sort();
            nets.dedup();
            let controller_is_bridge = link
                .controller
                .and_then(|c| kind_of.get(&c).copied().flatten())
                == Some("bridge");
            InterfaceView {
                name: link.name.clone(),
                up: link.admin_up && link.running,
                broadcast: link.broadcast,
                loopback: link.loopback,
                bridge_port: link.port_kind.as_deref() == Some("bridge") || controller_is_bridge,
                container_veth: link.kind.as_deref() == Some("veth")
                    && link.peer_netnsid.is_some()
                    && !nets.iter().any(wider_than_host),
                has_lladdr: link
                    .lladdr
                    .as_ref()
                    .is_some_and(|a| a.iter().any(|b| *b != 0)),
                subnets: nets,
            }
        })
        .collect();
    views.sort();
    Ok(views)
}

/// A subnet covering more than one host, IPv6 link-local ignored.
fn wider_than_host(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() < 32,
        IpNet::V6(n) => n.prefix_len() < 128 && !n.addr().is_unicast_link_local(),
    }
}
