//! ARP classification, reply and gratuitous-ARP tests.

use std::net::{IpAddr, Ipv4Addr};

use super::arp::{ARP_OP_REPLY, ARP_OP_REQUEST};
use super::test_frames::{OUR_MAC, PEER_MAC, arp_request, raw_arp};
use super::*;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn request(frame: &[u8]) -> ArpRequest {
    match classify(frame) {
        Some(Query::ArpRequest(r)) => r,
        other => panic!("expected an ARP request, got {other:?}"),
    }
}

#[test]
fn broadcast_request_is_classified_with_all_fields() {
    let r = request(&arp_request(PEER_IP, VIP));
    assert_eq!(
        r,
        ArpRequest {
            sender_mac: PEER_MAC,
            sender_ip: PEER_IP,
            target_ip: VIP,
            eth_dst: BROADCAST_MAC,
        }
    );
    assert!(!r.is_probe());
    assert_eq!(
        classify(&arp_request(PEER_IP, VIP)).unwrap().target_ip(),
        IpAddr::V4(VIP)
    );
}

#[test]
fn unicast_request_keeps_its_ethernet_destination() {
    let mut frame = arp_request(PEER_IP, VIP);
    frame[0..6].copy_from_slice(&OUR_MAC);
    assert_eq!(request(&frame).eth_dst, OUR_MAC);
}

#[test]
fn padded_request_is_accepted() {
    let mut frame = arp_request(PEER_IP, VIP);
    frame.resize(60, 0);
    assert_eq!(request(&frame).target_ip, VIP);
}

#[test]
fn rfc5227_probe_is_recognised() {
    let r = request(&arp_request(Ipv4Addr::UNSPECIFIED, VIP));
    assert!(r.is_probe());
    assert_eq!(r.target_ip, VIP);
}

#[test]
fn replies_and_other_operations_are_ignored() {
    for op in [0, ARP_OP_REPLY, 3, 4, 0xffff] {
        let f = raw_arp(
            OUR_MAC, PEER_MAC, 1, 0x0800, 6, 4, op, PEER_MAC, PEER_IP, OUR_MAC, VIP,
        );
        assert_eq!(classify(&f), None, "op {op}");
    }
}

#[test]
fn gratuitous_arp_from_others_is_ignored() {
    assert_eq!(classify(&arp_request(VIP, VIP)), None);
    // Our own announcements must not loop back into replies either.
    for frame in gratuitous_arp(OUR_MAC, VIP) {
        assert_eq!(classify(&frame), None);
    }
}

#[test]
fn non_ipv4_over_ethernet_arp_is_rejected() {
    let cases = [
        (6, 0x0800, 6, 4),
        (1, 0x86dd, 6, 4),
        (1, 0x0800, 8, 4),
        (1, 0x0800, 6, 16),
    ];
    for (htype, ptype, hlen, plen) in cases {
        let f = raw_arp(
            BROADCAST_MAC,
            PEER_MAC,
            htype,
            ptype,
            hlen,
            plen,
            ARP_OP_REQUEST,
            PEER_MAC,
            PEER_IP,
            [0; 6],
            VIP,
        );
        assert_eq!(classify(&f), None, "{htype} {ptype:#x} {hlen} {plen}");
        assert_eq!(decode_arp(&f), None);
    }
}

#[test]
fn group_sender_addresses_are_rejected() {
    let multicast = [0x01, 0x00, 0x5e, 0, 0, 1];
    let f = raw_arp(
        BROADCAST_MAC,
        PEER_MAC,
        1,
        0x0800,
        6,
        4,
        1,
        multicast,
        PEER_IP,
        [0; 6],
        VIP,
    );
    assert_eq!(classify(&f), None, "multicast sender hardware address");
    let f = raw_arp(
        BROADCAST_MAC,
        BROADCAST_MAC,
        1,
        0x0800,
        6,
        4,
        1,
        PEER_MAC,
        PEER_IP,
        [0; 6],
        VIP,
    );
    assert_eq!(classify(&f), None, "broadcast Ethernet source");
}

#[test]
fn vlan_tagged_and_truncated_frames_are_rejected() {
    let plain = arp_request(PEER_IP, VIP);
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]); // 802.1Q, VLAN 100
    tagged.extend_from_slice(&plain[12..]);
    assert_eq!(classify(&tagged), None);
    // The request proper is 42 bytes; the builder pads it to 60.
    for len in 0..super::ether::ETHERNET_HEADER_LEN + super::arp::ARP_PACKET_LEN {
        assert_eq!(classify(&plain[..len]), None, "truncated to {len}");
    }
}

#[test]
fn reply_round_trips_through_decode_arp() {
    let r = request(&arp_request(PEER_IP, VIP));
    let reply = arp_reply(OUR_MAC, VIP, &r);
    assert_eq!(reply.len(), 60);
    let m = decode_arp(&reply).unwrap();
    assert_eq!(
        m,
        ArpMessage {
            eth_dst: PEER_MAC,
            eth_src: OUR_MAC,
            operation: ARP_OP_REPLY,
            sender_mac: OUR_MAC,
            sender_ip: VIP,
            target_mac: PEER_MAC,
            target_ip: PEER_IP,
        }
    );
    assert_eq!(classify(&reply), None, "a reply is not a query");
    assert_eq!(Query::ArpRequest(r).reply(OUR_MAC), reply);
}

#[test]
fn reply_golden_bytes() {
    let r = request(&arp_request(PEER_IP, VIP));
    #[rustfmt::skip]
    let expected: [u8; 60] = [
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // eth dst: requester
        0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, // eth src: us
        0x08, 0x06,                         // ARP
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet, IPv4, 6, 4
        0x00, 0x02,                         // reply
        0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, 192, 0, 2, 10, // sender: us, VIP
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 192, 0, 2, 1,  // target: requester
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60
    ];
    assert_eq!(arp_reply(OUR_MAC, VIP, &r), expected);
}

#[test]
fn probe_reply_is_unicast_to_the_prober_with_target_ip_zero() {
    let r = request(&arp_request(Ipv4Addr::UNSPECIFIED, VIP));
    let m = decode_arp(&arp_reply(OUR_MAC, VIP, &r)).unwrap();
    assert_eq!(m.eth_dst, PEER_MAC);
    assert_eq!((m.operation, m.sender_ip), (ARP_OP_REPLY, VIP));
    assert_eq!(
        (m.target_mac, m.target_ip),
        (PEER_MAC, Ipv4Addr::UNSPECIFIED)
    );
}

#[test]
fn gratuitous_arp_request_and_reply_forms() {
    let [req, rep] = gratuitous_arp(OUR_MAC, VIP);
    assert_eq!((req.len(), rep.len()), (60, 60));
    let req = decode_arp(&req).unwrap();
    assert_eq!(
        req,
        ArpMessage {
            eth_dst: BROADCAST_MAC,
            eth_src: OUR_MAC,
            operation: ARP_OP_REQUEST,
            sender_mac: OUR_MAC,
            sender_ip: VIP,
            target_mac: [0; 6],
            target_ip: VIP,
        }
    );
    let rep = decode_arp(&rep).unwrap();
    assert_eq!(
        rep,
        ArpMessage {
            operation: ARP_OP_REPLY,
            target_mac: OUR_MAC,
            ..req
        }
    );
}

#[test]
fn request_builder_lays_out_what_raw_arp_does() {
    for sender in [PEER_IP, Ipv4Addr::UNSPECIFIED] {
        let frame = arp_request(sender, VIP);
        let raw = raw_arp(
            [0xff; 6], PEER_MAC, 1, 0x0800, 6, 4, 1, PEER_MAC, sender, [0; 6], VIP,
        );
        assert_eq!(frame.len(), 60, "padded to the Ethernet minimum");
        assert_eq!(&frame[..raw.len()], &raw[..]);
        assert!(frame[raw.len()..].iter().all(|b| *b == 0));
    }
}
