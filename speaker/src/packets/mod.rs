//! ARP (IPv4) and NDP (IPv6) encoding and decoding for the speaker's L2 announcements.
//!
//! Pure byte work on whole Ethernet II frames (`&[u8]` in, `Vec<u8>` out); the raw-socket I/O
//! lives elsewhere. The receive path is:
//!
//! 1. [`classify`] a received frame into a [`Query`] (or `None`: not for us to answer);
//! 2. check that the node owns [`Query::target_ip`];
//! 3. send [`Query::reply`] (or call [`arp_reply`] / [`neighbor_advertisement`] directly).
//!
//! For announcing an address unprompted (on takeover), send [`gratuitous_arp`] or
//! [`unsolicited_na`]. [`decode_arp`] and [`decode_neighbor_advertisement`] read announcements
//! and replies back, e.g. to notice another node claiming one of our addresses.
//!
//! Decoders never panic on any input. VLAN-tagged frames are not understood and yield `None`
//! (see [`ether`]). Encoders pad frames to the 60-byte Ethernet minimum.

pub mod arp;
pub mod ether;
pub mod ndp;

#[cfg(test)]
mod arp_tests;
#[cfg(test)]
mod na_tests;
#[cfg(test)]
mod ndp_tests;
#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod test_frames;

use std::net::IpAddr;

pub use arp::{ArpMessage, ArpRequest, arp_reply, arp_request, decode_arp, gratuitous_arp};
pub use ether::{BROADCAST_MAC, Mac, multicast_mac};
pub use ndp::{
    ALL_NODES, ALL_NODES_MAC, NeighborAdvertisement, NeighborSolicitation,
    decode_neighbor_advertisement, neighbor_advertisement, neighbor_solicitation,
    solicited_node_multicast, unsolicited_na,
};

/// A received request asking who has an address: the only frames the speaker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    /// An IPv4 ARP request (broadcast, unicast, or RFC 5227 probe).
    ArpRequest(ArpRequest),
    /// A valid IPv6 Neighbor Solicitation (multicast, unicast, or DAD).
    NeighborSolicitation(NeighborSolicitation),
}

impl Query {
    /// The address being asked for; answer only if the node owns it.
    pub fn target_ip(&self) -> IpAddr {
        match self {
            Query::ArpRequest(request) => IpAddr::V4(request.target_ip),
            Query::NeighborSolicitation(ns) => IpAddr::V6(ns.target),
        }
    }

    /// The frame answering this query with "[`target_ip`](Query::target_ip) is at `our_mac`":
    /// [`arp_reply`] or [`neighbor_advertisement`] for the target. Call it only after checking
    /// that the node owns the target.
    pub fn reply(&self, our_mac: Mac) -> Vec<u8> {
        match self {
            Query::ArpRequest(request) => arp_reply(our_mac, request.target_ip, request),
            Query::NeighborSolicitation(ns) => neighbor_advertisement(our_mac, ns.target, ns),
        }
    }
}

/// Recognises an ARP request or a valid Neighbor Solicitation in an untagged Ethernet frame.
/// Never panics, whatever the bytes. Frames whose Ethernet source is a group address, and
/// VLAN-tagged frames, are always `None`.
///
/// ARP → [`Query::ArpRequest`] for op 1 (request) with hardware type 1, protocol type 0x0800,
/// lengths 6 and 4, a unicast sender MAC and sender IP ≠ target IP. Broadcast and unicast
/// requests and RFC 5227 probes (sender IP `0.0.0.0`) are accepted; replies, other operations
/// and gratuitous ARP / RFC 5227 announcements (sender IP = target IP) are `None`.
///
/// IPv6 → [`Query::NeighborSolicitation`] when RFC 4861 §7.1.1 holds: hop limit 255, ICMPv6
/// type 135 code 0, ICMPv6 length ≥ 24 and fully present, valid checksum, target not
/// multicast, every option of non-zero length and inside the message; for source `::` the
/// destination is a solicited-node multicast address and there is no Source Link-Layer Address
/// option. Stricter than the RFC: the IPv6 source is not multicast, a multicast destination
/// must be the solicited-node address of the target itself, a unicast destination must not be
/// `::`, a Source Link-Layer Address option must be 8 bytes and a unicast MAC (the first one
/// counts), and ICMPv6 must follow the IPv6 header directly (no extension headers).
pub fn classify(frame: &[u8]) -> Option<Query> {
    let eth = ether::parse_ethernet(frame)?;
    match eth.ethertype {
        ether::ETHERTYPE_ARP => arp::request_from(&eth).map(Query::ArpRequest),
        ether::ETHERTYPE_IPV6 => ndp::solicitation_from(&eth).map(Query::NeighborSolicitation),
        _ => None,
    }
}
