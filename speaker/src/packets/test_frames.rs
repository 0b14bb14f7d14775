//! Test-only frame builders and an independent ICMPv6 checksum (RFC 1071), written without
//! pnet or the production encoders so that tests cross-check them.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ether::Mac;
use super::{NeighborSolicitation, Query, classify};

pub const OUR_MAC: Mac = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc];
pub const PEER_MAC: Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// RFC 1071 one's-complement sum over the IPv6 pseudo-header (RFC 8200 §8.1, next header 58)
/// followed by `icmp`, folded to 16 bits (not inverted).
fn pseudo_header_sum(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> u16 {
    let mut bytes = Vec::with_capacity(40 + icmp.len());
    bytes.extend_from_slice(&src.octets());
    bytes.extend_from_slice(&dst.octets());
    bytes.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 58]);
    bytes.extend_from_slice(icmp);
    let mut sum: u64 = 0;
    for pair in bytes.chunks(2) {
        let lo = pair.get(1).copied().map_or(0, u64::from);
        sum += (u64::from(pair[0]) << 8) | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Whether the ICMPv6 message `icmp` (checksum field included) checks out: the sum over the
/// pseudo-header and message must be 0xffff.
pub fn icmpv6_checksum_ok(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> bool {
    pseudo_header_sum(src, dst, icmp) == 0xffff
}

/// The checksum to store for `icmp` (whose checksum field must be zero).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> u16 {
    !pseudo_header_sum(src, dst, icmp)
}

/// Raw ARP frame with every field settable (layout as for IPv4 over Ethernet), unpadded.
#[allow(clippy::too_many_arguments)]
pub fn raw_arp(
    eth_dst: Mac,
    eth_src: Mac,
    htype: u16,
    ptype: u16,
    hlen: u8,
    plen: u8,
    op: u16,
    sha: Mac,
    spa: Ipv4Addr,
    tha: Mac,
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&htype.to_be_bytes());
    f.extend_from_slice(&ptype.to_be_bytes());
    f.extend_from_slice(&[hlen, plen]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

/// A plain broadcast who-has request from `PEER_MAC`/`sender_ip` for `target_ip`: the
/// production builder ([`super::arp_request`], the one the speaker's probe sends), checked
/// against [`raw_arp`] by `arp_tests`.
pub fn arp_request(sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    super::arp_request(PEER_MAC, sender_ip, target_ip)
}

/// Every knob of a Neighbor Solicitation frame.
#[derive(Debug, Clone)]
pub struct NsSpec {
    pub eth_dst: Mac,
    pub eth_src: Mac,
    pub hop_limit: u8,
    pub ip_src: Ipv6Addr,
    pub ip_dst: Ipv6Addr,
    pub icmp_type: u8,
    pub code: u8,
    pub target: Ipv6Addr,
    /// Raw option bytes after the 24-byte fixed part.
    pub options: Vec<u8>,
    /// Added to the correct checksum (0 keeps it valid).
    pub checksum_delta: u16,
    /// Cut the ICMPv6 message to this many bytes (IPv6 payload length follows).
    pub truncate_icmp: Option<usize>,
}

impl NsSpec {
    /// A valid multicast NS from `PEER_MAC` / fe80::1 for `target`, with an SLLA option.
    pub fn multicast(target: Ipv6Addr) -> NsSpec {
        let dst = super::solicited_node_multicast(target);
        NsSpec {
            eth_dst: super::multicast_mac(dst),
            eth_src: PEER_MAC,
            hop_limit: 255,
            ip_src: "fe80::1".parse().unwrap(),
            ip_dst: dst,
            icmp_type: 135,
            code: 0,
            target,
            options: slla(PEER_MAC),
            checksum_delta: 0,
            truncate_icmp: None,
        }
    }

    /// Builds the Ethernet frame.
    pub fn frame(&self) -> Vec<u8> {
        let mut icmp = vec![self.icmp_type, self.code, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&self.target.octets());
        icmp.extend_from_slice(&self.options);
        if let Some(len) = self.truncate_icmp {
            icmp.truncate(len);
        }
        let sum =
            icmpv6_checksum(self.ip_src, self.ip_dst, &icmp).wrapping_add(self.checksum_delta);
        if icmp.len() >= 4 {
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        let mut f = Vec::new();
        f.extend_from_slice(&self.eth_dst);
        f.extend_from_slice(&self.eth_src);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        f.extend_from_slice(&[58, self.hop_limit]);
        f.extend_from_slice(&self.ip_src.octets());
        f.extend_from_slice(&self.ip_dst.octets());
        f.extend_from_slice(&icmp);
        f
    }
}

/// A Source Link-Layer Address option for `mac`.
pub fn slla(mac: Mac) -> Vec<u8> {
    let mut o = vec![1, 1];
    o.extend_from_slice(&mac);
    o
}

/// Parses an IPv6 address literal (tests only).
pub fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The VIP the NDP tests answer for.
pub fn vip() -> Ipv6Addr {
    ip("2001:db8::10")
}

/// The neighbor solicitation in `frame`, or a test failure.
pub fn solicitation(frame: &[u8]) -> NeighborSolicitation {
    match classify(frame) {
        Some(Query::NeighborSolicitation(ns)) => ns,
        other => panic!("expected a neighbor solicitation, got {other:?}"),
    }
}
