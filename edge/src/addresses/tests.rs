use std::collections::BTreeSet;
use std::net::IpAddr;

use super::*;
use ferrolb_core::parse_address;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn set(v: &[&str]) -> BTreeSet<IpAddr> {
    v.iter().map(|s| ip(s)).collect()
}

fn edge() -> EdgeRanges {
    EdgeRanges(vec![
        parse_address("198.51.100.150-198.51.100.159").unwrap(),
        parse_address("2001:db8:100::150/124").unwrap(),
    ])
}

fn present() -> Vec<(IpAddr, u8)> {
    vec![
        (ip("198.51.100.5"), 24),       // the edge host's own address
        (ip("198.51.100.150"), 32),     // desired, already there
        (ip("198.51.100.151"), 32),     // leftover in an edge pool
        (ip("198.51.100.152"), 24),     // in a pool, but not a host address: not ours
        (ip("198.51.100.160"), 32),     // host address outside every edge pool: not ours
        (ip("2001:db8:100::151"), 128), // leftover in an edge pool
        (ip("fe80::1"), 64),
    ]
}

#[test]
fn first_sync_adopts_adds_and_sweeps_only_edge_host_addresses() {
    let desired = set(&["198.51.100.150", "198.51.100.153", "2001:db8:100::150"]);
    let p = plan(&present(), &BTreeSet::new(), &desired, &edge(), true);
    assert_eq!(p.adopt, vec![ip("198.51.100.150")]);
    assert_eq!(p.add, vec![ip("198.51.100.153"), ip("2001:db8:100::150")]);
    assert_eq!(
        p.remove,
        vec![ip("198.51.100.151"), ip("2001:db8:100::151")]
    );
}

#[test]
fn later_syncs_remove_only_what_the_edge_owns() {
    let owned = set(&["198.51.100.150", "198.51.100.160"]);
    let p = plan(&present(), &owned, &BTreeSet::new(), &edge(), false);
    assert!(p.add.is_empty() && p.adopt.is_empty());
    assert_eq!(
        p.remove,
        vec![ip("198.51.100.150"), ip("198.51.100.160")],
        "owned addresses go even outside the pools (a pool may have shrunk); leftovers stay"
    );
}

#[test]
fn other_prefix_lengths_are_never_touched() {
    let owned = set(&["198.51.100.152"]);
    let p = plan(&present(), &owned, &BTreeSet::new(), &edge(), true);
    assert!(!p.remove.contains(&ip("198.51.100.152")), "{p:?}");
    assert!(!p.remove.contains(&ip("198.51.100.5")));
    let p = plan(
        &present(),
        &BTreeSet::new(),
        &set(&["198.51.100.152"]),
        &edge(),
        false,
    );
    assert_eq!(
        p.add,
        vec![ip("198.51.100.152")],
        "the /32 is added beside the /24"
    );
}

#[test]
fn host_prefixes() {
    assert_eq!(host_prefix(ip("192.0.2.1")), 32);
    assert_eq!(host_prefix(ip("2001:db8::1")), 128);
}
