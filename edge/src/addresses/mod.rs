//! Frontend addresses on the edge's interface (rtnetlink, in the network namespace of the
//! thread that runs [`Addresses::open`]): each frontend address as a /32 or /128 (IPv6 with `nodad`, so it works at once),
//! so the kernel answers ARP/NDP for it there.
//!
//! The manager adds the desired addresses, removes those it owns that are no longer desired,
//! and on its first sync also removes any /32 or /128 on the interface that lies in an edge
//! pool and is not desired (leftovers of a crash). [`Addresses::release_all`] (SIGTERM) removes
//! everything it owns. It never touches another address: other prefix lengths, addresses
//! outside the edge pools it did not add, other interfaces. [`plan`] is the pure decision.

mod netlink;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use tracing::{info, warn};

use crate::frontends::EdgeRanges;
use netlink::Netlink;

/// Why an address operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// The interface does not exist (in this network namespace).
    #[error("interface {0:?} does not exist")]
    NoInterface(String),
    /// The netlink socket.
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// A request failed: the kernel refused, or its answer does not decode.
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
}

/// The prefix length of a single address of `ip`'s family.
pub fn host_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

/// What one sync does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Desired and missing.
    pub add: Vec<IpAddr>,
    /// Desired and already there as a host address: owned from now on.
    pub adopt: Vec<IpAddr>,
    /// Owned (or, when sweeping, a host address in an edge pool) and not desired.
    pub remove: Vec<IpAddr>,
}

/// Decides a sync from the interface's current addresses (pure).
pub fn plan(
    present: &[(IpAddr, u8)],
    owned: &BTreeSet<IpAddr>,
    desired: &BTreeSet<IpAddr>,
    edge: &EdgeRanges,
    sweep: bool,
) -> Plan {
    let hosts: BTreeSet<IpAddr> = present
        .iter()
        .filter(|(ip, prefix)| *prefix == host_prefix(*ip))
        .map(|(ip, _)| *ip)
        .collect();
    Plan {
        add: desired.difference(&hosts).copied().collect(),
        adopt: desired.intersection(&hosts).copied().collect(),
        remove: hosts
            .iter()
            .filter(|ip| !desired.contains(ip))
            .filter(|ip| owned.contains(ip) || (sweep && edge.contains(**ip)))
            .copied()
            .collect(),
    }
}

/// The addresses the edge owns on its interface.
#[derive(Debug)]
pub struct Addresses {
    netlink: Netlink,
    interface: String,
    index: u32,
    owned: BTreeSet<IpAddr>,
    swept: bool,
    failed: BTreeMap<IpAddr, String>,
}

impl Addresses {
    /// Finds `interface` in the network namespace of the thread that polls this future, where
    /// every later change is made (the netlink socket is opened here, on the current tokio
    /// runtime).
    pub async fn open(interface: &str) -> Result<Addresses, AddressError> {
        let netlink = Netlink::open()?;
        let index = netlink
            .link_index(interface)
            .await?
            .ok_or_else(|| AddressError::NoInterface(interface.to_string()))?;
        Ok(Addresses {
            netlink,
            interface: interface.to_string(),
            index,
            owned: BTreeSet::new(),
            swept: false,
            failed: BTreeMap::new(),
        })
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Addresses owned now.
    pub fn owned(&self) -> &BTreeSet<IpAddr> {
        &self.owned
    }

    /// Desired addresses that could not be added (or owned ones not removed), with the error.
    pub fn failed(&self) -> &BTreeMap<IpAddr, String> {
        &self.failed
    }

    /// Adds what is missing of `desired` (first call: also sweeps leftovers in `edge`).
    /// Returns the number of failed operations (each logged and listed in [`Self::failed`]).
    pub async fn add(
        &mut self,
        desired: &BTreeSet<IpAddr>,
        edge: &EdgeRanges,
    ) -> Result<usize, AddressError> {
        self.step(desired, edge, true).await
    }

    /// Removes what is owned and no longer in `desired`.
    pub async fn remove(
        &mut self,
        desired: &BTreeSet<IpAddr>,
        edge: &EdgeRanges,
    ) -> Result<usize, AddressError> {
        self.step(desired, edge, false).await
    }

    /// Removes every owned address (on shutdown).
    pub async fn release_all(&mut self) -> Result<usize, AddressError> {
        self.step(&BTreeSet::new(), &EdgeRanges::default(), false)
            .await
    }

    async fn step(
        &mut self,
        desired: &BTreeSet<IpAddr>,
        edge: &EdgeRanges,
        adding: bool,
    ) -> Result<usize, AddressError> {
        let present = self.netlink.addresses(self.index).await?;
        let sweep = adding && !self.swept;
        let p = plan(&present, &self.owned, desired, edge, sweep);
        // Owned addresses someone else removed are no longer ours to remove.
        let hosts: BTreeSet<IpAddr> = present
            .iter()
            .filter(|(ip, prefix)| *prefix == host_prefix(*ip))
            .map(|(ip, _)| *ip)
            .collect();
        self.owned.retain(|ip| hosts.contains(ip));
        self.failed
            .retain(|ip, _| desired.contains(ip) || self.owned.contains(ip));
        let mut failures = 0;
        if adding {
            self.swept = true;
            self.owned.extend(p.adopt.iter().copied());
            for ip in p.add {
                match self.netlink.add(self.index, ip, host_prefix(ip)).await {
                    Ok(()) => {
                        info!(%ip, interface = %self.interface, "frontend address added");
                        self.owned.insert(ip);
                        self.failed.remove(&ip);
                    }
                    Err(error) => {
                        failures += 1;
                        warn!(%ip, interface = %self.interface, %error, "cannot add the frontend address");
                        self.failed.insert(ip, error.to_string());
                    }
                }
            }
        }
        // Adding removes only leftovers (first sync); removing, what is owned and unwanted.
        let removals = match (adding, sweep) {
            (true, true) | (false, _) => p.remove,
            (true, false) => Vec::new(),
        };
        for ip in removals {
            match self.netlink.delete(self.index, ip, host_prefix(ip)).await {
                Ok(()) => {
                    info!(%ip, interface = %self.interface, "frontend address removed");
                    self.owned.remove(&ip);
                    self.failed.remove(&ip);
                }
                Err(error) => {
                    failures += 1;
                    warn!(%ip, interface = %self.interface, %error, "cannot remove the frontend address");
                    self.failed.insert(ip, error.to_string());
                }
            }
        }
        Ok(failures)
    }
}
