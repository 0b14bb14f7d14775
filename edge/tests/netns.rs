//! The edge's data path end to end, without Kubernetes: network namespaces joined by a bridge
//! — a client (198.51.100.100 and .101), the edge host (198.51.100.5, interface `flbe0`) and
//! two nodes (198.51.100.11 and .12) with a switchable health API and TCP/UDP echo servers on
//! the NodePort — and the library's engine (addresses, listeners, prober) fed a hand-built
//! frontend list. Everything lives in the test kit's `flbt-<pid>-*` namespaces, removed also
//! on failure.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrolb_core::{Protocol, ServiceKey, SourceRanges, TrafficPolicy, parse_address};
use ferrolb_edge::engine::{DataPlaneView, EngineConfig};
use ferrolb_edge::frontends::{Candidate, EdgeRanges, Frontend};
use ferrolb_edge::prober::ProbeConfig;
use ferrolb_edge::proxy::{ProxyOptions, UdpOptions};

use support::client::{IO, addresses, count, tcp_hello, tcp_names, udp_hello};
use support::edge::{self, EdgeHandle};
use support::node::{HEALTH_PORT, NODE_PORT, Node};
use support::topology::{IFACE, Topology, ip};

const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(200);
/// Allowance for scheduling on a shared, loaded machine, on top of interval + timeout.
const SLACK: Duration = Duration::from_millis(600);

const CLIENT: &str = "198.51.100.100";
const OTHER: &str = "198.51.100.101";
const VIP: &str = "198.51.100.150";
const VIP6: &str = "2001:db8:100::150";

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn frontend(
    vip: &str,
    protocol: Protocol,
    sources: SourceRanges,
    nodes: &[(&str, &str)],
) -> Frontend {
    Frontend {
        service: ServiceKey {
            namespace: "web".into(),
            name: "echo".into(),
        },
        ip: ipa(vip),
        protocol,
        port: 80,
        node_port: NODE_PORT,
        traffic_policy: TrafficPolicy::Cluster,
        health_check_node_port: None,
        health_port: HEALTH_PORT,
        source_ranges: sources,
        candidates: nodes
            .iter()
            .map(|(n, i)| Candidate {
                node: n.to_string(),
                ip: ipa(i),
            })
            .collect(),
    }
}

/// TCP and UDP on the IPv4 frontend (only the client's .100 allowed), TCP on the IPv6 one.
fn frontends() -> Vec<Frontend> {
    let only_client = SourceRanges::Only(vec![format!("{CLIENT}/32").parse().unwrap()]);
    let v4 = [("node-a", "198.51.100.11"), ("node-b", "198.51.100.12")];
    let v6 = [
        ("node-a", "2001:db8:100::11"),
        ("node-b", "2001:db8:100::12"),
    ];
    vec![
        frontend(VIP, Protocol::Tcp, only_client.clone(), &v4),
        frontend(VIP, Protocol::Udp, only_client, &v4),
        frontend(VIP6, Protocol::Tcp, SourceRanges::Any, &v6),
    ]
}

fn edge_ranges() -> EdgeRanges {
    EdgeRanges(vec![
        parse_address("198.51.100.150-198.51.100.159").unwrap(),
        parse_address("2001:db8:100::150/124").unwrap(),
    ])
}

fn config() -> EngineConfig {
    EngineConfig {
        interface: IFACE.into(),
        probe: ProbeConfig {
            interval: INTERVAL,
            timeout: TIMEOUT,
            ..ProbeConfig::default()
        },
        proxy: ProxyOptions {
            connect_timeout: Duration::from_secs(1),
            udp: UdpOptions {
                idle_timeout: Duration::from_secs(5),
                max_flows: 1024,
            },
        },
    }
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn edge_forwards_to_healthy_nodes_only() {
    let mut topo = Topology::new();
    let lan = topo.lan();
    let client = topo.host(
        &lan,
        "client",
        &[
            "198.51.100.100/24",
            "198.51.100.101/24",
            "2001:db8:100::100/64",
        ],
    );
    let edge_ns = topo.host(&lan, "edge", &["198.51.100.5/24", "2001:db8:100::5/64"]);
    let a = topo.host(&lan, "node-a", &["198.51.100.11/24", "2001:db8:100::11/64"]);
    let b = topo.host(&lan, "node-b", &["198.51.100.12/24", "2001:db8:100::12/64"]);
    // Leftovers of a crashed edge: one in an edge pool (swept), one outside (never touched).
    ip(
        &edge_ns,
        &["addr", "add", "198.51.100.151/32", "dev", IFACE],
    );
    ip(
        &edge_ns,
        &["addr", "add", "198.51.100.160/32", "dev", IFACE],
    );

    let node_a = Node::start(&a, "node-a");
    let node_b = Node::start(&b, "node-b");
    let (handle, edge_thread) = edge::start(&edge_ns, config());
    let switches = (node_a.switch(), node_b.switch());
    let ns = edge_ns.clone();
    let outcome = ferrolb_testkit::task_in(&client, move || scenario(handle, ns, switches)).join();
    drop((node_a, node_b));
    let edge_outcome = edge_thread.join();
    let names = topo.names();
    drop(topo);
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(entered) => entered.expect("the client thread entered its namespace"),
    }
    assert!(
        edge_outcome.is_ok_and(|entered| entered.is_ok()),
        "the edge thread panicked or could not enter its namespace"
    );
    let left: Vec<&String> = names
        .iter()
        .filter(|n| ferrolb_testkit::exists(n))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

async fn scenario(
    edge: EdgeHandle,
    edge_ns: String,
    (a_up, b_up): (Arc<AtomicBool>, Arc<AtomicBool>),
) {
    let vip: SocketAddr = SocketAddr::new(ipa(VIP), 80);
    let vip6: SocketAddr = SocketAddr::new(ipa(VIP6), 80);
    edge.apply(frontends(), edge_ranges()).await;

    let addrs = addresses(&edge_ns);
    assert!(
        addrs.contains("198.51.100.150/32") && addrs.contains("2001:db8:100::150/128"),
        "{addrs:?}"
    );
    assert!(
        !addrs.contains("198.51.100.151/32"),
        "leftover in an edge pool not swept: {addrs:?}"
    );
    assert!(
        addrs.contains("198.51.100.160/32"),
        "address outside the edge pools touched: {addrs:?}"
    );
    wait_for(
        &edge,
        Duration::from_secs(5),
        "every backend healthy",
        |s| backends(s, None).iter().all(|(_, _, up)| *up),
    )
    .await;

    // Spread: TCP connections and UDP flows reach both nodes evenly.
    let tcp = count(tcp_names(CLIENT, vip, 20).await);
    assert!(
        tcp.get("node-a") >= Some(&5) && tcp.get("node-b") >= Some(&5),
        "TCP spread {tcp:?}"
    );
    let mut udp = Vec::new();
    for _ in 0..20 {
        udp.push(udp_hello(CLIENT, vip, IO).await.expect("UDP reply"));
    }
    let udp = count(udp);
    assert!(
        udp.get("node-a") >= Some(&5) && udp.get("node-b") >= Some(&5),
        "UDP spread {udp:?}"
    );
    let v6 = tcp_names("2001:db8:100::100", vip6, 4).await;
    assert_eq!(count(v6).len(), 2, "IPv6 frontend reaches both nodes");

    // Source ranges: .101 is refused (reset / no answer), counted.
    assert!(
        tcp_hello(OTHER, vip).await.is_err(),
        "TCP from outside the source ranges answered"
    );
    assert_eq!(
        udp_hello(OTHER, vip, Duration::from_millis(500)).await,
        None
    );
    let s = edge.state().await;
    assert!(
        s.frontends
            .iter()
            .filter(|f| f.spec.ip == ipa(VIP))
            .all(|f| f.refused >= 1),
        "refusals not counted"
    );

    // Drain: a connection open to node-b keeps working after node-b turns unhealthy, while new
    // connections avoid it within one interval plus one timeout.
    let mut held = None;
    for _ in 0..10 {
        let (name, conn) = tcp_hello(CLIENT, vip).await.unwrap();
        if name == "node-b" {
            held = Some(conn);
            break;
        }
    }
    let mut held = held.expect("no connection landed on node-b in 10 tries");
    let flipped = Instant::now();
    b_up.store(false, Ordering::SeqCst);
    let took = wait_for(&edge, INTERVAL + TIMEOUT + SLACK, "node-b unhealthy", |s| {
        backends(s, Some("node-b")).iter().all(|(_, _, up)| !*up)
    })
    .await;
    eprintln!(
        "node-b avoided {} ms after its health flipped",
        took.as_millis()
    );
    assert!(flipped.elapsed() >= took);
    let after = count(tcp_names(CLIENT, vip, 20).await);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["node-a"],
        "new TCP connections went to node-b: {after:?}"
    );
    for _ in 0..10 {
        assert_eq!(udp_hello(CLIENT, vip, IO).await.as_deref(), Some("node-a"));
    }
    let s = edge.state().await;
    assert_eq!(
        tcp_active_on(&s, "node-b"),
        1,
        "the drained connection is not counted"
    );
    assert_eq!(
        held.ask("still there").await.unwrap(),
        "node-b still there",
        "the drained connection broke"
    );

    // Nobody healthy: refuse at once.
    a_up.store(false, Ordering::SeqCst);
    wait_for(&edge, INTERVAL + TIMEOUT + SLACK, "no node healthy", |s| {
        backends(s, None).iter().all(|(_, _, up)| !*up)
    })
    .await;
    let started = Instant::now();
    assert!(
        tcp_hello(CLIENT, vip).await.is_err(),
        "served without a healthy node"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refusal was not immediate"
    );

    // Recovery needs the healthy threshold (2) of successes.
    a_up.store(true, Ordering::SeqCst);
    b_up.store(true, Ordering::SeqCst);
    wait_for(
        &edge,
        2 * INTERVAL + TIMEOUT + SLACK,
        "both healthy again",
        |s| backends(s, None).iter().all(|(_, _, up)| *up),
    )
    .await;
    // Least connections: with the drained connection still open node-a would get them all.
    drop(held);
    wait_for(
        &edge,
        Duration::from_secs(2),
        "the drained connection closed",
        |s| tcp_active_on(s, "node-b") == 0,
    )
    .await;
    assert_eq!(count(tcp_names(CLIENT, vip, 6).await).len(), 2);

    // Frontends removed: addresses and listeners go.
    edge.apply(Vec::new(), edge_ranges()).await;
    let addrs = addresses(&edge_ns);
    assert!(
        !addrs.contains("198.51.100.150/32") && !addrs.contains("2001:db8:100::150/128"),
        "{addrs:?}"
    );
    let listening = ferrolb_testkit::exec(&edge_ns, &["ss", "-Hlntu"]).unwrap();
    assert!(
        !listening.contains(VIP) && !listening.contains(VIP6),
        "listener left open:\n{listening}"
    );
    assert!(edge.state().await.frontends.is_empty());

    // Shutdown with frontends: everything the edge owns goes, nothing else.
    edge.apply(frontends(), edge_ranges()).await;
    assert!(addresses(&edge_ns).contains("198.51.100.150/32"));
    assert_eq!(edge.shutdown().await, Ok(0));
    let left: BTreeSet<String> = addresses(&edge_ns);
    let expected: BTreeSet<String> = ["198.51.100.5/24", "198.51.100.160/32", "2001:db8:100::5/64"]
        .map(String::from)
        .into();
    assert_eq!(
        left.iter()
            .filter(|a| !a.starts_with("fe80:"))
            .cloned()
            .collect::<BTreeSet<_>>(),
        expected
    );
}

/// `(frontend, node, healthy)` of every backend of every frontend (of `node` only, if given).
fn backends(s: &DataPlaneView, node: Option<&str>) -> Vec<(String, String, bool)> {
    s.frontends
        .iter()
        .flat_map(|f| {
            f.backends
                .iter()
                .map(move |b| (f.frontend.clone(), b.node.clone(), b.healthy))
        })
        .filter(|(_, n, _)| node.is_none_or(|want| n == want))
        .collect()
}

/// Connections open to `node` through the IPv4 TCP frontend.
fn tcp_active_on(s: &DataPlaneView, node: &str) -> u64 {
    s.frontends
        .iter()
        .filter(|f| f.frontend == format!("{VIP}:80/TCP"))
        .flat_map(|f| f.backends.iter())
        .filter(|b| b.node == node)
        .map(|b| b.active_connections)
        .sum()
}

/// Polls the edge's state until `ok` or `deadline`; returns the time it took.
async fn wait_for(
    edge: &EdgeHandle,
    deadline: Duration,
    what: &str,
    ok: impl Fn(&DataPlaneView) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let s = edge.state().await;
        if ok(&s) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < deadline,
            "not {what} within {deadline:?}: {}",
            serde_json::to_string_pretty(&s.frontends).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
