//! The probe's pure parts: parameters, the frames sent, and which received frames count.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::announcer::answer;

const OURS: Mac = [0x02, 0, 0, 0, 0, 0x0a];
const OWNER: Mac = [0x02, 0, 0, 0, 0, 0x0b];
const OTHER: Mac = [0x02, 0, 0, 0, 0, 0x0c];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v4_sources() -> Sources {
    Sources {
        v4: vec!["198.51.100.11".parse().unwrap()],
        v6: vec![],
    }
}

fn v6_sources() -> Sources {
    Sources {
        v4: vec![],
        v6: vec!["2001:db8::11".parse().unwrap(), "fe80::11".parse().unwrap()],
    }
}

/// What a ferrolb speaker owning `address` at `mac` sends back to `probe`.
fn owner_reply(probe: &[u8], address: IpAddr, mac: Mac) -> Vec<u8> {
    answer(probe, mac, |ip| ip == address)
        .expect("ferrolb's responder answers the probe")
        .frame()
        .to_vec()
}

#[test]
fn query_parameters_are_checked_and_the_window_clamped() {
    let vip = ip("198.51.100.200");
    assert_eq!(
        parse_query(Some("198.51.100.200"), None),
        Ok((vip, DEFAULT_WINDOW))
    );
    let ms = |t: &str| parse_query(Some("198.51.100.200"), Some(t)).map(|(_, w)| w);
    assert_eq!(ms("10"), Ok(MIN_WINDOW));
    assert_eq!(ms("9999"), Ok(MAX_WINDOW));
    assert_eq!(ms("120"), Ok(Duration::from_millis(120)));
    assert!(ms("soon").unwrap_err().contains("windowMs=\"soon\""));
    assert!(parse_query(None, None).unwrap_err().contains("address"));
    assert!(
        parse_query(Some("web"), None)
            .unwrap_err()
            .contains("\"web\"")
    );
    assert!(
        unknown_address(vip)
            .contains("198.51.100.200 is not a LoadBalancer address this speaker knows")
    );
}

#[test]
fn arp_probe_carries_our_address_and_our_responder_answers_it() {
    let vip = ip("198.51.100.200");
    let probe = probe_frame(OURS, &v4_sources(), vip).unwrap();
    let Some(packets::Query::ArpRequest(request)) = packets::classify(&probe) else {
        panic!("an ARP request");
    };
    assert_eq!(request.sender_ip, Ipv4Addr::new(198, 51, 100, 11));
    assert_eq!(request.sender_mac, OURS);
    let reply = owner_reply(&probe, vip, OWNER);
    assert_eq!(&reply[..6], &OURS, "unicast back to the prober");
    assert_eq!(answering_mac(&reply, vip), Some(OWNER));
}

#[test]
fn arp_probe_without_an_address_is_an_rfc5227_probe_and_still_answered() {
    let vip = ip("198.51.100.200");
    let probe = probe_frame(OURS, &Sources::default(), vip).unwrap();
    let Some(packets::Query::ArpRequest(request)) = packets::classify(&probe) else {
        panic!("an ARP request");
    };
    assert!(request.is_probe());
    assert_eq!(
        answering_mac(&owner_reply(&probe, vip, OWNER), vip),
        Some(OWNER)
    );
}

#[test]
fn ns_probe_prefers_the_link_local_source_and_our_responder_answers_it() {
    let vip = ip("2001:db8::200");
    let probe = probe_frame(OURS, &v6_sources(), vip).unwrap();
    let Some(packets::Query::NeighborSolicitation(ns)) = packets::classify(&probe) else {
        panic!("a neighbor solicitation");
    };
    assert_eq!(ns.ip_src, "fe80::11".parse::<std::net::Ipv6Addr>().unwrap());
    assert_eq!(
        ns.ip_dst,
        packets::solicited_node_multicast("2001:db8::200".parse().unwrap())
    );
    assert_eq!(ns.source_lladdr, Some(OURS));
    let reply = owner_reply(&probe, vip, OWNER);
    assert_eq!(&reply[..6], &OURS, "unicast back to the prober");
    assert_eq!(answering_mac(&reply, vip), Some(OWNER));
    let global_only = Sources {
        v4: vec![],
        v6: vec!["2001:db8::11".parse().unwrap()],
    };
    assert!(probe_frame(OURS, &global_only, vip).is_some());
    assert_eq!(probe_frame(OURS, &Sources::default(), vip), None);
}

#[test]
fn only_answers_for_the_probed_address_count() {
    let vip = ip("198.51.100.200");
    let probe = probe_frame(OURS, &v4_sources(), vip).unwrap();
    assert_eq!(answering_mac(&probe, vip), None, "a request is no answer");
    let other = ip("198.51.100.201");
    let elsewhere = owner_reply(
        &probe_frame(OURS, &v4_sources(), other).unwrap(),
        other,
        OWNER,
    );
    assert_eq!(answering_mac(&elsewhere, vip), None);
    let v6 = ip("2001:db8::200");
    let na = owner_reply(&probe_frame(OURS, &v6_sources(), v6).unwrap(), v6, OWNER);
    assert_eq!(answering_mac(&na, vip), None);
    assert_eq!(answering_mac(&na, ip("2001:db8::201")), None);
    assert_eq!(answering_mac(&[0u8; 10], vip), None);
}

#[test]
fn every_answer_is_counted_duplicates_and_split_brain_included() {
    let vip = ip("198.51.100.200");
    let probe = probe_frame(OURS, &v4_sources(), vip).unwrap();
    let owner = owner_reply(&probe, vip, OWNER);
    let intruder = owner_reply(&probe, vip, OTHER);
    let mut eth0 = Collector::new(vip);
    eth0.record("eth0", &owner, Duration::from_millis(3));
    eth0.record("eth0", &probe, Duration::from_millis(4));
    eth0.record("eth0", &owner, Duration::from_millis(9));
    let mut eth1 = Collector::new(vip);
    eth1.record("eth1", &intruder, Duration::from_millis(5));
    eth0.merge(eth1);
    let got: Vec<(String, String, u64)> = eth0
        .answers()
        .into_iter()
        .map(|a| (a.interface, a.mac, a.after_ms))
        .collect();
    let want = [
        ("eth0", "02:00:00:00:00:0b", 3),
        ("eth1", "02:00:00:00:00:0c", 5),
        ("eth0", "02:00:00:00:00:0b", 9),
    ]
    .map(|(i, m, t)| (i.to_string(), m.to_string(), t));
    assert_eq!(got, want);
}

#[test]
fn report_json_has_the_contract_field_names() {
    let report = ProbeReport {
        node: "node-a".into(),
        address: ip("198.51.100.200"),
        announced: true,
        window_ms: 500,
        interfaces: vec![ProbedInterface {
            name: "eth0".into(),
            mac: "02:00:00:00:00:0a".into(),
        }],
        answers: vec![ProbeAnswer {
            interface: "eth0".into(),
            mac: "02:00:00:00:00:0b".into(),
            after_ms: 3,
        }],
    };
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({"node":"node-a","address":"198.51.100.200","announced":true,"windowMs":500,
               "interfaces":[{"name":"eth0","mac":"02:00:00:00:00:0a"}],
               "answers":[{"interface":"eth0","mac":"02:00:00:00:00:0b","afterMs":3}]})
    );
}
