//! IPv6 Neighbor Discovery (RFC 4861) over Ethernet: validating Neighbor Solicitations and
//! building Neighbor Advertisements.
//!
//! Only ICMPv6 carried directly after the fixed IPv6 header is understood: a solicitation behind
//! an extension header (e.g. hop-by-hop options) is not recognised (`None`). Hosts do not send
//! NS that way in practice.

use std::net::Ipv6Addr;

use pnet_packet::icmpv6::Icmpv6Packet;
use pnet_packet::icmpv6::ndp::{NeighborAdvertPacket, NeighborSolicitPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::util::ipv6_checksum;

use super::ether::{
    ETHERTYPE_IPV6, EthernetFrame, Mac, build_frame, is_group_mac, multicast_mac, parse_ethernet,
};

/// The link-local all-nodes multicast address `ff02::1`.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Ethernet multicast MAC of [`ALL_NODES`]: `33:33:00:00:00:01`.
pub const ALL_NODES_MAC: Mac = [0x33, 0x33, 0, 0, 0, 1];

/// The IPv6 hop limit every Neighbor Discovery message is sent with and must arrive with
/// (RFC 4861 §7.1): proof that it was not forwarded by a router.
pub const ND_HOP_LIMIT: u8 = 255;

/// ICMPv6 type of a Neighbor Solicitation.
pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;

/// ICMPv6 type of a Neighbor Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;

/// NDP option type of the Source Link-Layer Address option.
pub const OPTION_SOURCE_LLADDR: u8 = 1;

/// NDP option type of the Target Link-Layer Address option.
pub const OPTION_TARGET_LLADDR: u8 = 2;

/// Neighbor Advertisement Router flag.
pub const NA_FLAG_ROUTER: u8 = 0x80;

/// Neighbor Advertisement Solicited flag.
pub const NA_FLAG_SOLICITED: u8 = 0x40;

/// Neighbor Advertisement Override flag.
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

const IPV6_HEADER_LEN: usize = 40;
/// Fixed part of NS and NA: type, code, checksum, 4 bytes flags/reserved, 16 bytes target.
const ND_FIXED_LEN: usize = 24;
/// An NS or NA we send: fixed part plus one 8-byte link-layer address option.
const NA_LEN: usize = ND_FIXED_LEN + 8;

/// A valid Neighbor Solicitation (RFC 4861 §7.1.1) that deserves an answer if we own `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborSolicitation {
    /// Ethernet source of the solicitation.
    pub eth_src: Mac,
    /// IPv6 source; `::` for Duplicate Address Detection (RFC 4862 §5.4).
    pub ip_src: Ipv6Addr,
    /// IPv6 destination: the solicited-node multicast address of `target`, or a unicast
    /// address (normally `target` itself, for a neighbour unreachability probe).
    pub ip_dst: Ipv6Addr,
    /// The address being asked for (never multicast).
    pub target: Ipv6Addr,
    /// Source Link-Layer Address option, if present (never with `ip_src` `::`).
    pub source_lladdr: Option<Mac>,
}

impl NeighborSolicitation {
    /// Whether this is a Duplicate Address Detection probe (IPv6 source `::`): another node
    /// checking that `target` is free before it starts using it.
    pub fn is_dad(&self) -> bool {
        self.ip_src.is_unspecified()
    }
}

/// A Neighbor Advertisement that passed the RFC 4861 §7.1.2 checks. Returned by
/// [`decode_neighbor_advertisement`]; useful to inspect our own output in tests or another
/// node's advertisement for an address we own (a conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvertisement {
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// Ethernet source.
    pub eth_src: Mac,
    /// IPv6 source.
    pub ip_src: Ipv6Addr,
    /// IPv6 destination.
    pub ip_dst: Ipv6Addr,
    /// Router flag (R).
    pub router_flag: bool,
    /// Solicited flag (S).
    pub solicited_flag: bool,
    /// Override flag (O).
    pub override_flag: bool,
    /// The address being advertised.
    pub target: Ipv6Addr,
    /// Target Link-Layer Address option, if present.
    pub target_lladdr: Option<Mac>,
}

/// The solicited-node multicast address of `ip` (RFC 4291 §2.7.1): `ff02::1:ff00:0/104` with
/// the low 24 bits of `ip`.
pub fn solicited_node_multicast(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// A Neighbor Discovery message whose IPv6 and ICMPv6 envelope is valid.
struct NdMessage<'a> {
    ip_src: Ipv6Addr,
    ip_dst: Ipv6Addr,
    /// The ICMPv6 message, exactly as long as the IPv6 payload length says (>= 24 bytes).
    icmp: &'a [u8],
}

/// Checks the parts of RFC 4861 §7.1.1 / §7.1.2 common to NS and NA: IPv6 version 6, next
/// header ICMPv6, hop limit 255, the IPv6 payload present in full, ICMPv6 type as wanted,
/// code 0, length >= 24 and a correct checksum.
fn parse_nd<'a>(eth: &EthernetFrame<'a>, icmp_type: u8) -> Option<NdMessage<'a>> {
    if eth.ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = Ipv6Packet::new(eth.payload)?;
    if ip.get_version() != 6
        || ip.get_next_header() != IpNextHeaderProtocols::Icmpv6
        || ip.get_hop_limit() != ND_HOP_LIMIT
    {
        return None;
    }
    let icmp_end = IPV6_HEADER_LEN + usize::from(ip.get_payload_length());
    let icmp = eth.payload.get(IPV6_HEADER_LEN..icmp_end)?;
    let header = Icmpv6Packet::new(icmp)?;
    let (ip_src, ip_dst) = (ip.get_source(), ip.get_destination());
    let valid = icmp.len() >= ND_FIXED_LEN
        && header.get_icmpv6_type().0 == icmp_type
        && header.get_icmpv6_code().0 == 0
        && header.get_checksum() == icmpv6_checksum(icmp, ip_src, ip_dst);
    valid.then_some(NdMessage {
        ip_src,
        ip_dst,
        icmp,
    })
}

/// The ICMPv6 checksum (RFC 4443 §2.3) of `icmp` under the IPv6 pseudo-header, skipping the
/// checksum field itself. `icmp` must be at most 65535 bytes (an IPv6 payload always is).
fn icmpv6_checksum(icmp: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    ipv6_checksum(icmp, 1, &[], &src, &dst, IpNextHeaderProtocols::Icmpv6)
}

/// Walks the NDP options after the fixed part and returns the first link-layer address option
/// of type `kind`, if any. Outer `None` means the options are invalid: an option of length 0
/// (RFC 4861 §7.1.1), an option running past the end, or a link-layer option whose length is
/// not 1 (8 bytes, the size for Ethernet, RFC 4861 §4.6.1; Linux drops those messages too).
/// Later duplicates of `kind` are ignored, as Linux does.
fn lladdr_option(mut options: &[u8], kind: u8) -> Option<Option<Mac>> {
    let mut found = None;
    while !options.is_empty() {
        let [option_type, units, ..] = *options else {
            return None;
        };
        if units == 0 {
            return None;
        }
        let (option, rest) = options.split_at_checked(usize::from(units) * 8)?;
        if option_type == kind && found.is_none() {
            if units != 1 {
                return None;
            }
            found = Some(Mac::try_from(option.get(2..8)?).ok()?);
        }
        options = rest;
    }
    Some(found)
}

/// Recognises a Neighbor Solicitation worth answering. Enforces RFC 4861 §7.1.1 (hop limit
/// 255, code 0, length >= 24, valid checksum, target not multicast, options of non-zero
/// length, and for source `::` a solicited-node destination and no Source Link-Layer Address
/// option), plus: the IPv6 source is not multicast, a multicast destination is the
/// solicited-node address of the target itself, a unicast destination is not `::`, and the
/// Source Link-Layer Address is a unicast MAC (we would send our answer to it).
pub(super) fn solicitation_from(eth: &EthernetFrame<'_>) -> Option<NeighborSolicitation> {
    let msg = parse_nd(eth, ICMPV6_NEIGHBOR_SOLICITATION)?;
    let target = NeighborSolicitPacket::new(msg.icmp)?.get_target_addr();
    let source_lladdr = lladdr_option(msg.icmp.get(ND_FIXED_LEN..)?, OPTION_SOURCE_LLADDR)?;
    let dst_ok = if msg.ip_dst.is_multicast() {
        msg.ip_dst == solicited_node_multicast(target)
    } else {
        !msg.ip_dst.is_unspecified()
    };
    let dad_ok =
        !msg.ip_src.is_unspecified() || (msg.ip_dst.is_multicast() && source_lladdr.is_none());
    let valid = dst_ok
        && dad_ok
        && !target.is_multicast()
        && !msg.ip_src.is_multicast()
        && !source_lladdr.is_some_and(is_group_mac);
    valid.then_some(NeighborSolicitation {
        eth_src: eth.src,
        ip_src: msg.ip_src,
        ip_dst: msg.ip_dst,
        target,
        source_lladdr,
    })
}

/// Decodes and validates a Neighbor Advertisement per RFC 4861 §7.1.2: hop limit 255, valid
/// checksum, code 0, length >= 24, target not multicast, Solicited flag clear when the
/// destination is multicast, options of non-zero length (and a Target Link-Layer Address
/// option, if present, of length 1). Returns `None` otherwise. Never panics.
pub fn decode_neighbor_advertisement(frame: &[u8]) -> Option<NeighborAdvertisement> {
    let eth = parse_ethernet(frame)?;
    let msg = parse_nd(&eth, ICMPV6_NEIGHBOR_ADVERTISEMENT)?;
    let na = NeighborAdvertPacket::new(msg.icmp)?;
    let (flags, target) = (na.get_flags(), na.get_target_addr());
    let target_lladdr = lladdr_option(msg.icmp.get(ND_FIXED_LEN..)?, OPTION_TARGET_LLADDR)?;
    let solicited_flag = flags & NA_FLAG_SOLICITED != 0;
    if target.is_multicast() || (solicited_flag && msg.ip_dst.is_multicast()) {
        return None;
    }
    Some(NeighborAdvertisement {
        eth_dst: eth.dst,
        eth_src: eth.src,
        ip_src: msg.ip_src,
        ip_dst: msg.ip_dst,
        router_flag: flags & NA_FLAG_ROUTER != 0,
        solicited_flag,
        override_flag: flags & NA_FLAG_OVERRIDE != 0,
        target,
        target_lladdr,
    })
}

/// The solicited Neighbor Advertisement answering `ns` with "`vip` is at `our_mac`"
/// (RFC 4861 §7.2.4).
///
/// IPv6 source `vip`, hop limit 255, target `vip`, Router flag clear, Override set, Target
/// Link-Layer Address option `our_mac`, valid ICMPv6 checksum. Addressing:
/// - `ns.ip_src` is `::` (DAD): to all-nodes `ff02::1` / `33:33:00:00:00:01`, Solicited
///   flag clear (RFC 4861 §7.2.4).
/// - otherwise: to `ns.ip_src`, Ethernet destination the Source Link-Layer Address option if
///   present, else the solicitation's Ethernet source; Solicited flag set.
///
/// `vip` should be `ns.target` once the caller has checked that it owns it.
pub fn neighbor_advertisement(our_mac: Mac, vip: Ipv6Addr, ns: &NeighborSolicitation) -> Vec<u8> {
    if ns.is_dad() {
        encode_na(our_mac, vip, ALL_NODES_MAC, ALL_NODES, NA_FLAG_OVERRIDE)
    } else {
        let eth_dst = ns.source_lladdr.unwrap_or(ns.eth_src);
        let flags = NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE;
        encode_na(our_mac, vip, eth_dst, ns.ip_src, flags)
    }
}

/// An unsolicited Neighbor Advertisement (RFC 4861 §7.2.6) announcing "`vip` is at
/// `our_mac`": from `vip` to all-nodes `ff02::1` (Ethernet `33:33:00:00:00:01`), hop limit
/// 255, Override set, Solicited and Router clear, Target Link-Layer Address option `our_mac`.
pub fn unsolicited_na(our_mac: Mac, vip: Ipv6Addr) -> Vec<u8> {
    encode_na(our_mac, vip, ALL_NODES_MAC, ALL_NODES, NA_FLAG_OVERRIDE)
}

/// A multicast Neighbor Solicitation ("who has `target`?") from `our_mac` / `src`, as
/// `ndisc6` sends it: to the solicited-node multicast address of `target` (and its Ethernet
/// group), hop limit 255, with a Source Link-Layer Address option `our_mac`, valid checksum.
/// `src` must be an address of the sending interface (link-local or global), not `::`: the
/// owner answers with a solicited Neighbor Advertisement to `src` at `our_mac`.
pub fn neighbor_solicitation(our_mac: Mac, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let ip_dst = solicited_node_multicast(target);
    let message = NdOut {
        kind: ICMPV6_NEIGHBOR_SOLICITATION,
        flags: 0,
        target,
        option: OPTION_SOURCE_LLADDR,
    };
    message.frame(our_mac, (src, ip_dst), multicast_mac(ip_dst))
}

/// Lays out an NA for `vip` with a Target Link-Layer Address option, in IPv6 and Ethernet.
fn encode_na(our_mac: Mac, vip: Ipv6Addr, eth_dst: Mac, ip_dst: Ipv6Addr, flags: u8) -> Vec<u8> {
    let message = NdOut {
        kind: ICMPV6_NEIGHBOR_ADVERTISEMENT,
        flags,
        target: vip,
        option: OPTION_TARGET_LLADDR,
    };
    message.frame(our_mac, (vip, ip_dst), eth_dst)
}

/// An outgoing Neighbor Solicitation or Advertisement about `target` carrying our MAC in a link-layer
/// address option (`option`: source for an NS, target for an NA).
struct NdOut {
    kind: u8,
    flags: u8,
    target: Ipv6Addr,
    option: u8,
}

impl NdOut {
    /// The whole frame from `our_mac`, IPv6 `(src, dst)`, to `eth_dst`, checksum included.
    fn frame(&self, our_mac: Mac, (src, ip_dst): (Ipv6Addr, Ipv6Addr), eth_dst: Mac) -> Vec<u8> {
        let mut icmp = [0u8; NA_LEN];
        icmp[0] = self.kind;
        icmp[4] = self.flags;
        icmp[8..24].copy_from_slice(&self.target.octets());
        icmp[24] = self.option;
        icmp[25] = 1; // option length in units of 8 bytes
        icmp[26..32].copy_from_slice(&our_mac);
        let checksum = icmpv6_checksum(&icmp, src, ip_dst);
        icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
        nd_frame(our_mac, eth_dst, src, ip_dst, &icmp)
    }
}

/// Wraps a 32-byte ND message (NS or NA with one link-layer option) in IPv6 (hop limit 255)
/// and Ethernet.
fn nd_frame(
    eth_src: Mac,
    eth_dst: Mac,
    ip_src: Ipv6Addr,
    ip_dst: Ipv6Addr,
    icmp: &[u8; NA_LEN],
) -> Vec<u8> {
    let mut packet = [0u8; IPV6_HEADER_LEN + NA_LEN];
    packet[0] = 0x60; // version 6, traffic class and flow label 0
    packet[4..6].copy_from_slice(&(NA_LEN as u16).to_be_bytes());
    packet[6] = IpNextHeaderProtocols::Icmpv6.0;
    packet[7] = ND_HOP_LIMIT;
    packet[8..24].copy_from_slice(&ip_src.octets());
    packet[24..40].copy_from_slice(&ip_dst.octets());
    packet[IPV6_HEADER_LEN..].copy_from_slice(icmp);
    build_frame(eth_dst, eth_src, ETHERTYPE_IPV6, &packet)
}
