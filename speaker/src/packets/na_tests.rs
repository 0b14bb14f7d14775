//! Neighbor Advertisement encoding tests: round trips, golden bytes, independent checksums.

use std::net::Ipv6Addr;

use super::test_frames::{
    NsSpec, OUR_MAC, PEER_MAC, icmpv6_checksum, icmpv6_checksum_ok, ip, solicitation, vip,
};
use super::*;

/// Independent look at an encoded NA: hop limit, payload length and checksum.
fn assert_well_formed_na(frame: &[u8]) {
    assert_eq!(frame.len(), 86);
    assert_eq!(&frame[12..14], &[0x86, 0xdd]);
    assert_eq!(frame[14] >> 4, 6);
    assert_eq!(u16::from_be_bytes([frame[18], frame[19]]), 32);
    assert_eq!((frame[20], frame[21]), (58, 255));
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap());
    assert!(icmpv6_checksum_ok(src, dst, &frame[54..]), "checksum");
}

#[test]
fn solicited_na_round_trips() {
    let ns = NsSpec {
        eth_src: [0x02, 7, 7, 7, 7, 7], // differs from SLLA: SLLA must win
        ..NsSpec::multicast(vip())
    };
    let ns = solicitation(&ns.frame());
    let na = neighbor_advertisement(OUR_MAC, vip(), &ns);
    assert_well_formed_na(&na);
    assert_eq!(
        decode_neighbor_advertisement(&na).unwrap(),
        NeighborAdvertisement {
            eth_dst: PEER_MAC,
            eth_src: OUR_MAC,
            ip_src: vip(),
            ip_dst: ip("fe80::1"),
            router_flag: false,
            solicited_flag: true,
            override_flag: true,
            target: vip(),
            target_lladdr: Some(OUR_MAC),
        }
    );
    assert_eq!(classify(&na), None, "an NA is not a query");
    assert_eq!(Query::NeighborSolicitation(ns).reply(OUR_MAC), na);
}

#[test]
fn na_without_slla_goes_to_the_ethernet_source() {
    let spec = NsSpec {
        eth_dst: OUR_MAC,
        ip_dst: vip(),
        options: vec![],
        ..NsSpec::multicast(vip())
    };
    let na = neighbor_advertisement(OUR_MAC, vip(), &solicitation(&spec.frame()));
    assert_well_formed_na(&na);
    assert_eq!(
        decode_neighbor_advertisement(&na).unwrap().eth_dst,
        PEER_MAC
    );
}

#[test]
fn dad_answer_goes_to_all_nodes_without_solicited_flag() {
    let spec = NsSpec {
        ip_src: Ipv6Addr::UNSPECIFIED,
        options: vec![],
        ..NsSpec::multicast(vip())
    };
    let na = neighbor_advertisement(OUR_MAC, vip(), &solicitation(&spec.frame()));
    assert_well_formed_na(&na);
    let d = decode_neighbor_advertisement(&na).unwrap();
    assert_eq!((d.eth_dst, d.ip_dst), (ALL_NODES_MAC, ALL_NODES));
    assert_eq!(
        (d.solicited_flag, d.override_flag, d.router_flag),
        (false, true, false)
    );
}

#[test]
fn unsolicited_na_fields() {
    let na = unsolicited_na(OUR_MAC, vip());
    assert_well_formed_na(&na);
    let d = decode_neighbor_advertisement(&na).unwrap();
    assert_eq!(
        (d.eth_dst, d.eth_src, d.ip_src, d.ip_dst),
        (ALL_NODES_MAC, OUR_MAC, vip(), ALL_NODES)
    );
    assert_eq!(
        (d.solicited_flag, d.override_flag, d.router_flag),
        (false, true, false)
    );
    assert_eq!((d.target, d.target_lladdr), (vip(), Some(OUR_MAC)));
}

#[test]
fn na_golden_bytes() {
    let ns = solicitation(&NsSpec::multicast(vip()).frame());
    // Checksum by hand: pseudo-header words 2001+0db8+0010 (src) + fe80+0001 (dst) + 0020
    // (length) + 003a (next header), message words 8800+6000+2001+0db8+0010+0201+0200+00aa+bbcc
    // = 0x302e4 -> folded 0x02e7 -> complement 0xfd18.
    #[rustfmt::skip]
    let expected: [u8; 86] = [
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, 0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, // version, length 32, ICMPv6, hop 255
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, // src 2001:db8::10
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01,       // dst fe80::1
        0x88, 0x00, 0xfd, 0x18, // NA, code 0, checksum
        0x60, 0x00, 0x00, 0x00, // S + O
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, // target
        0x02, 0x01, 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, // TLLA option
    ];
    assert_eq!(neighbor_advertisement(OUR_MAC, vip(), &ns), expected);
}

#[test]
fn na_decoder_rejects_solicited_flag_to_multicast() {
    let mut na = unsolicited_na(OUR_MAC, vip());
    na[58] |= 0x40; // set S; fix the checksum so only the flag rule can reject
    na[56..58].copy_from_slice(&[0, 0]);
    let sum = icmpv6_checksum(vip(), ALL_NODES, &na[54..]);
    na[56..58].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(decode_neighbor_advertisement(&na), None);
    na[58] &= !0x40;
    na[56..58].copy_from_slice(&[0, 0]);
    let sum = icmpv6_checksum(vip(), ALL_NODES, &na[54..]);
    na[56..58].copy_from_slice(&sum.to_be_bytes());
    assert!(
        decode_neighbor_advertisement(&na).is_some(),
        "control: flag cleared again"
    );
}

#[test]
fn multicast_address_helpers() {
    let target = ip("2001:db8::1:2345:6789");
    assert_eq!(solicited_node_multicast(target), ip("ff02::1:ff45:6789"));
    assert_eq!(
        multicast_mac(ip("ff02::1:ff45:6789")),
        [0x33, 0x33, 0xff, 0x45, 0x67, 0x89]
    );
    assert_eq!(multicast_mac(ALL_NODES), ALL_NODES_MAC);
}
