//! The socket filter, run through a small classic-BPF interpreter (the subset it uses).

use super::frames::{arp_request, neighbor_solicitation};
use super::{CLIENT_MAC, CLIENT_V4, CLIENT_V6, OUR_MAC, VIP_V4, VIP_V6};
use crate::announcer::filter::{
    AD_PKTTYPE, AD_VLAN_TAG_PRESENT, Insn, JEQ_K, JGT_K, LD_B_ABS, LD_H_ABS, LD_W_ABS, RET_K,
    Receive, SNAP_LEN, program,
};
use crate::announcer::respond::{answer, takeover_frames};
use crate::packets::{BROADCAST_MAC, multicast_mac, solicited_node_multicast};

const HOST: u32 = 0;
const BROADCAST: u32 = 1;
const MULTICAST: u32 = 2;
const OTHERHOST: u32 = 3;
const OUTGOING: u32 = 4;

/// Runs `prog` like the kernel: out-of-bounds loads drop the frame (return 0).
fn run(prog: &[Insn], frame: &[u8], pkttype: u32, vlan: bool) -> u32 {
    let mut a = 0u32;
    let mut pc = 0usize;
    for _ in 0..=prog.len() {
        let insn = prog[pc];
        pc += 1;
        match insn.code {
            LD_W_ABS | LD_H_ABS | LD_B_ABS => {
                a = match insn.k {
                    AD_PKTTYPE => pkttype,
                    AD_VLAN_TAG_PRESENT => u32::from(vlan),
                    k => {
                        let len = match insn.code {
                            LD_W_ABS => 4,
                            LD_H_ABS => 2,
                            _ => 1,
                        };
                        let Some(bytes) = frame.get(k as usize..k as usize + len) else {
                            return 0;
                        };
                        bytes.iter().fold(0, |acc, b| (acc << 8) | u32::from(*b))
                    }
                }
            }
            JEQ_K | JGT_K => {
                let taken = if insn.code == JEQ_K {
                    a == insn.k
                } else {
                    a > insn.k
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            RET_K => return insn.k,
            other => panic!("opcode {other:#x} not expected"),
        }
    }
    panic!("program did not return")
}

fn passes(receive: Receive, frame: &[u8], pkttype: u32) -> bool {
    run(&program(receive), frame, pkttype, false) == SNAP_LEN
}

fn frames() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let group = solicited_node_multicast(VIP_V6);
    let arp = arp_request(BROADCAST_MAC, CLIENT_MAC, CLIENT_V4, VIP_V4);
    let ns = neighbor_solicitation(multicast_mac(group), CLIENT_MAC, CLIENT_V6, group, VIP_V6);
    let arp_reply = answer(&arp, OUR_MAC, |_| true).unwrap().frame().to_vec();
    let na = answer(&ns, OUR_MAC, |_| true).unwrap().frame().to_vec();
    (arp, ns, arp_reply, na)
}

/// An IPv6 UDP datagram: data traffic, never passed up.
fn ipv6_udp() -> Vec<u8> {
    let mut f = neighbor_solicitation(OUR_MAC, CLIENT_MAC, CLIENT_V6, VIP_V6, VIP_V6);
    f[14 + 6] = 17;
    f
}

#[test]
fn every_jump_stays_inside_the_program_and_it_ends_in_a_return() {
    for receive in [Receive::Queries, Receive::NeighborTraffic] {
        let prog = program(receive);
        assert!(prog.len() < 64);
        assert_eq!(prog.last().map(|i| (i.code, i.k)), Some((RET_K, 0)));
        for (pc, insn) in prog.iter().enumerate() {
            if matches!(insn.code, JEQ_K | JGT_K) {
                assert!(
                    pc + 1 + usize::from(insn.jt.max(insn.jf)) < prog.len(),
                    "{receive:?} {pc}"
                );
            }
        }
    }
}

#[test]
fn queries_filter_passes_only_incoming_arp_requests_and_solicitations() {
    let (arp, ns, arp_reply, na) = frames();
    assert!(passes(Receive::Queries, &arp, BROADCAST));
    assert!(passes(Receive::Queries, &arp, HOST));
    assert!(passes(Receive::Queries, &ns, MULTICAST));
    assert!(passes(Receive::Queries, &ns, HOST));
    for outsider in [OTHERHOST, OUTGOING, 5] {
        assert!(
            !passes(Receive::Queries, &arp, outsider),
            "pkttype {outsider}"
        );
        assert!(
            !passes(Receive::Queries, &ns, outsider),
            "pkttype {outsider}"
        );
    }
    assert_eq!(
        run(&program(Receive::Queries), &arp, BROADCAST, true),
        0,
        "VLAN-tagged"
    );
    for other in [
        &arp_reply,
        &na,
        &ipv6_udp(),
        &takeover_frames(OUR_MAC, VIP_V4.into())[1],
    ] {
        assert!(!passes(Receive::Queries, other, HOST));
    }
    let mut ipv4 = arp.clone();
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    assert!(!passes(Receive::Queries, &ipv4, HOST));
    assert!(
        !passes(Receive::Queries, &arp[..15], BROADCAST),
        "truncated"
    );
    assert!(!passes(Receive::Queries, &ns[..40], MULTICAST), "truncated");
}

#[test]
fn neighbor_traffic_filter_also_passes_replies_and_advertisements() {
    let (arp, ns, arp_reply, na) = frames();
    for f in [&arp, &ns, &arp_reply, &na] {
        assert!(passes(Receive::NeighborTraffic, f, HOST));
        assert!(!passes(Receive::NeighborTraffic, f, OUTGOING));
    }
    assert!(!passes(Receive::NeighborTraffic, &ipv6_udp(), HOST));
    let mut echo = ns.clone();
    echo[54] = 128;
    assert!(!passes(Receive::NeighborTraffic, &echo, HOST));
}
