use std::net::IpAddr;

use super::*;

fn link(index: u32, name: &str) -> LinkFacts {
    LinkFacts {
        index,
        name: name.into(),
        admin_up: true,
        running: true,
        broadcast: true,
        lladdr: Some(vec![2, 0, 0, 0, 0, index as u8]),
        ..LinkFacts::default()
    }
}

fn addr(index: u32, cidr: &str) -> AddrFacts {
    let (ip, prefix) = cidr.split_once('/').unwrap();
    AddrFacts {
        index,
        addr: ip.parse::<IpAddr>().unwrap(),
        prefix: prefix.parse().unwrap(),
    }
}

fn one(links: &[LinkFacts], addrs: &[AddrFacts], name: &str) -> InterfaceView {
    classify(links, addrs)
        .unwrap()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap()
}

#[test]
fn ordinary_ethernet_link() {
    let links = [link(2, "eth0")];
    let addrs = [
        addr(2, "2001:db8::10/64"),
        addr(2, "198.51.100.10/24"),
        addr(2, "fe80::1/64"),
        addr(2, "198.51.100.10/24"),
    ];
    let v = one(&links, &addrs, "eth0");
    assert!(v.up && v.broadcast && v.has_lladdr);
    assert!(!v.loopback && !v.bridge_port && !v.container_veth);
    let subnets: Vec<String> = v.subnets.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        subnets,
        ["198.51.100.10/24", "2001:db8::10/64", "fe80::1/64"],
        "sorted, de-duplicated, link-local kept"
    );
}

#[test]
fn up_needs_admin_up_and_running() {
    for (admin_up, running, up) in [
        (true, true, true),
        (true, false, false),
        (false, true, false),
    ] {
        let mut l = link(2, "eth0");
        l.admin_up = admin_up;
        l.running = running;
        assert_eq!(one(&[l], &[], "eth0").up, up);
    }
}

#[test]
fn loopback_and_links_without_mac() {
    let mut lo = link(1, "lo");
    lo.loopback = true;
    lo.broadcast = false;
    lo.lladdr = Some(vec![0; 6]);
    let mut wg = link(3, "wg0");
    wg.lladdr = None;
    let views = classify(&[lo, wg], &[]).unwrap();
    assert!(views[0].loopback && !views[0].has_lladdr, "{views:?}");
    assert!(!views[1].has_lladdr);
}

#[test]
fn bridge_ports_by_port_kind_or_controller() {
    let mut br = link(5, "br0");
    br.kind = Some("bridge".into());
    let mut by_kind = link(6, "p1");
    by_kind.port_kind = Some("bridge".into());
    let mut by_controller = link(7, "p2");
    by_controller.controller = Some(5);
    let mut bond_port = link(8, "p3");
    bond_port.port_kind = Some("bond".into());
    bond_port.controller = Some(9);
    let links = [br, by_kind, by_controller, bond_port];
    assert!(!one(&links, &[], "br0").bridge_port);
    assert!(one(&links, &[], "p1").bridge_port);
    assert!(one(&links, &[], "p2").bridge_port);
    assert!(!one(&links, &[], "p3").bridge_port);
}

#[test]
fn container_veth_is_a_veth_into_another_namespace_without_a_subnet() {
    let veth = |index, name: &str, netnsid| {
        let mut l = link(index, name);
        l.kind = Some("veth".into());
        l.peer_netnsid = netnsid;
        l
    };
    let links = [
        veth(10, "cali1", Some(0)),
        veth(11, "flbp1", Some(1)),
        veth(12, "eth0", Some(2)),
        veth(13, "local0", None),
    ];
    let addrs = [
        addr(10, "fe80::ecee:eeff:feee:eeee/64"),
        addr(11, "192.0.2.1/32"),
        addr(11, "2001:db8:200::1/128"),
        addr(12, "198.51.100.11/24"),
    ];
    assert!(
        one(&links, &addrs, "cali1").container_veth,
        "only link-local"
    );
    assert!(
        one(&links, &addrs, "flbp1").container_veth,
        "host routes only"
    );
    assert!(
        !one(&links, &addrs, "eth0").container_veth,
        "a node uplink (kind, the lab) carries the node's subnet"
    );
    assert!(
        !one(&links, &addrs, "local0").container_veth,
        "peer in this namespace"
    );
}

#[test]
fn sorted_by_name_and_unknown_indexes_ignored() {
    let links = [link(3, "eth1"), link(2, "eth0")];
    let addrs = [addr(99, "198.51.100.1/24")];
    let names: Vec<String> = classify(&links, &addrs)
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["eth0", "eth1"]);
}

#[test]
fn invalid_prefix_is_an_error() {
    let bad = AddrFacts {
        index: 2,
        addr: "198.51.100.1".parse().unwrap(),
        prefix: 33,
    };
    assert!(matches!(
        classify(&[link(2, "eth0")], &[bad]),
        Err(InterfacesError::BadPrefix { .. })
    ));
}
