//! Steps 4 (the speakers' views) and 5–7 (wire, data path, health) from the speakers' answers:
//! a healthy Service and each way the speakers' facts can break it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Value, json};

use super::render::text;
use super::tests::{expected_winner, first_failure, from, healthy, now};
use super::*;
use crate::speakers::answers::{HealthAnswer, ProbeAnswer, RulesAnswer, SpeakerState};

const VIP: &str = "192.0.2.10";

fn vip() -> IpAddr {
    VIP.parse().unwrap()
}

fn mac(node: &str) -> String {
    format!("02:00:00:00:00:0{}", &node[..1])
}

/// The announcer of the healthy snapshot.
fn winner(snap: &Snapshot) -> String {
    announcers(snap).remove(&vip()).unwrap()
}

/// `node`'s `/debug/state`: it sees `live` alive, elects `elects` and answers when it is that.
fn state(node: &str, live: &[&str], elects: Option<&str>, reason: &str) -> SpeakerState {
    let nodes: serde_json::Map<String, Value> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                json!({"alive": live.contains(n), "interfaces": ["eth0"]}),
            )
        })
        .collect();
    let announce = if elects == Some(node) {
        json!({"eth0": [VIP]})
    } else {
        json!({})
    };
    from(json!({
        "desired": {"node": node, "announce": announce,
            "election": {"perIp": {VIP: {"winner": elects, "interfaces": if elects.is_some() { json!(["eth0"]) } else { json!([]) },
                "candidates": [], "reason": reason, "services": []}}}},
        "observed": {"dataplane": {"enabled": true}, "gossip": {"local": node, "nodes": nodes}}
    }))
}

fn probe(node: &str, announced: bool, heard: &[&str]) -> ProbeAnswer {
    from(json!({"node": node, "address": VIP, "announced": announced,
        "interfaces": [{"name": "eth0", "mac": mac(node)}],
        "answers": heard.iter().map(|m| json!({"interface": "eth0", "mac": m, "afterMs": 1})).collect::<Vec<_>>()}))
}

fn rules(node: &str, present: bool, endpoints: &[&str]) -> RulesAnswer {
    from(json!({"node": node,
        "ferrolb": {"table": "inet ferrolb", "present": present,
            "ports": if present { json!([{"protocol": "TCP", "port": 80, "endpoints": endpoints}]) } else { json!([]) }},
        "kubeProxy": {"table": "ip kube-proxy", "present": false, "ports": []}}))
}

/// The healthy snapshot with every speaker agreeing and the wire, rules and health right.
fn served() -> Snapshot {
    with_speakers(healthy())
}

/// `snap` with every speaker agreeing with its announcement, and the wire and rules right.
fn with_speakers(mut snap: Snapshot) -> Snapshot {
    let w = winner(&snap);
    snap.speaker_states = ["a", "b", "c"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                Ok(state(n, &["a", "b", "c"], Some(&w), "highest score")),
            )
        })
        .collect();
    let probes: BTreeMap<String, _> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let p = if *n == w {
                probe(n, true, &[])
            } else {
                probe(n, false, &[&mac(&w)])
            };
            (n.to_string(), Ok(p))
        })
        .collect();
    snap.wire = Some(WireFacts {
        probes: [(vip(), probes)].into(),
        rules: [(
            (w.clone(), vip()),
            Ok(rules(&w, true, &["10.0.0.1:80", "10.0.0.2:80"])),
        )]
        .into(),
        health: BTreeMap::new(),
        proxy_health: BTreeMap::new(),
    });
    snap
}

/// The two nodes other than `w`, in order.
fn others(w: &str) -> (&'static str, &'static str) {
    let mut rest = ["a", "b", "c"].into_iter().filter(|n| *n != w);
    (rest.next().unwrap(), rest.next().unwrap())
}

fn wire_mut(snap: &mut Snapshot) -> &mut WireFacts {
    snap.wire.as_mut().unwrap()
}

#[test]
fn speakers_agreeing_and_the_wire_right_is_served() {
    let report = diagnose(&served(), now());
    assert!(report.served, "{}", text(&report));
    for name in [STEP_ELECTION, STEP_WIRE, STEP_DATA_PATH] {
        let step = report.steps.iter().find(|s| s.name == name).unwrap();
        assert_eq!(step.outcome, Outcome::Passed, "{}", text(&report));
    }
    insta::assert_snapshot!("served_with_speakers", text(&report));
}

#[test]
fn two_speakers_answering_is_a_split_brain() {
    let mut snap = served();
    let w = winner(&snap);
    let (other, _) = others(&w);
    snap.speaker_states
        .insert(w.clone(), Ok(state(&w, &[&w], Some(&w), "alone")));
    snap.speaker_states.insert(
        other.into(),
        Ok(state(other, &[other], Some(other), "alone")),
    );
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(fix.starts_with("split brain:"), "{fix}");
    assert!(fix.contains("UDP port 7946"), "{fix}");
}

#[test]
fn speakers_electing_different_winners_are_partitioned() {
    let mut snap = served();
    let w = winner(&snap);
    let (other, third) = others(&w);
    snap.speaker_states.insert(
        third.into(),
        Ok(state(third, &[third, other], Some(other), "partition")),
    );
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(fix.contains("the speakers disagree"), "{fix}");
}

#[test]
fn every_speaker_silent_for_interfaces_names_the_globs() {
    let mut snap = served();
    snap.announcement = None;
    let reason = "no eligible node among 3 (a: no usable interface)";
    snap.speaker_states = ["a", "b", "c"]
        .iter()
        .map(|n| (n.to_string(), Ok(state(n, &["a", "b", "c"], None, reason))))
        .collect();
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_ELECTION);
    assert!(fix.contains("correct spec.interfaces"), "{fix}");
    assert!(fix.contains("a: eth0"), "{fix}");
}

#[test]
fn a_peer_hearing_two_nodes_is_a_split_brain_on_the_wire() {
    let mut snap = served();
    let w = winner(&snap);
    let (other, third) = others(&w);
    wire_mut(&mut snap).probes.get_mut(&vip()).unwrap().insert(
        third.into(),
        Ok(probe(third, false, &[&mac(&w), &mac(other), &mac(&w)])),
    );
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_WIRE);
    assert!(fix.starts_with("split brain:"), "{fix}");
    // Every answer counted.
    let report = diagnose(&snap, now());
    let wire = report.steps.iter().find(|s| s.name == STEP_WIRE).unwrap();
    assert!(
        wire.evidence
            .iter()
            .any(|e| e.contains(&format!("{} ({w}) ×2", mac(&w)))),
        "{:?}",
        wire.evidence
    );
}

#[test]
fn nobody_answering_and_a_stranger_answering_fail_the_wire() {
    let mut snap = served();
    let w = winner(&snap);
    for p in wire_mut(&mut snap)
        .probes
        .get_mut(&vip())
        .unwrap()
        .values_mut()
    {
        let node = p.as_ref().unwrap().node.clone();
        *p = Ok(probe(&node, false, &[]));
    }
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_WIRE);
    assert!(
        fix.starts_with(&format!(
            "nobody answers ARP/NDP for {VIP}, though {w} should"
        )),
        "{fix}"
    );

    let mut snap = served();
    let (peer, _) = others(&w);
    wire_mut(&mut snap).probes.get_mut(&vip()).unwrap().insert(
        peer.into(),
        Ok(probe(peer, false, &[&mac(&w), "02:00:00:00:00:99"])),
    );
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_WIRE);
    assert!(fix.contains("another host uses the address"), "{fix}");
    assert!(fix.contains("02:00:00:00:00:99"), "{fix}");
}

#[test]
fn a_missing_table_and_lagging_rules_fail_the_data_path() {
    let mut snap = served();
    let w = winner(&snap);
    wire_mut(&mut snap)
        .rules
        .insert((w.clone(), vip()), Ok(rules(&w, false, &[])));
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_DATA_PATH);
    assert!(
        fix.starts_with(&format!("table inet ferrolb is missing on {w}")),
        "{fix}"
    );

    let mut snap = served();
    wire_mut(&mut snap)
        .rules
        .insert((w.clone(), vip()), Ok(rules(&w, true, &["10.0.0.1:80"])));
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_DATA_PATH);
    assert!(fix.contains("lag the EndpointSlices"), "{fix}");
}

#[test]
fn a_health_answer_against_the_endpoints_fails_the_health_step() {
    let mut snap = healthy();
    let spec = snap.service.spec.as_mut().unwrap();
    spec.external_traffic_policy = Some("Local".into());
    spec.health_check_node_port = Some(32000);
    // eTP=Local: c has no endpoint, so a or b wins and its table sends only to its own endpoint.
    let w = expected_winner(&snap);
    let status = snap
        .announcement
        .as_mut()
        .and_then(|a| a.status.as_mut())
        .unwrap();
    status.announcements[0].node = w.clone();
    let snap = with_speakers(snap);
    let mut snap = snap;
    let own = if w == "a" {
        "10.0.0.1:80"
    } else {
        "10.0.0.2:80"
    };
    wire_mut(&mut snap)
        .rules
        .insert((w.clone(), vip()), Ok(rules(&w, true, &[own])));
    let answer = |status: u16, n: u32| {
        Ok(HealthAnswer {
            status,
            local_endpoints: n,
        })
    };
    wire_mut(&mut snap).health = [
        ("a".into(), answer(200, 1)),
        ("b".into(), answer(200, 1)),
        ("c".into(), answer(503, 0)),
    ]
    .into();
    let targets = targets(&snap);
    let report = diagnose(&snap, now());
    assert!(report.served, "{}", text(&report));
    assert!(
        targets.health.is_empty(),
        "nodes without InternalIPs are not asked"
    );

    let other = if w == "a" { "b" } else { "a" };
    wire_mut(&mut snap)
        .health
        .insert(other.into(), answer(503, 0));
    let (step, fix) = first_failure(&snap);
    assert_eq!(step, STEP_HEALTH);
    assert!(
        fix.starts_with(&format!(
            "{other}'s health answer disagrees with its endpoints"
        )),
        "{fix}"
    );
}

#[test]
fn a_node_that_cannot_be_asked_is_neither_a_stranger_nor_a_pass() {
    let mut snap = served();
    let w = winner(&snap);
    let facts = wire_mut(&mut snap);
    facts
        .probes
        .get_mut(&vip())
        .unwrap()
        .insert(w.clone(), Err("HTTP 503: cannot review the token".into()));
    // Its rules cannot be read either, and its proxy health is down.
    facts.rules.insert(
        (w.clone(), vip()),
        Err("HTTP 503: cannot review the token".into()),
    );
    facts
        .proxy_health
        .insert(w.clone(), Err("connection refused".into()));
    let mut no_dataplane = snap.clone();
    for s in no_dataplane.speaker_states.values_mut() {
        s.as_mut().unwrap().observed.dataplane.enabled = false;
    }
    let (step, fix) = first_failure(&no_dataplane);
    assert_eq!(step, STEP_DATA_PATH, "the wire is not a stranger's: {fix}");
    assert!(
        fix.starts_with(&format!("kube-proxy on {w} is down")),
        "{fix}"
    );
    let report = diagnose(&no_dataplane, now());
    assert!(
        report.unchecked.contains(&STEP_WIRE.to_string()),
        "{:?}",
        report.unchecked
    );

    // Proxy health fine: the data path is unchecked, not failed.
    wire_mut(&mut no_dataplane)
        .proxy_health
        .insert(w.clone(), Ok(200));
    let report = diagnose(&no_dataplane, now());
    assert!(report.served, "{}", text(&report));
    assert!(
        report.unchecked.contains(&STEP_DATA_PATH.to_string()),
        "{:?}",
        report.unchecked
    );
}

#[test]
fn the_speakers_agreed_view_outranks_a_lagging_pod_readiness() {
    // The announcer's speaker restarted: its peers see it alive, its Pod is not Ready yet.
    let mut snap = served();
    let w = winner(&snap);
    for pod in &mut snap.speakers {
        if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(w.as_str()) {
            let ready = pod.status.as_mut().unwrap().conditions.as_mut().unwrap();
            ready[0].status = "False".into();
        }
    }
    let report = diagnose(&snap, now());
    assert!(report.served, "{}", text(&report));
}
