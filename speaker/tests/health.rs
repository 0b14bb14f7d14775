//! The health API over real sockets on 127.0.0.1 (and ::1): answers flip with the snapshot
//! within a second, healthCheckNodePorts open and close with it, any method is answered and
//! other paths get Go's 404 (like kube-proxy), `/metrics` and `/debug/state` are only on the
//! private listener, both families are served, and silent clients neither block others nor
//! stay connected.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "health/client.rs"]
mod client;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_core::ServiceKey;
use ferrolb_speaker::health::{
    ConnLimits, HealthConfig, HealthHandle, HealthRequests, HealthServer, HealthSnapshot, PathKind,
    ServiceHealth,
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
        node_known: true,
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
    let handle = HealthServer::spawn(config, rx)
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
    // kube-proxy before it knows its Node: healthy, not eligible.
    assert_eq!(body["lastUpdated"], "0001-01-01T00:00:00Z");
    assert_eq!(body["healthy"], true);
    assert_eq!(body["nodeEligible"], false);

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

/// The body without its times, which change between two answers.
fn untimed(r: &client::Reply) -> serde_json::Value {
    let mut v = r.json();
    if let Some(o) = v.as_object_mut() {
        o.remove("lastUpdated");
        o.remove("currentTime");
    }
    v
}

#[tokio::test]
async fn any_method_is_answered_and_other_paths_get_gos_404() {
    let (_handle, tx, addr) = start(config(false)).await;
    tx.send_replace(snapshot(&[(key("a", "b"), 1, None)]));
    answers_within(addr, "/healthz", FLIP_DEADLINE, |r| r.status == 200).await;
    let get = request(addr, "GET", "/healthz").await.expect("answer");
    // kube-proxy's handlers ignore the method (HAProxy checks with OPTIONS by default).
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        for path in ["/healthz", "/livez", "/services/a/b", "/healthz?probe=1"] {
            let r = request(addr, method, path).await.expect("answer");
            assert_eq!(r.status, 200, "{method} {path}");
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        }
        let r = request(addr, method, "/healthz").await.expect("answer");
        assert_eq!(untimed(&r), untimed(&get), "{method}");
    }
    // HEAD: the same head, the body's length, no body (as Go's server).
    let head = request(addr, "HEAD", "/healthz").await.expect("answer");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("application/json"));
    // A healthy answer's top lastUpdated and currentTime are both the current time, in Go's
    // RFC 3339 with trailing zeros trimmed, so their length varies between answers: the HEAD's
    // content-length is the GET body's with both replaced by one time of a length such a time
    // can have (20, or 22 to 30 characters).
    let body = get.json();
    assert_eq!(body["lastUpdated"], body["currentTime"], "{get:?}");
    let time = body["currentTime"].as_str().expect("currentTime").len();
    let untimed_len = get.body.len() - 2 * time;
    let head_len: usize = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    let head_times = head_len.saturating_sub(untimed_len);
    assert!(
        head_times % 2 == 0 && (head_times / 2 == 20 || (22..=30).contains(&(head_times / 2))),
        "HEAD content-length {head_len} is not the GET body's ({}) with another time: {head:?}",
        get.body.len()
    );
    assert!(head.body.is_empty(), "{head:?}");
    // Not kube-proxy's paths, /metrics and /debug/state included: Go's NotFound.
    for path in [
        "/",
        "/nope",
        "/services/a",
        "/services/a/b/c",
        "/healthz/x",
        "/metrics",
        "/debug/state",
    ] {
        for method in ["GET", "POST"] {
            let r = request(addr, method, path).await.expect("answer");
            assert_eq!(r.status, 404, "{method} {path}");
            assert_eq!(r.body, "404 page not found\n");
            assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        }
    }
    // Still serving after all that.
    assert_eq!(
        request(addr, "GET", "/livez").await.expect("answer").status,
        200
    );
}

#[tokio::test]
async fn an_unspecified_ipv4_address_listens_on_ipv6_too() {
    let port = free_port();
    let mut c = HealthConfig::new(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port));
    c.bind_retry = Duration::from_millis(100);
    let (_handle, tx, _) = start(c).await;
    tx.send_replace(snapshot(&[]));
    for ip in [LOCALHOST, IpAddr::V6(Ipv6Addr::LOCALHOST)] {
        let r = request(SocketAddr::new(ip, port), "GET", "/healthz")
            .await
            .unwrap_or_else(|e| panic!("{ip}: {e}"));
        assert_eq!(r.status, 200, "{ip}");
    }
}

/// Lets every token through: the access check itself is tested in ferrolb-runtime.
struct AllowAll;

impl ferrolb_runtime::access::Reviewer for AllowAll {
    async fn authenticate(
        &self,
        _token: &str,
    ) -> Result<Result<ferrolb_runtime::access::User, String>, ferrolb_runtime::access::ReviewError>
    {
        Ok(Ok(ferrolb_runtime::access::User {
            name: "scraper".into(),
            uid: String::new(),
            groups: Vec::new(),
        }))
    }

    async fn authorize(
        &self,
        _user: &ferrolb_runtime::access::User,
        _attrs: &ferrolb_runtime::access::Attributes,
    ) -> Result<Result<(), String>, ferrolb_runtime::access::ReviewError> {
        Ok(Ok(()))
    }
}

#[tokio::test]
async fn debug_state_and_metrics_are_on_the_private_listener() {
    let (tx, rx) = watch::channel(snapshot(&[
        (key("a", "b"), 1, None),
        (key("a", "c"), 0, None),
    ]));
    let mut registry = Registry::with_prefix("ferrolb_speaker");
    let probes: Counter = Counter::default();
    probes.inc();
    registry.register("test_probes", "A counter for the test", probes);
    let (addr, task) = ferrolb_runtime::access::serve(
        SocketAddr::new(LOCALHOST, 0),
        ferrolb_speaker::health::admin::router(rx, Arc::new(registry)),
        Arc::new(ferrolb_runtime::access::Gate::new(AllowAll)),
    )
    .await
    .expect("private listener");
    // Without a token: 401, whatever the path.
    for path in ["/metrics", "/debug/state"] {
        let r = request(addr, "GET", path).await.expect("answer");
        assert_eq!(r.status, 401, "{path}");
    }
    let state = client::request_with(addr, "GET", "/debug/state", Some("Bearer t"))
        .await
        .expect("answer");
    assert_eq!(state.status, 200);
    assert_eq!(state.json(), json!({"services": 2}));
    let metrics = client::request_with(addr, "GET", "/metrics", Some("Bearer t"))
        .await
        .expect("answer");
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
    drop(tx);
    task.abort();
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
async fn every_request_is_counted_by_path_kind_and_code() {
    let mut c = config(true);
    let requests = HealthRequests::default();
    c.requests = requests.clone();
    let (handle, tx, addr) = start(c).await;
    let web = key("shop", "web");
    let port = free_port();
    let hc = SocketAddr::new(LOCALHOST, port);
    tx.send_replace(snapshot(&[(web, 1, Some(port))]));
    handle_within(&handle, FLIP_DEADLINE, |h| h.ports_open() == vec![port]).await;

    for (path, code) in [
        ("/healthz", 200),
        ("/healthz", 200),
        ("/livez", 200),
        ("/services/shop/web", 200),
        ("/services/shop/gone", 503),
        ("/metrics", 404),
    ] {
        let r = request(addr, "GET", path).await.expect("answer");
        assert_eq!(r.status, code, "{path}");
    }
    assert_eq!(request(hc, "GET", "/x").await.expect("answer").status, 200);

    for (kind, code, n) in [
        (PathKind::Healthz, 200, 2),
        (PathKind::Livez, 200, 1),
        (PathKind::Service, 200, 1),
        (PathKind::Service, 503, 1),
        (PathKind::Other, 404, 1),
        (PathKind::NodePort, 200, 1),
        (PathKind::Healthz, 503, 0),
    ] {
        assert_eq!(requests.get(kind, code), n, "{kind:?} {code}");
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

#[tokio::test]
async fn debug_probe_and_rules_answer_only_for_known_addresses() {
    use ferrolb_speaker::nodestate::probes::{KnownAddresses, ProbeOn};
    // Known, but no interface to probe it on.
    let known = KnownAddresses::listed(
        "node-a",
        [("198.51.100.200".parse().unwrap(), ProbeOn::default())].into(),
    );
    let (tx, rx) = watch::channel(Arc::new(HealthSnapshot {
        probes: Arc::new(known),
        ..(*snapshot(&[])).clone()
    }));
    let (addr, task) = ferrolb_runtime::access::serve(
        SocketAddr::new(LOCALHOST, 0),
        ferrolb_speaker::health::admin::router(rx, Arc::new(Registry::default())),
        Arc::new(ferrolb_runtime::access::Gate::new(AllowAll)),
    )
    .await
    .expect("private listener");
    let get = async |path: &str| {
        client::request_with(addr, "GET", path, Some("Bearer t"))
            .await
            .expect("answer")
    };
    for path in ["/debug/probe", "/debug/rules"] {
        assert_eq!(
            request(addr, "GET", path).await.expect("answer").status,
            401
        );
        let missing = get(path).await;
        assert_eq!(missing.status, 400, "{path}");
        assert!(
            missing.body.contains("missing query parameter address"),
            "{}",
            missing.body
        );
        let bad = get(&format!("{path}?address=web")).await;
        assert_eq!(bad.status, 400);
        assert!(
            bad.body.contains("address=\"web\" is not an IP address"),
            "{}",
            bad.body
        );
        let unknown = get(&format!("{path}?address=192.0.2.1")).await;
        assert_eq!(unknown.status, 400);
        assert!(
            unknown
                .body
                .contains("192.0.2.1 is not a LoadBalancer address this speaker knows"),
            "{}",
            unknown.body
        );
        assert!(
            unknown
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/plain")),
            "{unknown:?}"
        );
    }
    let nowhere = get("/debug/probe?address=198.51.100.200&windowMs=50").await;
    assert_eq!(nowhere.status, 503);
    assert!(
        nowhere
            .body
            .contains("no interface to probe 198.51.100.200 on"),
        "{}",
        nowhere.body
    );
    drop(tx);
    task.abort();
}
