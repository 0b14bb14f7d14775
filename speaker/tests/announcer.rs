//! The announcer on a real link: two network namespaces `a` and `b` joined by a veth pair. The
//! announcer runs in `a` (on a thread that entered it, with its own tokio runtime); `b` asks
//! with iputils `arping`, `ndisc6`, crafted frames on a raw socket, and its own kernel's
//! neighbour cache. Needs root, iproute2, iputils-arping and ndisc6. Only documentation
//! addresses, only inside namespaces the tests create and remove (also on failure).

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../src/announcer/tests/frames.rs"]
mod frames;

#[path = "announcer/ends.rs"]
mod ends;
#[path = "announcer/lab.rs"]
mod lab;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ferrolb_speaker::announcer::AnnouncerOptions;
use ferrolb_speaker::packets::Mac;

use ends::unsolicited_na_from_a;
use ends::{Peer, Speaker, arp_from_a, garp_from_a, group, na_from_a, quick, unicast_ns};
use lab::{B6, IFACE, Lab, MAC_A, MAC_B, WAIT, mac_str, wait_until};

const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const VIP4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x200);
const OTHER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 201);
const OTHER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x201);
const KEPT4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 210);
const SHORT: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn answers_owned_vips_only_and_stops_when_they_are_lost() {
    let lab = Lab::new("q");
    let peer = Peer::start(&lab, IFACE);
    let mut speaker = Speaker::start(&lab, quick());
    speaker.set(&[(IFACE, &[VIP4.into(), VIP6.into(), KEPT4.into()])]);
    wait_until("VIP6's group joined", || lab.a_in_group(IFACE, group(VIP6)));
    let mac_a = mac_str(MAC_A);

    // ARP: broadcast; then unicast (iputils arping unicasts to the MAC that answered first).
    let out = lab
        .arping(IFACE, VIP4, 1)
        .expect("broadcast request answered");
    assert!(out.contains(&mac_a), "{out}");
    let out = lab
        .arping(IFACE, VIP4, 2)
        .expect("broadcast, then unicast answered");
    assert!(
        out.contains("(1 broadcast(s))") && out.contains("received 2 resp"),
        "{out}"
    );
    let request = frames::arp_request(MAC_A, MAC_B, B4, VIP4);
    let reply = peer.ask(request, WAIT, arp_from_a(VIP4, 2));
    let reply = reply.expect("crafted unicast request answered");
    assert_eq!((reply.eth_dst, reply.sender_mac), (MAC_B, MAC_A));
    assert_eq!((reply.target_mac, reply.target_ip), (MAC_B, B4));

    // NDP: a multicast solicitation (ndisc6), then a unicast reachability probe.
    assert_eq!(lab.ndisc6(VIP6).as_deref(), Some(mac_a.as_str()));
    let na = peer.ask(unicast_ns(VIP6), WAIT, na_from_a(VIP6));
    let na = na.expect("unicast NS answered");
    assert!(
        na.solicited_flag && na.override_flag && !na.router_flag,
        "{na:?}"
    );
    assert_eq!((na.eth_dst, na.ip_dst), (MAC_B, B6));
    assert_eq!(na.target_lladdr, Some(MAC_A));

    // Addresses of the same subnet that are not ours: no answer, by any means.
    assert_eq!(lab.arping(IFACE, OTHER4, 1), None);
    assert_eq!(lab.ndisc6(OTHER6), None);
    assert!(
        peer.ask(unicast_ns(OTHER6), SHORT, na_from_a(OTHER6))
            .is_none()
    );
    let stats = speaker.stats.snapshot();
    assert!(stats.arp_replies >= 4 && stats.na_replies >= 2, "{stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");

    // VIP4 and VIP6 lost, KEPT4 kept: once VIP6's group is left the change has been seen;
    // neither is answered any more, while the same socket still answers for KEPT4.
    speaker.set(&[(IFACE, &[KEPT4.into()])]);
    wait_until("VIP6's group left", || !lab.a_in_group(IFACE, group(VIP6)));
    assert_eq!(lab.arping(IFACE, VIP4, 1), None);
    assert!(peer.ask(unicast_ns(VIP6), SHORT, na_from_a(VIP6)).is_none());
    assert_eq!(lab.ndisc6(VIP6), None);
    assert!(
        lab.arping(IFACE, KEPT4, 1).is_some(),
        "KEPT4 still answered"
    );

    let took = speaker.stop();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert_eq!(lab.arping(IFACE, KEPT4, 1), None, "answered after shutdown");
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn gained_vips_are_announced_in_a_burst_then_periodically() {
    let lab = Lab::new("g");
    // b's kernel still believes that a former owner has the VIPs.
    for vip in [VIP4.to_string(), VIP6.to_string()] {
        let entry = format!("{vip} lladdr 02:00:00:00:0c:01 dev {IFACE} nud stale");
        lab.b.ip_line(&format!("neigh replace {entry}")).unwrap();
    }
    let peer = Peer::start(&lab, IFACE);
    let opts = AnnouncerOptions {
        burst_count: 3,
        burst_interval: 100 * MS,
        reannounce: Some(1500 * MS),
        ..quick()
    };
    let speaker = Speaker::start(&lab, opts);
    let from = peer.count();
    speaker.set(&[(IFACE, &[VIP4.into(), VIP6.into()])]);

    wait_until("a burst and a re-announcement of each form", || {
        peer.since(from, garp_from_a(VIP4, 1)).len() >= 4
            && peer.since(from, garp_from_a(VIP4, 2)).len() >= 4
            && peer.since(from, unsolicited_na_from_a(VIP6)).len() >= 4
    });
    let requests = peer.since(from, garp_from_a(VIP4, 1));
    let replies = peer.since(from, garp_from_a(VIP4, 2));
    let advertisements = peer.since(from, unsolicited_na_from_a(VIP6));
    assert!(
        requests
            .iter()
            .all(|(_, m)| m.target_mac == [0; 6] && m.sender_mac == MAC_A)
    );
    assert!(
        replies
            .iter()
            .all(|(_, m)| m.target_mac == MAC_A && m.sender_mac == MAC_A)
    );
    for (_, na) in &advertisements {
        assert!(
            na.override_flag && !na.solicited_flag && !na.router_flag,
            "{na:?}"
        );
        assert_eq!(na.target_lladdr, Some(MAC_A));
    }
    // Three rounds 100 ms apart, then the fourth a period later.
    for times in [times(&requests), times(&replies), times(&advertisements)] {
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps[..2].iter().all(|g| *g >= 80 * MS && *g < 700 * MS),
            "{gaps:?}"
        );
        assert!(gaps[2] >= 1000 * MS, "{gaps:?}");
    }

    // b's kernel took the announcements: its entries now point at a.
    for vip in [VIP4.to_string(), VIP6.to_string()] {
        wait_until("b's neighbour entry updated", || {
            lab.b_neighbour(&vip).contains(&mac_str(MAC_A))
        });
    }
}

fn times<T>(seen: &[(Instant, T)]) -> Vec<Instant> {
    seen.iter().take(4).map(|(t, _)| *t).collect()
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn a_missing_or_failing_interface_is_retried_without_disturbing_others() {
    const MAC_LATE: Mac = [0x02, 0, 0, 0, 0x0a, 0x02];
    let lab = Lab::new("r");
    let speaker = Speaker::start(&lab, quick());
    let late: &[IpAddr] = &[OTHER4.into(), OTHER6.into()];
    speaker.set(&[(IFACE, &[VIP4.into()]), ("late0", late)]);
    let errors = || speaker.stats.snapshot().errors;
    wait_until("failures counted", || errors() >= 2);
    assert!(
        lab.arping(IFACE, VIP4, 1).is_some(),
        "veth0 answers meanwhile"
    );

    // The solicited-node group of OTHER6 is joined right after late0's socket opens.
    let served = || lab.a_in_group("late0", group(OTHER6));
    lab.link("late0", MAC_LATE, "late0", [0x02, 0, 0, 0, 0x0b, 0x02]);
    wait_until("late0 opened", served);
    let out = lab
        .arping("late0", OTHER4, 1)
        .expect("answered once late0 exists");
    assert!(out.contains(&mac_str(MAC_LATE)), "{out}");

    // Down: the socket fails and is closed (its group goes), then retried; up: reopened.
    let failed = errors();
    lab.a.ip_line("link set late0 down").unwrap();
    wait_until("the socket error", || errors() > failed);
    wait_until("late0's socket closed", || !served());
    assert!(lab.arping(IFACE, VIP4, 1).is_some(), "veth0 unaffected");
    lab.a.ip_line("link set late0 up").unwrap();
    wait_until("late0 reopened", served);
    assert!(
        lab.arping("late0", OTHER4, 1).is_some(),
        "answered again once up"
    );
}
