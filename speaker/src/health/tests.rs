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

#[test]
fn healthz_ok_has_kube_proxys_exact_body() {
    let a = answers::healthz(&healthy(), &Judge::default(), now());
    assert_eq!(a.status, 200);
    assert_json_headers(&a);
    // json.Marshal(ProxyHealth) field order; lastUpdated is "now" when healthy.
    assert_eq!(
        a.body,
        r#"{"lastUpdated":"2023-11-14T22:13:20.25Z","currentTime":"2023-11-14T22:13:20.25Z","nodeEligible":true,"healthy":true}"#
    );
}

#[test]
fn healthz_not_synced_is_503_with_zero_time_and_reason() {
    let a = answers::healthz(&HealthSnapshot::default(), &Judge::default(), now());
    assert_eq!(a.status, 503);
    assert_json_headers(&a);
    let b = body_json(&a);
    assert_eq!(b["lastUpdated"], GO_ZERO_TIME);
    assert_eq!(b["currentTime"], "2023-11-14T22:13:20.25Z");
    assert_eq!(b["nodeEligible"], true);
    assert_eq!(b["healthy"], false);
    assert!(
        b["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not synced")),
        "{b}"
    );
}

#[test]
fn healthz_deleting_or_excluded_node_is_503_but_proxy_healthy() {
    let deleting = HealthSnapshot {
        node_deleting: true,
        ..healthy()
    };
    let excluded = HealthSnapshot {
        node_excluded: Some("taint ToBeDeletedByClusterAutoscaler".into()),
        ..healthy()
    };
    for (snap, words) in [
        (deleting, "being deleted"),
        (excluded, "ToBeDeletedByClusterAutoscaler"),
    ] {
        let a = answers::healthz(&snap, &Judge::default(), now());
        assert_eq!(a.status, 503);
        let b = body_json(&a);
        assert_eq!(b["nodeEligible"], false);
        assert_eq!(b["healthy"], true);
        assert_eq!(b["lastUpdated"], "2023-11-14T22:13:15Z");
        assert!(
            b["reason"].as_str().is_some_and(|r| r.contains(words)),
            "{b}"
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
    let b = body_json(&stale);
    assert_eq!(b["healthy"], false);
    assert_eq!(b["nodeEligible"], true);
    let reason = b["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("rules not applied for 61s") && reason.contains("nft: busy"),
        "{reason}"
    );

    let live = answers::livez(&pending(61), &judge, now());
    assert_eq!(live.status, 503);
    assert_json_headers(&live);
    assert_eq!(
        body_json(&live),
        json!({"lastUpdated": "2023-11-14T22:13:15Z", "currentTime": "2023-11-14T22:13:20.25Z", "healthy": false})
    );
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
        assert_eq!(b["service"]["name"], asked.name.as_str());
    }
}

#[test]
fn service_is_503_while_the_proxy_is_unhealthy_but_ignores_node_eligibility() {
    let k = key("shop", "web");
    let unsynced = HealthSnapshot {
        synced: false,
        ..with_service(healthy(), k.clone(), 3, None)
    };
    let a = answers::service(&unsynced, &Judge::default(), now(), &k);
    assert_eq!(a.status, 503);
    assert_eq!(body_json(&a)["serviceProxyHealthy"], false);
    assert_eq!(a.header("X-Load-Balancing-Endpoint-Weight"), Some("3"));

    // kube-proxy's hcHandler looks at proxy health only, not at nodeEligible.
    let deleting = HealthSnapshot {
        node_deleting: true,
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
