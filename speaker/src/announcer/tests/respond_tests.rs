use std::collections::BTreeSet;
use std::net::IpAddr;

use super::frames::{arp_request, neighbor_solicitation};
use super::{CLIENT_MAC, CLIENT_V4, CLIENT_V6, OTHER_MAC, OUR_MAC, VIP_V4, VIP_V6};
use crate::announcer::respond::{Answer, answer, group_mac, takeover_frames};
use crate::packets::{
    ALL_NODES, ALL_NODES_MAC, BROADCAST_MAC, decode_arp, decode_neighbor_advertisement,
    multicast_mac, solicited_node_multicast,
};

fn owned() -> BTreeSet<IpAddr> {
    [IpAddr::V4(VIP_V4), IpAddr::V6(VIP_V6)].into()
}

fn answer_owned(frame: &[u8]) -> Option<Answer> {
    let set = owned();
    answer(frame, OUR_MAC, |ip| set.contains(&ip))
}

fn arp_reply_of(frame: &[u8]) -> Vec<u8> {
    match answer_owned(frame) {
        Some(Answer::ArpReply(reply)) => reply,
        other => panic!("expected an ARP reply, got {other:?}"),
    }
}

#[test]
fn arp_requests_for_owned_vips_are_answered_broadcast_or_unicast() {
    for eth_dst in [BROADCAST_MAC, OUR_MAC] {
        let reply = arp_reply_of(&arp_request(eth_dst, CLIENT_MAC, CLIENT_V4, VIP_V4));
        let msg = decode_arp(&reply).unwrap();
        assert_eq!(msg.operation, 2);
        assert_eq!((msg.eth_dst, msg.eth_src), (CLIENT_MAC, OUR_MAC));
        assert_eq!((msg.sender_mac, msg.sender_ip), (OUR_MAC, VIP_V4));
        assert_eq!((msg.target_mac, msg.target_ip), (CLIENT_MAC, CLIENT_V4));
    }
}

#[test]
fn arp_requests_for_anything_else_or_not_sent_to_us_are_ignored() {
    let other_ip = "198.51.100.201".parse().unwrap();
    assert_eq!(
        answer_owned(&arp_request(BROADCAST_MAC, CLIENT_MAC, CLIENT_V4, other_ip)),
        None
    );
    // A unicast request to another host (seen in promiscuous mode) is not ours to answer.
    assert_eq!(
        answer_owned(&arp_request(OTHER_MAC, CLIENT_MAC, CLIENT_V4, VIP_V4)),
        None
    );
    // Nothing owned: nothing answered.
    let frame = arp_request(BROADCAST_MAC, CLIENT_MAC, CLIENT_V4, VIP_V4);
    assert_eq!(answer(&frame, OUR_MAC, |_| false), None);
    // Our own announcement is not a question.
    for garp in takeover_frames(OUR_MAC, VIP_V4.into()) {
        assert_eq!(answer_owned(&garp), None);
    }
    assert_eq!(answer_owned(&[]), None);
    assert_eq!(answer_owned(&[0xff; 5]), None);
}

#[test]
fn neighbor_solicitations_for_owned_vips_are_answered_multicast_or_unicast() {
    let group = solicited_node_multicast(VIP_V6);
    for (eth_dst, ip_dst) in [(multicast_mac(group), group), (OUR_MAC, VIP_V6)] {
        let ns = neighbor_solicitation(eth_dst, CLIENT_MAC, CLIENT_V6, ip_dst, VIP_V6);
        let Some(Answer::NeighborAdvertisement(reply)) = answer_owned(&ns) else {
            panic!("expected an NA for NS to {ip_dst}");
        };
        let na = decode_neighbor_advertisement(&reply).expect("valid NA, hop limit 255");
        assert_eq!((na.eth_dst, na.eth_src), (CLIENT_MAC, OUR_MAC));
        assert_eq!(
            (na.ip_src, na.ip_dst, na.target),
            (VIP_V6, CLIENT_V6, VIP_V6)
        );
        assert!(na.solicited_flag && na.override_flag && !na.router_flag);
        assert_eq!(na.target_lladdr, Some(OUR_MAC));
    }
}

#[test]
fn neighbor_solicitations_for_anything_else_are_ignored() {
    let other: std::net::Ipv6Addr = "2001:db8:100::201".parse().unwrap();
    let group = solicited_node_multicast(other);
    let ns = neighbor_solicitation(multicast_mac(group), CLIENT_MAC, CLIENT_V6, group, other);
    assert_eq!(answer_owned(&ns), None);
    let to_other = neighbor_solicitation(OTHER_MAC, CLIENT_MAC, CLIENT_V6, VIP_V6, VIP_V6);
    assert_eq!(answer_owned(&to_other), None);
    let mut bad_checksum = neighbor_solicitation(OUR_MAC, CLIENT_MAC, CLIENT_V6, VIP_V6, VIP_V6);
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 1;
    assert_eq!(answer_owned(&bad_checksum), None);
    assert_eq!(
        answer_owned(&takeover_frames(OUR_MAC, VIP_V6.into())[0]),
        None
    );
}

#[test]
fn takeover_is_gratuitous_arp_in_both_forms_for_ipv4() {
    let frames = takeover_frames(OUR_MAC, VIP_V4.into());
    let ops: Vec<u16> = frames
        .iter()
        .map(|f| {
            let m = decode_arp(f).unwrap();
            assert_eq!((m.eth_dst, m.eth_src), (BROADCAST_MAC, OUR_MAC));
            assert_eq!(
                (m.sender_mac, m.sender_ip, m.target_ip),
                (OUR_MAC, VIP_V4, VIP_V4)
            );
            m.operation
        })
        .collect();
    assert_eq!(ops, [1, 2]);
}

#[test]
fn takeover_is_an_unsolicited_override_na_to_all_nodes_for_ipv6() {
    let frames = takeover_frames(OUR_MAC, VIP_V6.into());
    assert_eq!(frames.len(), 1);
    let na = decode_neighbor_advertisement(&frames[0]).unwrap();
    assert_eq!(
        (na.eth_dst, na.ip_dst, na.target),
        (ALL_NODES_MAC, ALL_NODES, VIP_V6)
    );
    assert!(na.override_flag && !na.solicited_flag);
    assert_eq!(na.target_lladdr, Some(OUR_MAC));
}

#[test]
fn group_mac_is_the_solicited_node_group_for_ipv6_only() {
    assert_eq!(
        group_mac(VIP_V6.into()),
        Some([0x33, 0x33, 0xff, 0x00, 0x02, 0x00])
    );
    assert_eq!(group_mac(VIP_V4.into()), None);
}
