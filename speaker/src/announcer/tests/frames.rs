//! Queries as a client sends them, for the unit tests and for `speaker/tests/announcer.rs`
//! (which includes this file with `#[path]`, hence only `std` and `pnet_packet` here).

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::util::ipv6_checksum;

/// An ARP request (op 1) "who has `target_ip`, tell `sender_ip`", sent to `eth_dst`
/// (broadcast, or a MAC for a unicast request), padded to 60 bytes.
pub fn arp_request(
    eth_dst: [u8; 6],
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender_ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target_ip.octets());
    f.resize(60, 0);
    f
}

/// A Neighbor Solicitation for `target` from `ip_src` (with a Source Link-Layer Address option
/// `eth_src`) to `ip_dst`: the solicited-node address of `target` (multicast) or `target`
/// itself (unicast reachability probe), in an Ethernet frame to `eth_dst`. Hop limit 255,
/// valid checksum.
pub fn neighbor_solicitation(
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    ip_src: Ipv6Addr,
    ip_dst: Ipv6Addr,
    target: Ipv6Addr,
) -> Vec<u8> {
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&eth_src);
    let sum = ipv6_checksum(
        &icmp,
        1,
        &[],
        &ip_src,
        &ip_dst,
        IpNextHeaderProtocols::Icmpv6,
    );
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&ip_src.octets());
    f.extend_from_slice(&ip_dst.octets());
    f.extend_from_slice(&icmp);
    f
}
