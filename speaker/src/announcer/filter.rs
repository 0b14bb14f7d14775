//! The classic BPF program attached to the announcer's `AF_PACKET` sockets, so that the kernel
//! copies to userspace only the few frames worth looking at, never the node's data traffic.
//!
//! The sockets listen to every ethertype (`ETH_P_ALL`) of one interface; the program then keeps
//! only incoming (host, broadcast or multicast; not outgoing, not another host's) untagged
//! frames that are ARP or ICMPv6 of the wanted kinds. It is a performance filter, not the trust
//! boundary: every frame it passes is still fully validated by [`crate::packets::classify`].
//!
//! Pure: the program is plain data (`Insn`), turned into `socket2::SockFilter` by `rawsock`.

/// Which frames a raw socket receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// ARP requests and ICMPv6 Neighbor Solicitations: what the announcer answers.
    Queries,
    /// Every ARP packet and ICMPv6 Neighbor Solicitations and Advertisements: to watch the
    /// neighbour traffic of a link (tests, conflict detection).
    NeighborTraffic,
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub(super) const LD_W_ABS: u16 = 0x20;
pub(super) const LD_H_ABS: u16 = 0x28;
pub(super) const LD_B_ABS: u16 = 0x30;
pub(super) const JEQ_K: u16 = 0x15;
pub(super) const JGT_K: u16 = 0x25;
pub(super) const RET_K: u16 = 0x06;

/// Ancillary loads (`SKF_AD_OFF + SKF_AD_*`): the packet type and whether a VLAN tag was
/// stripped into the packet's metadata (such a frame belongs to the VLAN device, not to us).
pub(super) const AD_PKTTYPE: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32;
pub(super) const AD_VLAN_TAG_PRESENT: u32 =
    (libc::SKF_AD_OFF + libc::SKF_AD_VLAN_TAG_PRESENT) as u32;

/// Highest accepted `PACKET_*` type: `PACKET_HOST` 0, `PACKET_BROADCAST` 1,
/// `PACKET_MULTICAST` 2 (dropped: 3 other host, 4 outgoing, 5 loopback).
const MAX_PACKET_TYPE: u32 = 2;
/// Bytes of an accepted frame passed up (more than any Ethernet frame the link carries).
pub(super) const SNAP_LEN: u32 = 0x4_0000;

const OFFSET_ETHERTYPE: u32 = 12;
const OFFSET_ARP_OP: u32 = 20;
const OFFSET_IPV6_NEXT_HEADER: u32 = 20;
const OFFSET_ICMPV6_TYPE: u32 = 54;
const ICMPV6: u32 = 58;
const NEIGHBOR_SOLICITATION: u32 = 135;
const NEIGHBOR_ADVERTISEMENT: u32 = 136;

/// Jump targets of the assembler below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Next,
    Arp,
    Ipv6,
    Accept,
    Drop,
}

enum Step {
    Load(u16, u32),
    /// Compare the accumulator with `k`; go to the first label if true, else the second.
    Jump(u16, u32, Label, Label),
    Ret(u32),
    Mark(Label),
}

/// The program for `receive`.
pub fn program(receive: Receive) -> Vec<Insn> {
    use Label::*;
    use Step::*;
    let mut steps = vec![
        Load(LD_W_ABS, AD_PKTTYPE),
        Jump(JGT_K, MAX_PACKET_TYPE, Drop, Next),
        Load(LD_W_ABS, AD_VLAN_TAG_PRESENT),
        Jump(JEQ_K, 0, Next, Drop),
        Load(LD_H_ABS, OFFSET_ETHERTYPE),
        Jump(JEQ_K, 0x0806, Arp, Next),
        Jump(JEQ_K, 0x86dd, Ipv6, Drop),
        Mark(Arp),
    ];
    match receive {
        Receive::Queries => {
            steps.extend([Load(LD_H_ABS, OFFSET_ARP_OP), Jump(JEQ_K, 1, Accept, Drop)])
        }
        Receive::NeighborTraffic => steps.push(Ret(SNAP_LEN)),
    }
    steps.extend([
        Mark(Ipv6),
        Load(LD_B_ABS, OFFSET_IPV6_NEXT_HEADER),
        Jump(JEQ_K, ICMPV6, Next, Drop),
        Load(LD_B_ABS, OFFSET_ICMPV6_TYPE),
    ]);
    match receive {
        Receive::Queries => steps.push(Jump(JEQ_K, NEIGHBOR_SOLICITATION, Accept, Drop)),
        Receive::NeighborTraffic => steps.extend([
            Jump(JEQ_K, NEIGHBOR_SOLICITATION, Accept, Next),
            Jump(JEQ_K, NEIGHBOR_ADVERTISEMENT, Accept, Drop),
        ]),
    }
    steps.extend([Mark(Accept), Ret(SNAP_LEN), Mark(Drop), Ret(0)]);
    assemble(&steps)
}

/// Resolves labels into relative jump offsets. The programs are small constants, so every
/// offset fits in a byte (checked by the unit tests).
fn assemble(steps: &[Step]) -> Vec<Insn> {
    let mut marks: Vec<(Label, usize)> = Vec::new();
    let mut pc = 0;
    for step in steps {
        match step {
            Step::Mark(label) => marks.push((*label, pc)),
            _ => pc += 1,
        }
    }
    let offset = |label: Label, from: usize| -> u8 {
        if label == Label::Next {
            return 0;
        }
        let target = marks
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(from, |m| m.1);
        u8::try_from(target.saturating_sub(from + 1)).unwrap_or(u8::MAX)
    };
    let mut out = Vec::with_capacity(pc);
    for step in steps {
        let insn = match *step {
            Step::Mark(_) => continue,
            Step::Load(code, k) => Insn {
                code,
                jt: 0,
                jf: 0,
                k,
            },
            Step::Ret(k) => Insn {
                code: RET_K,
                jt: 0,
                jf: 0,
                k,
            },
            Step::Jump(code, k, t, f) => Insn {
                code,
                jt: offset(t, out.len()),
                jf: offset(f, out.len()),
                k,
            },
        };
        out.push(insn);
    }
    out
}
