//! `local_interfaces` in a network namespace the test builds: a veth into another namespace
//! with the node's subnet, a pod-like veth with a /32 only, a down link, a bridge with a
//! port. Needs root and iproute2; documentation addresses only.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ferrolb_speaker::election::InterfaceView;
use ferrolb_speaker::interfaces::local_interfaces;
use ferrolb_testkit::Netns;

fn find<'a>(list: &'a [InterfaceView], name: &str) -> &'a InterfaceView {
    list.iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("{name} not in {list:#?}"))
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn reads_the_namespace_of_the_calling_thread() {
    ferrolb_testkit::needs(&["ip"]);
    let node = Netns::new("ifn").unwrap();
    let other = Netns::new("ifo").unwrap();
    let o = other.name();
    // The node's uplink: a veth into another namespace, carrying the node's subnet.
    node.ip_line(&format!(
        "link add uplink0 type veth peer name peer0 netns {o}"
    ))
    .unwrap();
    node.ip_line("addr add 198.51.100.11/24 dev uplink0")
        .unwrap();
    node.ip_line("addr add 2001:db8:100::11/64 dev uplink0 nodad")
        .unwrap();
    // Explicit, so that the test does not wait on the kernel's own link-local address.
    node.ip_line("addr add fe80::11/64 dev uplink0 nodad")
        .unwrap();
    // A pod's host-side veth: peer in another namespace, only a /32 gateway address.
    node.ip_line(&format!("link add pod0 type veth peer name eth0 netns {o}"))
        .unwrap();
    node.ip_line("addr add 192.0.2.1/32 dev pod0").unwrap();
    // A link left down (a veth: dummy links need a module not every kernel has).
    node.ip_line("link add down0 type veth peer name down0p")
        .unwrap();
    node.ip_line("addr add 203.0.113.1/24 dev down0").unwrap();
    // A bridge with a port (a veth whose peer stays in this namespace).
    node.ip_line("link add br0 type bridge").unwrap();
    node.ip_line("link add port0 type veth peer name port0p")
        .unwrap();
    node.ip_line("link set port0 master br0").unwrap();
    for dev in ["uplink0", "pod0", "br0", "port0", "port0p"] {
        node.ip_line(&format!("link set {dev} up")).unwrap();
    }
    for dev in ["peer0", "eth0"] {
        other.ip_line(&format!("link set {dev} up")).unwrap();
    }

    // The kernel reports carrier (and so IFF_RUNNING) a moment after `up`.
    let deadline = Instant::now() + Duration::from_secs(5);
    for dev in ["uplink0", "pod0", "port0"] {
        while !node
            .ip_line(&format!("link show dev {dev}"))
            .unwrap()
            .contains("state UP")
        {
            assert!(Instant::now() < deadline, "{dev} never running");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    let list = node
        .block_on(|| async { local_interfaces().await.expect("read interfaces") })
        .unwrap();
    println!("{list:#?}");

    let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "br0", "down0", "down0p", "lo", "pod0", "port0", "port0p", "uplink0"
        ]
    );

    let uplink = find(&list, "uplink0");
    assert!(uplink.up && uplink.broadcast && uplink.has_lladdr);
    assert!(!uplink.loopback && !uplink.bridge_port && !uplink.container_veth);
    let subnets: Vec<String> = uplink.subnets.iter().map(|n| n.to_string()).collect();
    assert!(
        subnets.contains(&"198.51.100.11/24".to_string()),
        "{subnets:?}"
    );
    assert!(
        subnets.contains(&"2001:db8:100::11/64".to_string()),
        "{subnets:?}"
    );
    assert!(
        subnets.contains(&"fe80::11/64".to_string()),
        "link-local kept: {subnets:?}"
    );

    let pod = find(&list, "pod0");
    assert!(pod.up && pod.container_veth && !pod.bridge_port);

    let down = find(&list, "down0");
    assert!(!down.up && !down.container_veth);
    assert_eq!(down.subnets, ["203.0.113.1/24".parse().unwrap()]);

    let port = find(&list, "port0");
    assert!(port.bridge_port && !port.container_veth);
    assert!(!find(&list, "port0p").bridge_port);
    let br = find(&list, "br0");
    assert!(!br.bridge_port && br.broadcast);

    let lo = find(&list, "lo");
    assert!(lo.loopback && lo.up && !lo.has_lladdr && !lo.broadcast);
    assert!(lo.subnets.contains(&"127.0.0.1/8".parse().unwrap()));
}
