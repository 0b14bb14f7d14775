//! `/debug/probe`'s wire I/O on a real link: the announcer of `announcer.rs`'s lab answers
//! for the VIPs in namespace `a`; the probe runs in `b` (a peer) and in `a` itself. Needs
//! root, iproute2, iputils-arping and ndisc6 (the lab's checks). Only documentation addresses,
//! only inside namespaces the test creates and removes.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../src/announcer/tests/frames.rs"]
#[allow(dead_code)]
mod frames;

#[path = "announcer/ends.rs"]
#[allow(dead_code)]
mod ends;
#[path = "announcer/lab.rs"]
#[allow(dead_code)]
mod lab;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ferrolb_speaker::wire::shell::probe;
use ferrolb_speaker::wire::{ProbeAnswer, ProbedInterface};

use ends::{Speaker, group, quick};
use lab::{IFACE, Lab, MAC_A, MAC_B, mac_str, wait_until};

const VIP4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x200);
const SILENT4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 201);
const WINDOW: Duration = Duration::from_millis(300);

/// Probes `address` out of `IFACE` from namespace `ns`.
fn probe_from(
    ns: &ferrolb_testkit::Netns,
    address: IpAddr,
) -> (Vec<ProbedInterface>, Vec<ProbeAnswer>) {
    let ifaces: BTreeSet<String> = [IFACE.to_string()].into();
    let probed = ns
        .task(move || async move { probe(&ifaces, address, WINDOW).await })
        .join()
        .unwrap()
        .unwrap();
    (probed.interfaces, probed.collector.answers())
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn a_peer_sees_exactly_the_announcer_and_the_announcer_sees_nobody_else() {
    let lab = Lab::new("p");
    let mut speaker = Speaker::start(&lab, quick());
    speaker.set(&[(IFACE, &[VIP4.into(), VIP6.into()])]);
    wait_until("VIP6's group joined", || lab.a_in_group(IFACE, group(VIP6)));
    // The takeover burst (gratuitous replies, unsolicited NAs) would count as answers too.
    std::thread::sleep(Duration::from_millis(500));

    for vip in [IpAddr::V4(VIP4), IpAddr::V6(VIP6)] {
        let (interfaces, answers) = probe_from(&lab.b, vip);
        assert_eq!(
            interfaces,
            [ProbedInterface {
                name: IFACE.into(),
                mac: mac_str(MAC_B)
            }]
        );
        let macs: Vec<(&str, &str)> = answers
            .iter()
            .map(|a| (a.interface.as_str(), a.mac.as_str()))
            .collect();
        let announcer = mac_str(MAC_A);
        assert_eq!(macs, [(IFACE, announcer.as_str())], "{vip}: {answers:?}");
        assert!(answers[0].after_ms < WINDOW.as_millis() as u64);
    }

    let (_, nobody) = probe_from(&lab.b, SILENT4.into());
    assert_eq!(nobody, [], "an address nobody owns");
    let (_, own) = probe_from(&lab.a, VIP4.into());
    assert_eq!(own, [], "a node never sees its own answers");
    speaker.stop();
}
