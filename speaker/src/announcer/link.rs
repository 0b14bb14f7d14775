//! What the announcer needs to know about an interface: its index and MAC, and whether it is an
//! up Ethernet-like link. Read through `getifaddrs` (netlink), so it sees the network namespace
//! of the calling thread (`/sys/class/net` would show the namespace sysfs was mounted in).

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

use crate::packets::Mac;

/// An interface the announcer can open a socket on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Interface index (for binding the socket).
    pub index: u32,
    /// The interface's MAC: the address our answers and announcements carry.
    pub mac: Mac,
}

/// Why an interface cannot be used (yet): all of these are retried by the announcer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no interface named {0:?}")]
    NotFound(String),
    #[error("interface {0:?} is not Ethernet-like (no 6-byte MAC or no broadcast)")]
    NotEthernet(String),
    #[error("interface {0:?} is down")]
    Down(String),
    #[error("listing interfaces: {0}")]
    List(#[source] nix::Error),
}

/// What `getifaddrs` says about an interface, before judging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFacts {
    pub index: u32,
    /// `None` when the link-layer address is not 6 bytes long.
    pub mac: Option<Mac>,
    pub up: bool,
    pub broadcast: bool,
}

/// Looks `name` up in the calling thread's network namespace and checks that it is usable.
pub fn lookup(name: &str) -> Result<Link, LinkError> {
    let facts = getifaddrs()
        .map_err(LinkError::List)?
        .filter(|a| a.interface_name == name)
        .find_map(|a| {
            let link = a.address.as_ref()?.as_link_addr()?;
            Some(LinkFacts {
                index: u32::try_from(link.ifindex()).ok()?,
                mac: link.addr(),
                up: a.flags.contains(InterfaceFlags::IFF_UP),
                broadcast: a.flags.contains(InterfaceFlags::IFF_BROADCAST),
            })
        });
    usable(name, facts)
}

/// Judges the facts found for `name` (pure): the interface must exist, have a non-zero unicast
/// 6-byte MAC and the broadcast flag (Ethernet-like), and be administratively up.
pub fn usable(name: &str, facts: Option<LinkFacts>) -> Result<Link, LinkError> {
    let facts = facts.ok_or_else(|| LinkError::NotFound(name.to_string()))?;
    let mac = facts
        .mac
        .filter(|m| *m != [0; 6] && m[0] & 0x01 == 0 && facts.broadcast)
        .ok_or_else(|| LinkError::NotEthernet(name.to_string()))?;
    if !facts.up {
        return Err(LinkError::Down(name.to_string()));
    }
    Ok(Link {
        index: facts.index,
        mac,
    })
}

/// `aa:bb:cc:dd:ee:ff`, for logs.
pub fn mac_string(mac: Mac) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}
