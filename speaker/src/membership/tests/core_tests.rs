//! Several cores on the simulated network: join, interface lists, death, leave, restart,
//! partitions. Times are virtual and deterministic.

use std::time::Duration;

use super::sim::{LATENCY, Sim, iface};
use crate::membership::MembershipConfig;

const MS: Duration = Duration::from_millis(1);

fn all_alive(sim: &Sim, nodes: &[usize]) -> bool {
    nodes
        .iter()
        .all(|&i| nodes.iter().all(|&j| sim.sees_alive(i, j)))
}

fn joined(n: usize, seed: u64) -> Sim {
    let mut sim = Sim::cluster(MembershipConfig::default(), seed, n);
    let nodes: Vec<usize> = (0..n).collect();
    let took = sim.run_until(Duration::from_secs(2), |s| all_alive(s, &nodes));
    assert!(took.is_some(), "the cluster did not form");
    sim
}

#[test]
fn speakers_join_through_their_seeds() {
    let mut sim = Sim::cluster(MembershipConfig::default(), 1, 3);
    let took = sim
        .run_until(Duration::from_secs(2), |s| all_alive(s, &[0, 1, 2]))
        .expect("all see all");
    println!("join: {took:?}");
    assert!(took <= 10 * LATENCY, "joined in {took:?}");
    let live = sim.members(0).live();
    assert_eq!(
        live.into_iter().collect::<Vec<_>>(),
        ["node-0", "node-1", "node-2"]
    );
}

#[test]
fn interface_lists_spread_and_newer_versions_win() {
    let mut sim = joined(3, 2);
    let took = sim.run_until(Duration::from_secs(2), |s| {
        (0..3).all(|i| {
            let of = s.members(i).interfaces_of();
            (0..3).all(|j| of[&format!("node-{j}")] == [iface(&format!("eth{j}"))])
        })
    });
    println!("interface lists everywhere after the join: {took:?}");
    assert!(took.is_some(), "{:?}", sim.members(0));

    let new = vec![iface("bond0"), iface("eth0")];
    sim.core(0).set_interfaces(&new).unwrap();
    let took = sim
        .run_until(Duration::from_secs(1), |s| {
            (1..3).all(|i| s.members(i).interfaces_of()["node-0"] == new)
        })
        .expect("the new list reaches everyone");
    println!("changed interface list spread in {took:?}");
    assert!(took <= 200 * MS);
    assert_eq!(sim.members(0).interfaces_of()["node-0"], new);

    // A late joiner gets every list, although the original broadcasts are long spent.
    sim.run_for(Duration::from_secs(3));
    let late = sim.add("node-3", &[iface("eth3")]);
    let took = sim
        .run_until(Duration::from_secs(2), |s| {
            let of = s.members(late).interfaces_of();
            of.len() == 4 && of["node-0"] == new && of["node-2"] == [iface("eth2")]
        })
        .expect("the late joiner learns every list");
    println!("late joiner has every list after {took:?}");
    assert!(took <= 500 * MS);
}

#[test]
fn a_dead_member_is_down_quickly_everywhere() {
    let config = MembershipConfig::default();
    let bound = config.probe_period * 3 + config.suspect_to_down_after + config.gossip_period * 2;
    let mut times = Vec::new();
    for seed in 0..20u64 {
        let mut sim = joined(3, 100 + seed);
        // Die at a different phase of the probe cycle each time.
        sim.run_for(Duration::from_millis(1000 + 37 * seed));
        sim.kill(2);
        let took = sim
            .run_until(Duration::from_secs(5), |s| {
                !s.sees_alive(0, 2) && !s.sees_alive(1, 2)
            })
            .expect("declared down");
        assert!(
            sim.sees_alive(0, 1) && sim.sees_alive(1, 0),
            "no false positive"
        );
        times.push(took);
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "crash noticed by all: min {:?} mean {mean:?} max {:?}",
        times[0],
        times[times.len() - 1]
    );
    assert!(
        times.iter().all(|t| *t <= bound),
        "{times:?} (bound {bound:?})"
    );
    assert!(mean < Duration::from_millis(800), "mean {mean:?}");
}

#[test]
fn leave_is_seen_at_once() {
    for n in [3, 6] {
        let mut sim = joined(n, 7);
        sim.run_for(Duration::from_millis(500));
        sim.leave(0);
        let others: Vec<usize> = (1..n).collect();
        let took = sim
            .run_until(Duration::from_secs(2), |s| {
                others.iter().all(|&i| !s.sees_alive(i, 0))
            })
            .expect("down everywhere");
        println!("leave seen by all {} others in {took:?}", n - 1);
        assert!(took <= LATENCY, "one datagram to each: {took:?}");
        assert!(all_alive(&sim, &others));
    }
}

#[test]
fn a_restarted_speaker_is_accepted_at_once() {
    let mut sim = joined(3, 9);
    sim.run_for(Duration::from_millis(500));

    // Crash and immediate restart: peers still hold the old identity alive.
    sim.kill(2);
    sim.start(2, &[iface("eth2"), iface("eth9")]);
    let took = sim
        .run_until(Duration::from_secs(2), |s| {
            (0..2).all(|i| {
                let m = s.members(i);
                m.is_alive("node-2") && m.interfaces_of()["node-2"].len() == 2
            })
        })
        .expect("new process accepted with its new list");
    println!("restart (old identity still alive at peers) accepted in {took:?}");
    assert!(took <= 10 * LATENCY);
    sim.run_for(Duration::from_secs(2));
    assert!(all_alive(&sim, &[0, 1, 2]), "no flapping afterwards");

    // Graceful leave, then restart: the old identity is down at peers.
    sim.leave(2);
    sim.run_for(Duration::from_millis(100));
    assert!(!sim.sees_alive(0, 2));
    sim.start(2, &[iface("eth2")]);
    let took = sim
        .run_until(Duration::from_secs(2), |s| all_alive(s, &[0, 1, 2]))
        .expect("accepted after a leave");
    println!("restart after leave accepted in {took:?}");
    assert!(took <= 10 * LATENCY);
    sim.run_for(Duration::from_secs(2));
    assert!(all_alive(&sim, &[0, 1, 2]));
}

#[test]
fn partition_splits_then_heals() {
    let mut sim = joined(4, 11);
    sim.run_for(Duration::from_millis(500));
    sim.partition(&[0, 1], &[2, 3]);
    let split = sim
        .run_until(Duration::from_secs(5), |s| {
            !s.sees_alive(0, 2)
                && !s.sees_alive(0, 3)
                && !s.sees_alive(1, 2)
                && !s.sees_alive(1, 3)
                && !s.sees_alive(2, 0)
                && !s.sees_alive(2, 1)
                && !s.sees_alive(3, 0)
                && !s.sees_alive(3, 1)
        })
        .expect("each side declares the other down");
    println!("partition: each side sees the other down after {split:?}");
    assert!(all_alive(&sim, &[0, 1]) && all_alive(&sim, &[2, 3]));

    sim.run_for(Duration::from_secs(3));
    sim.heal();
    let healed = sim
        .run_until(Duration::from_secs(10), |s| all_alive(s, &[0, 1, 2, 3]))
        .expect("memberships merge after the heal");
    println!("partition healed: all see all alive after {healed:?}");
    assert!(healed <= Duration::from_secs(4), "{healed:?}");
    sim.run_for(Duration::from_secs(3));
    assert!(all_alive(&sim, &[0, 1, 2, 3]), "stable after the heal");
    let of = sim.members(0).interfaces_of();
    assert_eq!(of["node-3"], [iface("eth3")]);
}

#[test]
fn an_isolated_speaker_keeps_trying_its_seeds() {
    let mut sim = Sim::cluster(MembershipConfig::default(), 13, 2);
    sim.partition(&[0], &[1]);
    sim.run_for(Duration::from_secs(5));
    assert!(!sim.sees_alive(0, 1));
    sim.heal();
    let took = sim
        .run_until(Duration::from_secs(3), |s| all_alive(s, &[0, 1]))
        .expect("joined once reachable");
    assert!(took <= sim.config.join_interval + 10 * LATENCY, "{took:?}");
}
