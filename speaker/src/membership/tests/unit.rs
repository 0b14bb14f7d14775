//! Identity ranking, the interface-list codec and handler, Members helpers, config checks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foca::{BroadcastHandler, Identity};

use super::sim::iface;
use crate::membership::info::{InfoHandler, InfoStore, NodeInfo, lock};
use crate::membership::{ConfigError, Id, Member, Members, MembershipConfig};

fn addr() -> SocketAddr {
    "198.51.100.11:7946".parse().unwrap()
}

fn id(started: u64, renewed: u16) -> Id {
    Id {
        node: "node-a".into(),
        addr: addr(),
        started,
        renewed,
    }
}

#[test]
fn later_process_and_renewals_win_the_address() {
    assert!(id(2, 0).win_addr_conflict(&id(1, 9)));
    assert!(!id(1, 9).win_addr_conflict(&id(2, 0)));
    let renewed = id(1, 0).renew().unwrap();
    assert_eq!(renewed, id(1, 1));
    assert!(renewed.win_addr_conflict(&id(1, 0)));
    assert_eq!(id(1, u16::MAX).renew(), None);
    assert_eq!(Id::seed(addr()).addr(), addr());
}

#[test]
fn node_info_round_trips_every_field() {
    let mut odd = iface("br0");
    odd.up = false;
    odd.bridge_port = true;
    odd.loopback = true;
    odd.has_lladdr = false;
    odd.subnets.push("2001:db8::1/64".parse().unwrap());
    let list = vec![iface("eth0"), odd];
    let config = MembershipConfig::default();
    let (bytes, kept) = NodeInfo::encode_within("node-a", 5, &list, &config).unwrap();
    let mut sorted = list.clone();
    sorted.sort();
    assert_eq!(kept, sorted);
    let info: NodeInfo = postcard::from_bytes(&bytes).unwrap();
    assert_eq!((info.node.as_str(), info.version), ("node-a", 5));
    assert_eq!(info.views().unwrap(), list);
}

#[test]
fn too_many_interfaces_drop_container_veths_first() {
    let config = MembershipConfig::default();
    let mut list: Vec<_> = (0..200)
        .map(|n| {
            let mut v = iface(&format!("cali{n:04}"));
            v.container_veth = true;
            v
        })
        .collect();
    list.push(iface("eth0"));
    list.push(iface("eth1"));
    let (bytes, kept) = NodeInfo::encode_within("node-a", 1, &list, &config).unwrap();
    assert!(bytes.len() <= config.info_budget());
    assert!(kept.iter().any(|i| i.name == "eth0") && kept.iter().any(|i| i.name == "eth1"));
    assert!(kept.len() < list.len());
    assert!(kept.is_sorted());
}

#[test]
fn handler_keeps_the_newest_version_and_ignores_our_own() {
    let store = Arc::new(Mutex::new(InfoStore::default()));
    let mut handler = InfoHandler {
        local: "node-a".into(),
        store: store.clone(),
    };
    let config = MembershipConfig::default();
    let sender = id(1, 0);
    let encode = |node: &str, version, name: &str| {
        NodeInfo::encode_within(node, version, &[iface(name)], &config)
            .unwrap()
            .0
    };
    let from = Some(&sender);
    assert!(
        handler
            .receive_item(&encode("node-b", 5, "eth0"), from)
            .unwrap()
            .is_some()
    );
    assert!(
        handler
            .receive_item(&encode("node-b", 5, "eth0"), from)
            .unwrap()
            .is_none()
    );
    assert!(
        handler
            .receive_item(&encode("node-b", 4, "old"), from)
            .unwrap()
            .is_none()
    );
    assert!(
        handler
            .receive_item(&encode("node-b", 6, "eth1"), from)
            .unwrap()
            .is_some()
    );
    assert!(
        handler
            .receive_item(&encode("node-a", 99, "x"), from)
            .unwrap()
            .is_none()
    );
    assert!(
        handler
            .receive_item(&encode("node-a", 1, "x"), None)
            .unwrap()
            .is_some()
    );
    assert!(handler.receive_item(b"\xff\xff", from).is_err());
    let store = lock(&store);
    assert_eq!(store.lists.len(), 1);
    assert_eq!(store.lists["node-b"], (6, vec![iface("eth1")]));
}

#[test]
fn members_helpers() {
    let member = |alive, name: &str| Member {
        addr: addr(),
        alive,
        interfaces: vec![iface(name)],
    };
    let mut m = Members {
        local: "node-a".into(),
        ..Members::default()
    };
    m.nodes.insert("node-a".into(), member(true, "eth0"));
    m.nodes.insert("node-b".into(), member(false, "eth1"));
    m.nodes.insert("node-c".into(), member(true, "eth2"));
    assert_eq!(
        m.live().into_iter().collect::<Vec<_>>(),
        ["node-a", "node-c"]
    );
    assert_eq!(m.interfaces_of().len(), 3);
    assert_eq!(m.interfaces_of()["node-b"], [iface("eth1")]);
    assert!(m.is_alive("node-a") && !m.is_alive("node-b") && !m.is_alive("node-z"));
    assert_eq!(m.debug_json()["nodes"]["node-b"]["alive"], false);
}

#[test]
fn config_checks() {
    assert_eq!(MembershipConfig::default().validate(), Ok(()));
    let mut c = MembershipConfig::default();
    c.probe_rtt = c.probe_period;
    assert!(matches!(
        c.validate(),
        Err(ConfigError::RttNotBelowPeriod { .. })
    ));
    let c = MembershipConfig {
        suspect_to_down_after: Duration::ZERO,
        ..MembershipConfig::default()
    };
    assert_eq!(
        c.validate(),
        Err(ConfigError::Zero("suspect_to_down_after"))
    );
}
