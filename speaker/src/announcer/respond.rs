//! What to send (pure): the answer to a received frame, the takeover frames for a VIP, and the
//! multicast group to listen on for a VIP.

use std::net::IpAddr;

use crate::packets::{self, Mac, Query};

/// A frame to send in answer to a query, by kind (for the counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An ARP reply.
    ArpReply(Vec<u8>),
    /// A solicited Neighbor Advertisement (or, for a DAD probe, one to all-nodes).
    NeighborAdvertisement(Vec<u8>),
}

impl Answer {
    /// The whole Ethernet frame to send.
    pub fn frame(&self) -> &[u8] {
        match self {
            Answer::ArpReply(frame) | Answer::NeighborAdvertisement(frame) => frame,
        }
    }
}

/// The answer to `frame`, received on an interface whose MAC is `our_mac`, or `None`.
///
/// Answers only a valid ARP request or Neighbor Solicitation (see [`packets::classify`]) whose
/// target `owns` says is ours, and only when the frame was sent to us: its Ethernet destination
/// is `our_mac` or a group (broadcast/multicast) address. The answer says "target is at
/// `our_mac`".
pub fn answer(frame: &[u8], our_mac: Mac, owns: impl Fn(IpAddr) -> bool) -> Option<Answer> {
    let dst: Mac = frame.get(..6)?.try_into().ok()?;
    if dst != our_mac && dst[0] & 0x01 == 0 {
        return None;
    }
    let query = packets::classify(frame)?;
    if !owns(query.target_ip()) {
        return None;
    }
    let reply = query.reply(our_mac);
    Some(match query {
        Query::ArpRequest(_) => Answer::ArpReply(reply),
        Query::NeighborSolicitation(_) => Answer::NeighborAdvertisement(reply),
    })
}

/// The frames announcing `ip` at `our_mac` on takeover or re-announcement: gratuitous ARP in
/// request and reply form for IPv4, an unsolicited Neighbor Advertisement (Override set, to
/// all-nodes) for IPv6.
pub fn takeover_frames(our_mac: Mac, ip: IpAddr) -> Vec<Vec<u8>> {
    match ip {
        IpAddr::V4(v4) => packets::gratuitous_arp(our_mac, v4).into(),
        IpAddr::V6(v6) => vec![packets::unsolicited_na(our_mac, v6)],
    }
}

/// The Ethernet multicast group to join while answering for `ip`: the MAC of its
/// solicited-node multicast address for IPv6 (where Neighbor Solicitations for it are sent),
/// none for IPv4 (ARP requests are broadcast).
pub fn group_mac(ip: IpAddr) -> Option<Mac> {
    match ip {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => Some(packets::multicast_mac(packets::solicited_node_multicast(
            v6,
        ))),
    }
}
