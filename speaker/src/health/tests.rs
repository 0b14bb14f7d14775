//! The pure answers against kube-proxy's shapes (kubernetes `pkg/proxy/healthcheck`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::answers::{self, Answer};
use super::model::{HealthSnapshot, Judge, RulesState, ServiceHealth};
use super::timefmt::{GO_ZERO_TIME, rfc3339_nano};
use ferrolb_core::ServiceKey;

fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

const NOW_SECS: u64 = 1_700_000_000;

fn now() -> SystemTime {
    at(NOW_SECS, 250_000_000)
}

fn key(ns: &str, name: &str) -> ServiceKey {
    ServiceKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn healthy() -> HealthSnapshot {
    HealthSnapshot {
        synced: true,
        node_known: true,
        last_updated: Some(at(NOW_SECS - 5, 0)),
        serve_node_ports: true,
        ..HealthSnapshot::default()
    }
}

fn with_service(
    mut snap: HealthSnapshot,
    k: ServiceKey,
    eps: u32,
    port: Option<u16>,
) -> HealthSnapshot {
    snap.services.insert(
        k,
        ServiceHealth {
            local_ready_endpoints: eps,
            health_check_node_port: port,
        },
    );
    snap
}

fn body_json(a: &Answer) -> Value {
    serde_json::from_str(&a.body).expect("answer body is JSON")
}

fn assert_json_headers(a: &Answer) {
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn time_is_gos_rfc3339_nano_in_utc() {
    assert_eq!(rfc3339_nano(None), GO_ZERO_TIME);
    assert_eq!(rfc3339_nano(Some(UNIX_EPOCH)), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_nano(Some(at(NOW_SECS, 0))), "2023-11-14T22:13:20Z");
    assert_eq!(
        rfc3339_nano(Some(at(NOW_SECS, 500_000_000))),
        "2023-11-14T22:13:20.5Z"
    );
    assert_eq!(
        rfc3339_nano(Some(at(NOW_SECS, 123_456_789))),
        "2023-11-14T22:13:20.123456789Z"
    );
    assert_eq!(
        rfc3339_nano(Some(at(NOW_SECS, 1_000))),
        "2023-11-14T22:13:20.000001Z"
    );
    assert_eq!(
        rfc3339_nano(Some(at(1_709_164_800, 0))),
        "2024-02-29T00:00:00Z"
    );
    assert_eq!(
        rfc3339_nano(Some(at(951_782_400, 0))),
        "2000-02-29T00:00:00Z"
    );
    assert_eq!(
        rfc3339_nano(Some(at(4_102_444_799, 0))),
        "2099-12-31T23:59:59Z"
    );
}

/// kube-proxy's `status` of a dual-stack node whose proxiers last updated at `t`.
fn status(t: &str, healthy: bool) -> Value {
    json!({"IPv4": {"lastUpdated": t, "healthy": healthy}, "IPv6": {"lastUpdated": t, "healthy": healthy}})
}

#[test]
fn healthz_ok_has_kube_proxys_exact_body() {
    let a = answers::healthz(&healthy(), &Judge::default(), now());
    assert_eq!(a.status, 200);
    assert_json_headers(&a);
    // json.Marshal(ProxyHealth) field order; lastUpdated is "now" when healthy, the real
    // time per family in status (Go sorts map keys).
    assert_eq!(
        a.body,
        r#"{"lastUpdated":"2023-11-14T22:13:20.25Z","currentTime":"2023-11-14T22:13:20.25Z","nodeEligible":true,"healthy":true,"status":{"IPv4":{"lastUpdated":"2023-11-14T22:13:15Z","healthy":true},"IPv6":{"lastUpdated":"2023-11-14T22:13:15Z","healthy":true}}}"#
    );
}

#[test]
fn starting_is_healthy_until_the_health_timeout_but_the_node_is_unknown() {
    let judge = Judge {
        health_timeout: Duration::from_secs(60),
    };
    let started = |age: u64| HealthSnapshot::starting(at(NOW_SECS - age, 0));
    // kube-proxy before its first sync: healthy (its SyncLoop marked the start as updated),
    // the Node not known yet: nodeEligible false, so /healthz 503 and /livez 200.
    let a = answers::healthz(&started(5), &judge, now());
    assert_eq!(a.status, 503);
    assert_json_headers(&a);
    assert_eq!(
        body_json(&a),
        json!({"lastUpdated": "2023-11-14T22:13:15Z", "currentTime": "2023-11-14T22:13:20.25Z",
            "nodeEligible": false, "healthy": true, "status": status("2023-11-14T22:13:15Z", true)})
    );
    assert_eq!(answers::livez(&started(5), &judge, now()).status, 200);
    // Once the Node is known, 200 although the watches have not synced.
    let known = HealthSnapshot {
        node_known: true,
        ..started(59)
    };
    assert_eq!(answers::healthz(&known, &judge, now()).status, 200);
    // Watches that never sync: unhealthy after the health timeout, like a proxier whose
    // first sync never comes.
    let stuck = answers::livez(&started(61), &judge, now());
    assert_eq!(stuck.status, 503);
    assert_eq!(
        body_json(&stuck),
        json!({"lastUpdated": "2023-11-14T22:12:19Z", "currentTime": "2023-11-14T22:13:20.25Z",
            "healthy": false, "status": status("2023-11-14T22:12:19Z", false)})
    );
}

#[test]
fn status_is_left_out_before_any_update() {
    // kube-proxy between its health server's start and SyncLoop's first `Updated()`.
    let a = answers::healthz(&HealthSnapshot::default(), &Judge::default(), now());
    assert_eq!(a.status, 503);
    assert_eq!(
        a.body,
        r#"{"lastUpdated":"0001-01-01T00:00:00Z","currentTime":"2023-11-14T22:13:20.25Z","nodeEligible":false,"healthy":true}"#
    );
    assert_eq!(GO_ZERO_TIME, "0001-01-01T00:00:00Z");
}

#[test]
fn healthz_deleting_or_tainted_node_is_503_but_proxy_healthy() {
    let deleting = HealthSnapshot {
        node_deleting: true,
        ..healthy()
    };
    let excluded = HealthSnapshot {
        node_excluded: Some("taint ToBeDeletedByClusterAutoscaler".into()),
        ..healthy()
    };
    for snap in [deleting, excluded] {
        let a = answers::healthz(&snap, &Judge::default(), now());
        assert_eq!(a.status, 503);
        assert_eq!(
            body_json(&a),
            json!({"lastUpdated": "2023-11-14T22:13:15Z", "currentTime": "2023-11-14T22:13:20.25Z",
                "nodeEligible": false, "healthy": true, "status": status("2023-11-14T22:13:15Z", true)})
        );
        // The reason is the speaker's, not in kube-proxy's body.
        assert!(
            snap.verdict(&Judge::default(), now()).reason.is_some(),
            "{snap:?}"
        );
        // Node eligibility does not matter to /livez.
        assert_eq!(answers::livez(&snap, &Judge::default(), now()).status, 200);
    }
}

#[test]
fn pending_rules_are_tolerated_for_the_health_timeout() {
    let judge = Judge {
        health_timeout: Duration::from_secs(60),
    };
    let pending = |age: u64| HealthSnapshot {
        rules: RulesState::Pending {
            since: at(NOW_SECS - age, 0),
            error: Some("nft: busy".into()),
        },
        ..healthy()
    };
    assert_eq!(answers::healthz(&pending(59), &judge, now()).status, 200);
    assert_eq!(answers::livez(&pending(59), &judge, now()).status, 200);

    let stale = answers::healthz(&pending(61), &judge, now());
    assert_eq!(stale.status, 503);
    assert_eq!(
        body_json(&stale),
        json!({"lastUpdated": "2023-11-14T22:13:15Z", "currentTime": "2023-11-14T22:13:20.25Z",
            "nodeEligible": true, "healthy": false, "status": status("2023-11-14T22:13:15Z", false)})
    );
    let reason = pending(61)
        .verdict(&judge, now())
        .reason
        .unwrap_or_default();
    assert!(
        reason.contains("rules not applied for 61s") && reason.contains("nft: busy"),
        "{reason}"
    );

    let live = answers::livez(&pending(61), &judge, now());
    assert_eq!(live.status, 503);
    assert_json_headers(&live);
    assert_eq!(
        body_json(&live),
        json!({"lastUpdated": "2023-11-14T22:13:15Z", "currentTime": "2023-11-14T22:13:20.25Z",
            "healthy": false, "status": status("2023-11-14T22:13:15Z", false)})
    );
}

#[test]
fn other_paths_get_gos_not_found() {
    let a = answers::not_found();
    assert_eq!(a.status, 404);
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(a.body, "404 page not found\n");
}

#[test]
fn livez_ignores_the_first_sync_and_has_no_node_eligible() {
    let a = answers::livez(&HealthSnapshot::default(), &Judge::default(), now());
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        r#"{"lastUpdated":"2023-11-14T22:13:20.25Z","currentTime":"2023-11-14T22:13:20.25Z","healthy":true}"#
    );
}

#[test]
fn service_answer_is_kube_proxys_byte_for_byte() {
    let k = key("shop", "web");
    let snap = with_service(healthy(), k.clone(), 2, Some(31_805));
    let a = answers::service(&snap, &Judge::default(), now(), &k);
    assert_eq!(a.status, 200);
    assert_json_headers(&a);
    assert_eq!(a.header("X-Load-Balancing-Endpoint-Weight"), Some("2"));
    assert_eq!(
        a.body,
        "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
    );
    assert_eq!(
        body_json(&a),
        json!({"service": {"namespace": "shop", "name": "web"}, "localEndpoints": 2, "serviceProxyHealthy": true})
    );
}

#[test]
fn service_without_local_endpoints_or_unknown_is_503() {
    let k = key("shop", "web");
    let none = with_service(healthy(), k.clone(), 0, Some(31_805));
    for (snap, asked) in [(none, k.clone()), (healthy(), key("shop", "gone"))] {
        let a = answers::service(&snap, &Judge::default(), now(), &asked);
        assert_eq!(a.status, 503);
        assert_eq!(a.header("X-Load-Balancing-Endpoint-Weight"), Some("0"));
        let b = body_json(&a);
        assert_eq!(b["localEndpoints"], 0);
        assert_eq!(b["serviceProxyHealthy"], true);
        assert_eq!(b["service"]["name"], &*asked.name);
    }
}

#[test]
fn service_is_503_while_the_proxy_is_unhealthy_but_ignores_node_eligibility() {
    let k = key("shop", "web");
    let stale = HealthSnapshot {
        rules: RulesState::Pending {
            since: at(NOW_SECS - 61, 0),
            error: None,
        },
        ..with_service(healthy(), k.clone(), 3, None)
    };
    let a = answers::service(&stale, &Judge::default(), now(), &k);
    assert_eq!(a.status, 503);
    assert_eq!(body_json(&a)["serviceProxyHealthy"], false);
    assert_eq!(a.header("X-Load-Balancing-Endpoint-Weight"), Some("3"));

    // kube-proxy's hcHandler looks at proxy health only, not at nodeEligible.
    let deleting = HealthSnapshot {
        node_deleting: true,
        node_known: false,
        ..with_service(healthy(), k.clone(), 3, None)
    };
    assert_eq!(
        answers::service(&deleting, &Judge::default(), now(), &k).status,
        200
    );
}

#[test]
fn service_names_are_json_escaped() {
    let k = key("a\"b", "c\\d");
    let a = answers::service(&healthy(), &Judge::default(), now(), &k);
    let b = body_json(&a);
    assert_eq!(b["service"]["namespace"], "a\"b");
    assert_eq!(b["service"]["name"], "c\\d");
}

#[test]
fn node_ports_pick_one_owner_per_port_and_skip_zero() {
    let snap = with_service(
        with_service(
            with_service(
                with_service(healthy(), key("a", "one"), 1, Some(30_001)),
                key("b", "two"),
                1,
                Some(30_001),
            ),
            key("c", "three"),
            0,
            Some(0),
        ),
        key("d", "four"),
        0,
        Some(30_002),
    );
    let (owners, conflicts) = snap.node_ports();
    assert_eq!(
        owners,
        BTreeMap::from([(30_001, key("a", "one")), (30_002, key("d", "four"))])
    );
    assert_eq!(conflicts, vec![(30_001, key("b", "two"))]);

    let announce_only = HealthSnapshot {
        serve_node_ports: false,
        ..snap
    };
    assert_eq!(announce_only.node_ports(), (BTreeMap::new(), Vec::new()));
}

#[test]
fn debug_state_prints_the_desired_state() {
    let snap = HealthSnapshot {
        debug_state: json!({"vips": {"192.0.2.10": {"announce": true}}}).into(),
        ..healthy()
    };
    let a = answers::debug_state(&snap);
    assert_eq!(a.status, 200);
    assert_json_headers(&a);
    assert_eq!(body_json(&a), snap.debug_state.to_json().unwrap());
}
