use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use proptest::prelude::*;

use super::ip;
use crate::announcer::Desired;
use crate::announcer::plan::{Change, Owned, Reconcile, diff, reconcile};

fn desired(entries: &[(&str, &[&str])]) -> Desired {
    entries
        .iter()
        .map(|(iface, ips)| (iface.to_string(), ips.iter().map(|s| ip(s)).collect()))
        .collect()
}

fn open(iface: &str) -> Change {
    Change::OpenIface {
        iface: iface.into(),
    }
}
fn close(iface: &str) -> Change {
    Change::CloseIface {
        iface: iface.into(),
    }
}
fn gained(iface: &str, s: &str) -> Change {
    Change::Gained {
        iface: iface.into(),
        ip: ip(s),
    }
}
fn lost(iface: &str, s: &str) -> Change {
    Change::Lost {
        iface: iface.into(),
        ip: ip(s),
    }
}

#[test]
fn first_vips_open_their_interface_first() {
    let new = desired(&[("eth0", &["198.51.100.200", "2001:db8:100::200"])]);
    assert_eq!(
        diff(&Desired::new(), &new),
        [
            open("eth0"),
            gained("eth0", "198.51.100.200"),
            gained("eth0", "2001:db8:100::200")
        ]
    );
}

#[test]
fn last_vip_lost_closes_its_interface_after() {
    let old = desired(&[("eth0", &["198.51.100.200"]), ("eth1", &["198.51.100.201"])]);
    let new = desired(&[("eth1", &["198.51.100.201"])]);
    assert_eq!(
        diff(&old, &new),
        [lost("eth0", "198.51.100.200"), close("eth0")]
    );
}

#[test]
fn vip_moving_between_interfaces_and_swaps_within_one() {
    let old = desired(&[("eth0", &["198.51.100.200", "198.51.100.201"])]);
    let new = desired(&[
        ("eth0", &["198.51.100.202", "198.51.100.201"]),
        ("eth1", &["198.51.100.200"]),
    ]);
    assert_eq!(
        diff(&old, &new),
        [
            lost("eth0", "198.51.100.200"),
            gained("eth0", "198.51.100.202"),
            open("eth1"),
            gained("eth1", "198.51.100.200"),
        ]
    );
}

#[test]
fn empty_set_is_the_same_as_no_interface() {
    let with_empty = desired(&[("eth0", &[])]);
    assert_eq!(diff(&Desired::new(), &with_empty), []);
    assert_eq!(diff(&with_empty, &Desired::new()), []);
    let one = desired(&[("eth0", &["198.51.100.200"])]);
    assert_eq!(
        diff(&one, &with_empty),
        [lost("eth0", "198.51.100.200"), close("eth0")]
    );
    assert_eq!(diff(&one, &one), []);
}

fn owned(entries: &[(&str, u64)]) -> Owned {
    entries.iter().map(|(s, e)| (ip(s), *e)).collect()
}

#[test]
fn reconcile_joins_announces_and_leaves() {
    let announced = owned(&[("2001:db8::1", 1), ("2001:db8::2", 2), ("198.51.100.3", 3)]);
    let now = owned(&[("2001:db8::2", 2), ("198.51.100.3", 7), ("2001:db8::4", 8)]);
    assert_eq!(
        reconcile(&announced, &now),
        Reconcile {
            // 198.51.100.3 was lost and gained again (new epoch): announced again, no new join.
            announce: vec![(ip("198.51.100.3"), 7), (ip("2001:db8::4"), 8)],
            join: vec![ip("2001:db8::4")],
            leave: vec![ip("2001:db8::1")],
        }
    );
    assert_eq!(reconcile(&now, &now), Reconcile::default());
}

/// Applies changes to a state the way the supervisor does, checking their order.
fn apply(old: &Desired, changes: &[Change]) -> Desired {
    let mut state: BTreeMap<String, BTreeSet<IpAddr>> = old
        .iter()
        .filter(|(_, ips)| !ips.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for change in changes {
        match change {
            Change::OpenIface { iface } => {
                assert!(
                    state.insert(iface.clone(), BTreeSet::new()).is_none(),
                    "{change:?}"
                )
            }
            Change::Gained { iface, ip } => {
                let set = state.get_mut(iface).expect("gained on an open interface");
                assert!(set.insert(*ip), "{change:?}");
            }
            Change::Lost { iface, ip } => {
                let set = state.get_mut(iface).expect("lost on an open interface");
                assert!(set.remove(ip), "{change:?}");
            }
            Change::CloseIface { iface } => {
                let set = state.remove(iface).expect("closing an open interface");
                assert!(set.is_empty(), "closed with VIPs left: {change:?}");
            }
        }
    }
    state
}

fn arb_desired() -> impl Strategy<Value = Desired> {
    let iface = prop::sample::select(vec!["eth0", "eth1", "bond0"]);
    let addr = prop::sample::select(vec![
        "198.51.100.1",
        "198.51.100.2",
        "203.0.113.9",
        "2001:db8::1",
        "2001:db8::2",
    ]);
    prop::collection::btree_map(
        iface.prop_map(String::from),
        prop::collection::btree_set(addr.prop_map(ip), 0..4),
        0..3,
    )
}

proptest! {
    #[test]
    fn diff_applied_to_old_gives_new(old in arb_desired(), new in arb_desired()) {
        let normalized: Desired = new.iter().filter(|(_, s)| !s.is_empty())
            .map(|(k, v)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(apply(&old, &diff(&old, &new)), normalized);
    }
}
