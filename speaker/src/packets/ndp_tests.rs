//! Neighbor Solicitation validation and Neighbor Advertisement encoding tests.

use std::net::{IpAddr, Ipv6Addr};

use super::test_frames::{NsSpec, OUR_MAC, PEER_MAC, ip, slla, solicitation, vip};
use super::*;

fn rejected(spec: &NsSpec, why: &str) {
    assert_eq!(classify(&spec.frame()), None, "{why}: {spec:?}");
}

#[test]
fn multicast_solicitation_is_classified_with_all_fields() {
    let spec = NsSpec::multicast(vip());
    let ns = solicitation(&spec.frame());
    assert_eq!(
        ns,
        NeighborSolicitation {
            eth_src: PEER_MAC,
            ip_src: ip("fe80::1"),
            ip_dst: ip("ff02::1:ff00:10"),
            target: vip(),
            source_lladdr: Some(PEER_MAC),
        }
    );
    assert!(!ns.is_dad());
    assert_eq!(
        Query::NeighborSolicitation(ns).target_ip(),
        IpAddr::V6(vip())
    );
}

#[test]
fn unicast_reachability_probe_is_classified() {
    let spec = NsSpec {
        eth_dst: OUR_MAC,
        ip_dst: vip(),
        options: vec![],
        ..NsSpec::multicast(vip())
    };
    let ns = solicitation(&spec.frame());
    assert_eq!((ns.ip_dst, ns.source_lladdr), (vip(), None));
}

#[test]
fn dad_probe_is_classified() {
    let spec = NsSpec {
        ip_src: Ipv6Addr::UNSPECIFIED,
        options: vec![],
        ..NsSpec::multicast(vip())
    };
    assert!(solicitation(&spec.frame()).is_dad());
}

#[test]
fn ethernet_padding_after_the_ipv6_payload_is_ignored() {
    let mut frame = NsSpec::multicast(vip()).frame();
    frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(solicitation(&frame).target, vip());
}

#[test]
fn unknown_options_are_skipped_and_the_first_slla_wins() {
    let nonce = [14, 1, 1, 2, 3, 4, 5, 6];
    let mut options = nonce.to_vec();
    options.extend(slla(PEER_MAC));
    options.extend(slla([0x02, 9, 9, 9, 9, 9]));
    let spec = NsSpec {
        options,
        ..NsSpec::multicast(vip())
    };
    assert_eq!(solicitation(&spec.frame()).source_lladdr, Some(PEER_MAC));
}

#[test]
fn rfc4861_7_1_1_rules_reject() {
    let ok = NsSpec::multicast(vip());
    for hop_limit in [0, 1, 64, 254] {
        rejected(
            &NsSpec {
                hop_limit,
                ..ok.clone()
            },
            "hop limit not 255",
        );
    }
    rejected(
        &NsSpec {
            code: 1,
            ..ok.clone()
        },
        "ICMPv6 code not 0",
    );
    for len in [4, 8, 23] {
        let short = NsSpec {
            options: vec![],
            truncate_icmp: Some(len),
            ..ok.clone()
        };
        rejected(&short, "ICMPv6 length below 24");
    }
    for checksum_delta in [1, 0x100, 0x8000] {
        rejected(
            &NsSpec {
                checksum_delta,
                ..ok.clone()
            },
            "bad checksum",
        );
    }
    for target in [ip("ff02::1"), ip("ff05::1:3")] {
        let dst = solicited_node_multicast(target);
        rejected(
            &NsSpec {
                target,
                ip_dst: dst,
                ..ok.clone()
            },
            "multicast target",
        );
    }
    let dad = NsSpec {
        ip_src: Ipv6Addr::UNSPECIFIED,
        options: vec![],
        ..ok.clone()
    };
    rejected(
        &NsSpec {
            ip_dst: vip(),
            ..dad.clone()
        },
        "DAD to unicast",
    );
    rejected(
        &NsSpec {
            ip_dst: ALL_NODES,
            ..dad.clone()
        },
        "DAD to all-nodes",
    );
    rejected(
        &NsSpec {
            options: slla(PEER_MAC),
            ..dad
        },
        "DAD with SLLA",
    );
    for options in [vec![1, 0, 0, 0, 0, 0, 0, 0], vec![14, 0, 0, 0, 0, 0, 0, 0]] {
        rejected(
            &NsSpec {
                options,
                ..ok.clone()
            },
            "option of length 0",
        );
    }
}

#[test]
fn malformed_options_reject() {
    let ok = NsSpec::multicast(vip());
    let overrun = vec![14, 2, 0, 0, 0, 0, 0, 0];
    rejected(
        &NsSpec {
            options: overrun,
            ..ok.clone()
        },
        "option past the end",
    );
    let mut dangling = slla(PEER_MAC);
    dangling.push(1);
    rejected(
        &NsSpec {
            options: dangling,
            ..ok.clone()
        },
        "one trailing byte",
    );
    let long_slla = vec![1, 2, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    rejected(
        &NsSpec {
            options: long_slla,
            ..ok.clone()
        },
        "SLLA not 8 bytes",
    );
    let group = slla([0x33, 0x33, 0, 0, 0, 1]);
    rejected(
        &NsSpec {
            options: group,
            ..ok
        },
        "multicast SLLA",
    );
}

#[test]
fn bad_addressing_rejects() {
    let ok = NsSpec::multicast(vip());
    rejected(
        &NsSpec {
            ip_src: ip("ff02::2"),
            ..ok.clone()
        },
        "multicast source",
    );
    rejected(
        &NsSpec {
            ip_dst: ALL_NODES,
            ..ok.clone()
        },
        "non solicited-node multicast",
    );
    let other_group = solicited_node_multicast(ip("2001:db8::11"));
    rejected(
        &NsSpec {
            ip_dst: other_group,
            ..ok.clone()
        },
        "another target's group",
    );
    rejected(
        &NsSpec {
            ip_dst: Ipv6Addr::UNSPECIFIED,
            ..ok.clone()
        },
        "destination ::",
    );
    rejected(
        &NsSpec {
            eth_src: BROADCAST_MAC,
            ..ok.clone()
        },
        "group Ethernet source",
    );
    for icmp_type in [128, 133, 136] {
        rejected(
            &NsSpec {
                icmp_type,
                ..ok.clone()
            },
            "not an NS",
        );
    }
}

#[test]
fn bad_ipv6_envelope_rejects() {
    let frame = NsSpec::multicast(vip()).frame();
    let patched = |at: usize, value: u8| {
        let mut f = frame.clone();
        f[at] = value;
        f
    };
    assert_eq!(classify(&patched(14, 0x40)), None, "IP version 4");
    assert_eq!(
        classify(&patched(20, 0)),
        None,
        "hop-by-hop extension header"
    );
    assert_eq!(
        classify(&patched(19, 33)),
        None,
        "payload length past the frame"
    );
    let mut tagged = frame[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
    tagged.extend_from_slice(&frame[12..]);
    assert_eq!(classify(&tagged), None, "VLAN tag");
    for len in 0..frame.len() {
        assert_eq!(classify(&frame[..len]), None, "truncated to {len}");
    }
}

#[test]
fn solicitation_builder_matches_the_independent_one() {
    let built = crate::packets::neighbor_solicitation(PEER_MAC, ip("fe80::1"), vip());
    assert_eq!(built, NsSpec::multicast(vip()).frame());
    let ns = solicitation(&built);
    assert_eq!(ns.source_lladdr, Some(PEER_MAC));
    assert!(!ns.is_dad());
}
