//! `/debug/probe`: who answers ARP/NDP for an address on this node's LAN, for `kubectl
//! ferrolb why`'s wire step (none, the announcer, a wrong node, or two: split brain).
//!
//! The speaker sends **one** ARP request (IPv4) or **one** Neighbor Solicitation to the
//! address's solicited-node multicast group (IPv6) out of each interface it would announce
//! the address on, then collects, for a window, **every** ARP reply or Neighbor Advertisement
//! for the address it receives there: every frame is counted, none merged, so two answers
//! from one MAC show as two. Announcements arriving in the window count too (a gratuitous ARP
//! in reply form, an unsolicited NA): they claim the address just as an answer does, so a
//! node that just took the address over shows its burst.
//!
//! - ARP: sender IP is this node's first IPv4 address on the interface, or `0.0.0.0` (an
//!   RFC 5227 probe) when it has none; the owner answers both, unicast to our MAC (ferrolb's
//!   responder: `announcer::answer`, which accepts probes).
//! - NDP: source is the interface's link-local address, else its first global one (an
//!   interface without IPv6 address is not probed for an IPv6 address); the owner answers with
//!   a solicited NA to it.
//! - A node never sees its own answers: its raw socket receives only incoming frames, and its
//!   own announcer does not see the probe either (it leaves through the same interface). So an
//!   announcing node's report lists only *other* answerers: none is the expected result there.
//!
//! Pure here: the query's parameters ([`parse_query`]), the probe frame ([`probe_frame`]), the
//! match of a received frame to the address ([`answering_mac`]) and the report
//! ([`Collector`], [`ProbeReport`]); [`shell`] does the socket I/O, bounded by the window.

pub mod shell;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Serialize;

use crate::announcer::mac_string;
use crate::packets::{self, Mac, arp::ARP_OP_REPLY};

/// The window when the query gives none.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(500);
/// The shortest window accepted (shorter ones are raised to it).
pub const MIN_WINDOW: Duration = Duration::from_millis(50);
/// The longest window accepted (longer ones are cut to it).
pub const MAX_WINDOW: Duration = Duration::from_millis(2000);

/// `address` and `windowMs` of `/debug/probe?address=IP[&windowMs=N]`, checked: the address
/// parses, the window (default [`DEFAULT_WINDOW`]) is clamped to
/// [`MIN_WINDOW`]..=[`MAX_WINDOW`]. The error is the text of a 400 answer.
pub fn parse_query(
    address: Option<&str>,
    window_ms: Option<&str>,
) -> Result<(IpAddr, Duration), String> {
    let address = parse_address(address)?;
    let window = match window_ms {
        None => DEFAULT_WINDOW,
        Some(text) => {
            let ms: u64 = text.trim().parse().map_err(|_| {
                format!("windowMs={text:?} is not a number of milliseconds: give e.g. windowMs=500 (50 to 2000)")
            })?;
            Duration::from_millis(ms).clamp(MIN_WINDOW, MAX_WINDOW)
        }
    };
    Ok((address, window))
}

/// The `address` query parameter, parsed; the error is the text of a 400 answer.
pub fn parse_address(address: Option<&str>) -> Result<IpAddr, String> {
    let text = address.ok_or(
        "missing query parameter address: give the LoadBalancer address, e.g. ?address=198.51.100.200",
    )?;
    text.trim().parse().map_err(|_| {
        format!("address={text:?} is not an IP address: give the LoadBalancer address, e.g. ?address=198.51.100.200")
    })
}

/// The text of the 400 answer for an address no Service has as LoadBalancer ingress.
pub fn unknown_address(address: IpAddr) -> String {
    format!(
        "{address} is not a LoadBalancer address this speaker knows: give an address of a Service's status.loadBalancer.ingress (kubectl get svc -A)"
    )
}

/// The addresses of an interface a probe may be sent from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Its IPv4 addresses, in the kernel's order.
    pub v4: Vec<Ipv4Addr>,
    /// Its IPv6 addresses, in the kernel's order.
    pub v6: Vec<Ipv6Addr>,
}

/// The probe asking who has `address`, sent from `mac` with `sources`: an ARP request
/// (sender IP the first IPv4 address, else `0.0.0.0`) or a Neighbor Solicitation (source the
/// link-local address, else the first other unicast one). `None` for IPv6 without any
/// usable source address.
pub fn probe_frame(mac: Mac, sources: &Sources, address: IpAddr) -> Option<Vec<u8>> {
    match address {
        IpAddr::V4(v4) => {
            let sender = sources.v4.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
            Some(packets::arp_request(mac, sender, v4))
        }
        IpAddr::V6(v6) => {
            let usable =
                |a: &&Ipv6Addr| !a.is_unspecified() && !a.is_multicast() && !a.is_loopback();
            let link_local = sources
                .v6
                .iter()
                .filter(usable)
                .find(|a| a.is_unicast_link_local());
            let src = link_local.or_else(|| sources.v6.iter().find(usable))?;
            Some(packets::neighbor_solicitation(mac, *src, v6))
        }
    }
}

/// The MAC a received frame says `address` is at, when the frame answers for it: an ARP reply
/// whose sender IP is `address` (its sender hardware address), or a valid Neighbor
/// Advertisement whose target is `address` (its Target Link-Layer Address option, else its
/// Ethernet source). Anything else: `None`.
pub fn answering_mac(frame: &[u8], address: IpAddr) -> Option<Mac> {
    match address {
        IpAddr::V4(v4) => {
            let arp = packets::decode_arp(frame)?;
            (arp.operation == ARP_OP_REPLY && arp.sender_ip == v4).then_some(arp.sender_mac)
        }
        IpAddr::V6(v6) => {
            let na = packets::decode_neighbor_advertisement(frame)?;
            (na.target == v6).then(|| na.target_lladdr.unwrap_or(na.eth_src))
        }
    }
}

/// What `/debug/probe` answers (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// This node.
    pub node: String,
    /// The probed address.
    pub address: IpAddr,
    /// This node's desired state announces the address. Its own answers are never among
    /// `answers` (a node does not receive what it sends).
    pub announced: bool,
    /// How long answers were collected, in milliseconds.
    pub window_ms: u64,
    /// Where the probe was sent, with this node's MAC there.
    pub interfaces: Vec<ProbedInterface>,
    /// Every answer received, in arrival order: one entry per frame.
    pub answers: Vec<ProbeAnswer>,
}

/// An interface the probe went out of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbedInterface {
    /// Interface name.
    pub name: String,
    /// This node's MAC on it, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
}

/// One frame answering for the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeAnswer {
    /// The interface it arrived on.
    pub interface: String,
    /// The MAC it says the address is at, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Milliseconds after the probe was sent.
    pub after_ms: u64,
}

/// Gathers the answers of one probe: every received frame goes to [`Collector::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collector {
    address: IpAddr,
    answers: Vec<ProbeAnswer>,
}

impl Collector {
    /// A collector for answers about `address`.
    pub fn new(address: IpAddr) -> Collector {
        Collector {
            address,
            answers: Vec::new(),
        }
    }

    /// Counts `frame`, received on `interface` `after` the probe, if it answers for the
    /// address; every such frame is one more answer, duplicates included.
    pub fn record(&mut self, interface: &str, frame: &[u8], after: Duration) {
        if let Some(mac) = answering_mac(frame, self.address) {
            self.answers.push(ProbeAnswer {
                interface: interface.to_string(),
                mac: mac_string(mac),
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            });
        }
    }

    /// Adds the answers of another collector (another interface), keeping every one.
    pub fn merge(&mut self, other: Collector) {
        self.answers.extend(other.answers);
    }

    /// The answers so far, by arrival time (stable: equal times keep their order).
    pub fn answers(mut self) -> Vec<ProbeAnswer> {
        self.answers.sort_by_key(|a| a.after_ms);
        self.answers
    }
}
