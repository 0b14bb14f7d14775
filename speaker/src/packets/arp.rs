//! ARP (RFC 826) for IPv4 over Ethernet: recognising requests and building replies and
//! gratuitous announcements.

use std::net::Ipv4Addr;

use pnet_packet::arp::{ArpHardwareTypes, ArpPacket};
use pnet_packet::ethernet::EtherTypes;

use super::ether::{
    BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetFrame, Mac, ZERO_MAC, build_frame,
    is_group_mac, parse_ethernet,
};

/// ARP operation code of a request ("who has").
pub const ARP_OP_REQUEST: u16 = 1;

/// ARP operation code of a reply ("is at").
pub const ARP_OP_REPLY: u16 = 2;

/// Length of an IPv4-over-Ethernet ARP packet (without Ethernet header or padding).
pub const ARP_PACKET_LEN: usize = 28;

/// An ARP request that deserves an answer if we own `target_ip`.
///
/// Produced by [`classify`](super::classify) for broadcast requests, unicast requests (e.g. a
/// neighbour re-validating its cache entry) and RFC 5227 probes (`sender_ip` is `0.0.0.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRequest {
    /// Requester's hardware address from the ARP body (never a group address).
    pub sender_mac: Mac,
    /// Requester's IPv4 address; `0.0.0.0` for an RFC 5227 probe.
    pub sender_ip: Ipv4Addr,
    /// The address being asked for.
    pub target_ip: Ipv4Addr,
    /// Ethernet destination of the request: broadcast, or a unicast MAC for a unicast request.
    pub eth_dst: Mac,
}

impl ArpRequest {
    /// Whether this is an RFC 5227 §2.1.1 probe (sender IP `0.0.0.0`): another host checking
    /// that `target_ip` is free before it starts using it.
    pub fn is_probe(&self) -> bool {
        self.sender_ip.is_unspecified()
    }
}

/// Any IPv4-over-Ethernet ARP packet, decoded without judging its purpose. Returned by
/// [`decode_arp`]; useful to inspect replies and announcements (ours, in tests, or another
/// host's, to detect a conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpMessage {
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// Ethernet source.
    pub eth_src: Mac,
    /// Operation code ([`ARP_OP_REQUEST`], [`ARP_OP_REPLY`] or anything else on the wire).
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// Decodes an Ethernet frame holding an IPv4-over-Ethernet ARP packet. Returns `None` for
/// anything else: other ethertypes (including VLAN-tagged frames), truncated packets, and ARP
/// packets whose hardware type is not Ethernet (1), protocol type not IPv4 (0x0800), hardware
/// length not 6 or protocol length not 4. Trailing padding is ignored. Never panics.
pub fn decode_arp(frame: &[u8]) -> Option<ArpMessage> {
    decode_arp_payload(&parse_ethernet(frame)?)
}

pub(super) fn decode_arp_payload(eth: &EthernetFrame<'_>) -> Option<ArpMessage> {
    if eth.ethertype != ETHERTYPE_ARP {
        return None;
    }
    let arp = ArpPacket::new(eth.payload)?;
    let is_ipv4_over_ethernet = arp.get_hardware_type() == ArpHardwareTypes::Ethernet
        && arp.get_protocol_type() == EtherTypes::Ipv4
        && arp.get_hw_addr_len() == 6
        && arp.get_proto_addr_len() == 4;
    if !is_ipv4_over_ethernet {
        return None;
    }
    Some(ArpMessage {
        eth_dst: eth.dst,
        eth_src: eth.src,
        operation: arp.get_operation().0,
        sender_mac: arp.get_sender_hw_addr().octets(),
        sender_ip: arp.get_sender_proto_addr(),
        target_mac: arp.get_target_hw_addr().octets(),
        target_ip: arp.get_target_proto_addr(),
    })
}

/// Picks out the requests worth answering. Ignored (`None`): replies and other operations,
/// gratuitous ARP / RFC 5227 announcements (sender IP equals target IP: nobody is asking), and
/// requests whose sender hardware address is a group address (a reply would be multicast).
pub(super) fn request_from(eth: &EthernetFrame<'_>) -> Option<ArpRequest> {
    let msg = decode_arp_payload(eth)?;
    if msg.operation != ARP_OP_REQUEST
        || msg.sender_ip == msg.target_ip
        || is_group_mac(msg.sender_mac)
    {
        return None;
    }
    Some(ArpRequest {
        sender_mac: msg.sender_mac,
        sender_ip: msg.sender_ip,
        target_ip: msg.target_ip,
        eth_dst: msg.eth_dst,
    })
}

/// The ARP reply announcing that `vip` is at `our_mac`, answering `request`.
///
/// Ethernet destination is the requester's MAC (`request.sender_mac`), source `our_mac`; the
/// ARP body is op 2, sender `(our_mac, vip)`, target `(request.sender_mac, request.sender_ip)`.
///
/// RFC 5227 probes get the same unicast reply, with target IP `0.0.0.0`. RFC 5227 §2.1.1 makes
/// the prober treat *any* ARP packet whose sender IP is the probed address as a conflict, and a
/// reply addressed to the prober's own MAC reaches it; broadcasting would only churn every
/// other host's cache. This is also what the Linux kernel sends (`arp_process`, `sip == 0`).
///
/// `vip` should be `request.target_ip` once the caller has checked that it owns it. The frame
/// is zero-padded to 60 bytes.
pub fn arp_reply(our_mac: Mac, vip: Ipv4Addr, request: &ArpRequest) -> Vec<u8> {
    encode_arp(
        request.sender_mac,
        our_mac,
        ARP_OP_REPLY,
        (our_mac, vip),
        (request.sender_mac, request.sender_ip),
    )
}

/// Two gratuitous ARP frames announcing that `vip` is at `our_mac`, both sent to the Ethernet
/// broadcast address; send both, since some hosts and switches only learn from one form.
///
/// - `[0]`, request form (RFC 5227 §2.3 ARP Announcement, `arping -U`): op 1, sender
///   `(our_mac, vip)`, target `(00:00:00:00:00:00, vip)`. The target MAC is zero as RFC 5227
///   asks (iputils `arping -U` puts the broadcast MAC there; receivers ignore it).
/// - `[1]`, reply form (iputils `arping -A`): op 2, sender `(our_mac, vip)`, target
///   `(our_mac, vip)`: `arping -A` repeats its own MAC as target hardware address.
///
/// Frames are zero-padded to 60 bytes.
pub fn gratuitous_arp(our_mac: Mac, vip: Ipv4Addr) -> [Vec<u8>; 2] {
    [
        encode_arp(
            BROADCAST_MAC,
            our_mac,
            ARP_OP_REQUEST,
            (our_mac, vip),
            (ZERO_MAC, vip),
        ),
        encode_arp(
            BROADCAST_MAC,
            our_mac,
            ARP_OP_REPLY,
            (our_mac, vip),
            (our_mac, vip),
        ),
    ]
}

/// A broadcast ARP request ("who has `target_ip`?") from `our_mac`, as `arping` sends it:
/// op 1, sender `(our_mac, sender_ip)`, target `(00:00:00:00:00:00, target_ip)`, Ethernet
/// destination broadcast. With `sender_ip` `0.0.0.0` it is an RFC 5227 probe (see
/// [`ArpRequest::is_probe`]), which the owner answers as well, unicast to `our_mac`. Padded to
/// 60 bytes.
pub fn arp_request(our_mac: Mac, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    encode_arp(
        BROADCAST_MAC,
        our_mac,
        ARP_OP_REQUEST,
        (our_mac, sender_ip),
        (ZERO_MAC, target_ip),
    )
}

/// Lays out one IPv4-over-Ethernet ARP packet (RFC 826) in an Ethernet frame.
fn encode_arp(
    eth_dst: Mac,
    eth_src: Mac,
    operation: u16,
    (sender_mac, sender_ip): (Mac, Ipv4Addr),
    (target_mac, target_ip): (Mac, Ipv4Addr),
) -> Vec<u8> {
    let mut body = [0u8; ARP_PACKET_LEN];
    body[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    body[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    body[4] = 6; // hardware address length
    body[5] = 4; // protocol address length
    body[6..8].copy_from_slice(&operation.to_be_bytes());
    body[8..14].copy_from_slice(&sender_mac);
    body[14..18].copy_from_slice(&sender_ip.octets());
    body[18..24].copy_from_slice(&target_mac);
    body[24..28].copy_from_slice(&target_ip.octets());
    build_frame(eth_dst, eth_src, ETHERTYPE_ARP, &body)
}
