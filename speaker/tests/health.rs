//! The health API over real sockets on 127.0.0.1: answers flip with the snapshot within a
//! second, healthCheckNodePorts open and close with it, bad requests get 404/405, and silent
//! clients neither block others nor stay connected.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "health/client.rs"]
mod client;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_core::ServiceKey;
use ferrolb_speaker::health::{
    ConnLimits, HealthConfig, HealthHandle, HealthServer, HealthSnapshot, ServiceHealth,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::watch;

use client::{POLL, answers_within, closed_within, handle_within, request};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The bound for answers to follow the snapshot.
const FLIP_DEADLINE: Duration = Duration::from_secs(1);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind((LOCALHOST, 0)).expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

fn key(ns: &str, name: &str) -> ServiceKey {
    ServiceKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn snapshot(services: &[(ServiceKey, u32, Option<u16>)]) -> Arc<HealthSnapshot> {
    let services: BTreeMap<_, _> = services
        .iter()
        .map(|(k, eps, port)| {
            let health = ServiceHealth {
                local_ready_endpoints: *eps,
                health_check_node_port: *port,
            };
            (k.clone(), health)
        })
        .collect();
    Arc::new(HealthSnapshot {
        synced: true,
        debug_state: json!({"services": services.len()}).into(),
        services,
        serve_node_ports: true,
        ..HealthSnapshot::default()
    })
}

fn config(node_ports: bool) -> HealthConfig {
    let mut c = HealthConfig::new(SocketAddr::new(LOCALHOST, 0));
    c.node_port_ip = node_ports.then_some(LOCALHOST);
    c.bind_retry = Duration::from_millis(100);
    c
}

async fn start(
    config: HealthConfig,
) -> (HealthHandle, watch::Sender<Arc<HealthSnapshot>>, SocketAddr) {
    let (tx, rx) = watch::channel(Arc::new(HealthSnapshot::default()));
    let mut registry = Registry::with_prefix("ferrolb_speaker");
    let probes: Counter = Counter::default();
    probes.inc();
    registry.register("test_probes", "A counter for the test", probes);
    let handle = HealthServer::spawn(config, rx, Arc::new(registry))
        .await
        .expect("health server starts");
    let addr = handle.local_addr();
    (handle, tx, addr)
}

#[tokio::test]
async fn healthz_and_service_answers_flip_with_the_snapshot() {
    let (_handle, tx, addr) = start(config(false)).await;
    let web = key("shop", "web");

    let first = request(addr, "GET", "/healthz").await.expect("answer");
    assert_eq!(first.status, 503);
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("x-content-type-options"), Some("nosniff"));
    let body = first.json();
    assert_eq!(body["lastUpdated"], "0001-01-01T00:00:00Z");
    assert_eq!(body["healthy"], false);
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not synced")),
        "{body}"
    );

    tx.send_replace(snapshot(&[(web.clone(), 1, None)]));
    answers_within(addr, "/healthz", FLIP_DEADLINE, |r| r.status == 200).await;
    let up = request(addr, "GET", "/services/shop/web")
        .await
        .expect("answer");
    assert_eq!(up.status, 200);
    assert_eq!(up.header("x-load-balancing-endpoint-weight"), Some("1"));
    assert_eq!(
        up.json(),
        json!({"service": {"namespace": "shop", "name": "web"}, "localEndpoints": 1, "serviceProxyHealthy": true})
    );

    tx.send_replace(snapshot(&[(web.clone(), 0, None)]));
    answers_within(addr, "/services/shop/web", FLIP_DEADLINE, |r| {
        r.status == 503 && r.json()["localEndpoints"] == 0
    })
    .await;
    tx.send_replace(snapshot(&[(web, 3, None)]));
    answers_within(addr, "/services/shop/web", FLIP_DEADLINE, |r| {
        r.status == 200 && r.header("x-load-balancing-endpoint-weight") == Some("3")
    })
    .await;

    let unknown = request(addr, "GET", "/services/shop/nope")
        .await
        .expect("answer");
    assert_eq!(unknown.status, 503);
    assert_eq!(unknown.json()["localEndpoints"], 0);

    let deleting = HealthSnapshot {
        node_deleting: true,
        ..(*snapshot(&[])).clone()
    };
    tx.send_replace(Arc::new(deleting));
    answers_within(addr, "/healthz", FLIP_DEADLINE, |r| {
        r.status == 503 && r.json()["nodeEligible"] == false
    })
    .await;
    let live = request(addr, "GET", "/livez").await.expect("answer");
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["healthy"], true);
}

#[tokio::test]
async fn other_paths_and_methods_get_404_and_405() {
    let (_handle, tx, addr) = start(config(false)).await;
    tx.send_replace(snapshot(&[(key("a", "b"), 1, None)]));
    for path in ["/", "/nope", "/services/a", "/services/a/b/c", "/healthz/x"] {
        let r = request(addr, "GET", path).await.expect("answer");
        assert_eq!(r.status, 404, "GET {path}");
    }
    for (method, path) in [
        ("POST", "/healthz"),
        ("PUT", "/services/a/b"),
        ("DELETE", "/debug/state"),
    ] {
        let r = request(addr, method, path).await.expect("answer");
        assert_eq!(r.status, 405, "{method} {path}");
    }
    let head = request(addr, "HEAD", "/healthz").await.expect("answer");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "{head:?}");
    // Still serving after all that.
    assert_eq!(
        request(addr, "GET", "/livez").await.expect("answer").status,
        200
    );
}

#[tokio::test]
async fn debug_state_and_metrics() {
    let (_handle, tx, addr) = start(config(false)).await;
    tx.send_replace(snapshot(&[
        (key("a", "b"), 1, None),
        (key("a", "c"), 0, None),
    ]));
    answers_within(addr, "/debug/state", FLIP_DEADLINE, |r| {
        r.status == 200 && r.json() == json!({"services": 2})
    })
    .await;
    let metrics = request(addr, "GET", "/metrics").await.expect("answer");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{metrics:?}"
    );
    assert!(
        metrics.body.contains("ferrolb_speaker_test_probes_total 1"),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn health_check_node_ports_open_flip_and_close_with_the_snapshot() {
    let (handle, tx, _addr) = start(config(true)).await;
    let web = key("shop", "web");
    let port = free_port();
    let hc = SocketAddr::new(LOCALHOST, port);

    tx.send_replace(snapshot(&[(web.clone(), 2, Some(port))]));
    answers_within(hc, "/any/path", FLIP_DEADLINE, |r| r.status == 200).await;
    assert_eq!(handle.ports_open(), vec![port]);
    let r = request(hc, "GET", "/healthz").await.expect("answer");
    assert_eq!(r.header("x-load-balancing-endpoint-weight"), Some("2"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.body,
        "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
    );
    // kube-proxy's hcHandler answers whatever the method.
    assert_eq!(request(hc, "POST", "/").await.expect("answer").status, 200);

    tx.send_replace(snapshot(&[(web.clone(), 0, Some(port))]));
    answers_within(hc, "/", FLIP_DEADLINE, |r| r.status == 503).await;
    tx.send_replace(snapshot(&[(web, 1, Some(port))]));
    answers_within(hc, "/", FLIP_DEADLINE, |r| r.status == 200).await;

    tx.send_replace(snapshot(&[]));
    handle_within(&handle, FLIP_DEADLINE, |h| h.ports_open().is_empty()).await;
    let start = Instant::now();
    while TcpStream::connect(hc).await.is_ok() {
        assert!(
            start.elapsed() < FLIP_DEADLINE,
            "port {port} still accepts connections"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn health_check_node_ports_follow_the_dataplane_decision() {
    let (handle, tx, addr) = start(config(true)).await;
    let port = free_port();
    let hc = SocketAddr::new(LOCALHOST, port);
    let programming = snapshot(&[(key("shop", "web"), 1, Some(port))]);
    tx.send_replace(programming.clone());
    answers_within(hc, "/", FLIP_DEADLINE, |r| r.status == 200).await;

    // Announce-only: the port is released (kube-proxy binds it); the main port stays.
    tx.send_replace(Arc::new(HealthSnapshot {
        serve_node_ports: false,
        ..(*programming).clone()
    }));
    handle_within(&handle, FLIP_DEADLINE, |h| h.ports_open().is_empty()).await;
    let start = Instant::now();
    while TcpStream::connect(hc).await.is_ok() {
        assert!(start.elapsed() < FLIP_DEADLINE, "port {port} still bound");
        tokio::time::sleep(POLL).await;
    }
    // Free for kube-proxy (Go listeners set SO_REUSEADDR too).
    drop(ferrolb_speaker::health::serve::bind(hc).expect("free for kube-proxy"));
    assert_eq!(
        request(addr, "GET", "/livez").await.expect("answer").status,
        200
    );

    tx.send_replace(programming);
    answers_within(hc, "/", FLIP_DEADLINE, |r| r.status == 200).await;
    assert_eq!(handle.ports_open(), vec![port]);
}

#[tokio::test]
async fn a_taken_node_port_is_reported_and_retried() {
    let (handle, tx, addr) = start(config(true)).await;
    let blocker = std::net::TcpListener::bind((LOCALHOST, 0)).expect("bind port 0");
    let port = blocker.local_addr().expect("local addr").port();

    tx.send_replace(snapshot(&[(key("shop", "web"), 1, Some(port))]));
    handle_within(&handle, FLIP_DEADLINE, |h| {
        h.ports_failed().iter().any(|(p, _)| *p == port)
    })
    .await;
    assert!(handle.ports_open().is_empty());
    assert_eq!(
        request(addr, "GET", "/healthz")
            .await
            .expect("answer")
            .status,
        200
    );

    drop(blocker);
    let hc = SocketAddr::new(LOCALHOST, port);
    answers_within(hc, "/", Duration::from_secs(2), |r| r.status == 200).await;
    assert!(handle.ports_failed().is_empty());
}

/// Short enough for a quick test, long enough to tell "answered at once" from "waited for it".
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

fn short_header_timeout(max_connections: usize) -> HealthConfig {
    let mut c = config(false);
    c.main_limits = ConnLimits {
        max_connections,
        header_read_timeout: HEADER_TIMEOUT,
        connection_lifetime: Duration::from_secs(10),
    };
    c
}

#[tokio::test]
async fn a_silent_client_does_not_block_others_and_is_dropped_after_the_header_timeout() {
    let (_handle, tx, addr) = start(short_header_timeout(8)).await;
    tx.send_replace(snapshot(&[]));
    let mut silent = TcpStream::connect(addr).await.expect("connect");

    let served = Instant::now();
    assert_eq!(
        request(addr, "GET", "/livez").await.expect("answer").status,
        200
    );
    assert!(
        served.elapsed() < HEADER_TIMEOUT / 2,
        "took {:?}",
        served.elapsed()
    );

    let took = closed_within(&mut silent, Duration::from_secs(3)).await;
    assert!(
        took >= Duration::from_millis(200),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn the_connection_limit_holds_extra_clients_until_a_slot_frees() {
    let (_handle, tx, addr) = start(short_header_timeout(1)).await;
    tx.send_replace(snapshot(&[]));
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    // Let the server take the silent connection into its only slot.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let waited = Instant::now();
    assert_eq!(
        request(addr, "GET", "/livez").await.expect("answer").status,
        200
    );
    let took = waited.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "the limit did not hold: {took:?}"
    );
    closed_within(&mut silent, Duration::from_secs(1)).await;
}
