//! Property tests: decoders never panic, encoders always read back.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::test_frames::{NsSpec, OUR_MAC, arp_request, slla};
use super::*;

/// Every decoder plus, when something was recognised, the reply path. Must not panic.
fn exercise(frame: &[u8]) {
    if let Some(query) = classify(frame) {
        let reply = query.reply(OUR_MAC);
        assert!(reply.len() >= 60);
    }
    let _ = decode_arp(frame);
    let _ = decode_neighbor_advertisement(frame);
}

fn valid_frames() -> Vec<Vec<u8>> {
    let vip6: Ipv6Addr = "2001:db8::10".parse().unwrap();
    let vip4 = Ipv4Addr::new(192, 0, 2, 10);
    let mut frames = vec![
        arp_request(Ipv4Addr::new(192, 0, 2, 1), vip4),
        arp_request(Ipv4Addr::UNSPECIFIED, vip4),
        NsSpec::multicast(vip6).frame(),
        unsolicited_na(OUR_MAC, vip6),
    ];
    frames.extend(gratuitous_arp(OUR_MAC, vip4));
    frames
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Append(Vec<u8>),
    Insert(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Set(i, b) if !frame.is_empty() => {
            let i = i % frame.len();
            frame[i] = *b;
        }
        Mutation::Truncate(n) => frame.truncate(n % (frame.len() + 1)),
        Mutation::Append(bytes) => frame.extend_from_slice(bytes),
        Mutation::Insert(i, b) => frame.insert(i % (frame.len() + 1), *b),
        Mutation::Set(..) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..=1500)) {
        exercise(&bytes);
    }

    /// Arbitrary bytes behind a plausible header reach the deeper parsers.
    #[test]
    fn arbitrary_payloads_never_panic(
        ethertype in prop_oneof![Just([0x08u8, 0x06]), Just([0x86, 0xdd])],
        body in proptest::collection::vec(any::<u8>(), 0..=1486),
    ) {
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        frame.extend_from_slice(&ethertype);
        frame.extend_from_slice(&body);
        exercise(&frame);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        which in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let mut frame = valid_frames().swap_remove(which);
        for m in &mutations {
            apply(&mut frame, m);
        }
        exercise(&frame);
    }

    /// NS with valid checksum but arbitrary option bytes: must not panic, and when accepted
    /// the options must have been well formed.
    #[test]
    fn arbitrary_ns_options_never_panic(options in proptest::collection::vec(any::<u8>(), 0..64)) {
        let target: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let spec = NsSpec { options: options.clone(), ..NsSpec::multicast(target) };
        if classify(&spec.frame()).is_some() {
            prop_assert_eq!(options.len() % 8, 0);
        }
    }

    #[test]
    fn arp_reply_round_trips(
        sender in any::<[u8; 4]>(),
        target in any::<[u8; 4]>(),
        our_mac in any::<[u8; 6]>().prop_map(|mut m| { m[0] &= 0xfe; m }),
    ) {
        let (sender, target) = (Ipv4Addr::from(sender), Ipv4Addr::from(target));
        prop_assume!(sender != target);
        let Some(Query::ArpRequest(request)) = classify(&arp_request(sender, target)) else {
            return Err(TestCaseError::fail("request not recognised"));
        };
        prop_assert_eq!((request.sender_ip, request.target_ip), (sender, target));
        let reply = decode_arp(&arp_reply(our_mac, target, &request)).unwrap();
        prop_assert_eq!((reply.sender_mac, reply.sender_ip), (our_mac, target));
        prop_assert_eq!((reply.target_ip, reply.eth_dst), (sender, request.sender_mac));
    }

    #[test]
    fn neighbor_advertisement_round_trips(
        target in any::<[u8; 16]>().prop_map(Ipv6Addr::from),
        source in any::<[u8; 16]>().prop_map(Ipv6Addr::from),
        lladdr in any::<[u8; 6]>().prop_map(|mut m| { m[0] &= 0xfe; m }),
        our_mac in any::<[u8; 6]>().prop_map(|mut m| { m[0] &= 0xfe; m }),
    ) {
        prop_assume!(!target.is_multicast() && !source.is_multicast());
        let spec = NsSpec { ip_src: source, options: slla(lladdr), ..NsSpec::multicast(target) };
        let spec = if source.is_unspecified() { NsSpec { options: vec![], ..spec } } else { spec };
        let Some(Query::NeighborSolicitation(ns)) = classify(&spec.frame()) else {
            return Err(TestCaseError::fail("solicitation not recognised"));
        };
        prop_assert_eq!((ns.target, ns.ip_src), (target, source));
        let na = neighbor_advertisement(our_mac, target, &ns);
        let frame = &na[..];
        prop_assert!(super::test_frames::icmpv6_checksum_ok(
            target,
            Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap()),
            &frame[54..],
        ));
        let d = decode_neighbor_advertisement(frame).unwrap();
        prop_assert_eq!((d.target, d.target_lladdr, d.ip_src), (target, Some(our_mac), target));
        prop_assert_eq!(d.solicited_flag, !source.is_unspecified());
    }
}
