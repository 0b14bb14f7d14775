//! The access check with a reviewer that answers itself: the three outcomes, the verbs, the
//! caches, and the listener answering 401/403/200 over a real socket.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cache::Cache;
use super::*;

/// Tokens it knows (token → user) and what each user may get.
#[derive(Default)]
struct Fake {
    users: BTreeMap<&'static str, &'static str>,
    grants: Vec<(&'static str, &'static str, &'static str)>,
    authn_calls: AtomicUsize,
    authz_calls: AtomicUsize,
    down: bool,
}

impl Fake {
    fn lab() -> Fake {
        Fake {
            users: BTreeMap::from([
                (
                    "scraper-token",
                    "system:serviceaccount:monitoring:prometheus",
                ),
                ("nobody-token", "system:serviceaccount:default:default"),
            ]),
            grants: vec![(
                "system:serviceaccount:monitoring:prometheus",
                "get",
                "/metrics",
            )],
            ..Fake::default()
        }
    }
}

impl Reviewer for Fake {
    async fn authenticate(&self, token: &str) -> Result<Result<User, String>, ReviewError> {
        self.authn_calls.fetch_add(1, Ordering::SeqCst);
        if self.down {
            return Err(ReviewError::Api {
                kind: "TokenReview",
                message: "connection refused".into(),
            });
        }
        Ok(self
            .users
            .get(token)
            .map(|name| User {
                name: (*name).to_string(),
                uid: "uid".into(),
                groups: vec!["system:serviceaccounts".into()],
            })
            .ok_or_else(|| "Unauthorized: token not authenticated".to_string()))
    }

    async fn authorize(
        &self,
        user: &User,
        attrs: &Attributes,
    ) -> Result<Result<(), String>, ReviewError> {
        self.authz_calls.fetch_add(1, Ordering::SeqCst);
        let ok = self
            .grants
            .iter()
            .any(|(u, v, p)| *u == user.name && *v == attrs.verb && *p == attrs.path);
        Ok(if ok { Ok(()) } else { Err(String::new()) })
    }
}

#[test]
fn credentials_are_bearer_tokens_only() {
    assert_eq!(Credential::of(None), Credential::Missing);
    assert_eq!(
        Credential::of(Some("Bearer abc")),
        Credential::Bearer("abc".into())
    );
    assert_eq!(
        Credential::of(Some("bearer  abc ")),
        Credential::Bearer("abc".into())
    );
    for bad in ["Basic dXNlcjpw", "Bearer", "Bearer   ", "abc", ""] {
        assert_eq!(Credential::of(Some(bad)), Credential::Malformed, "{bad:?}");
    }
}

#[test]
fn verbs_are_the_apiservers() {
    for (method, verb) in [
        ("GET", "get"),
        ("HEAD", "get"),
        ("POST", "create"),
        ("PUT", "update"),
        ("PATCH", "patch"),
        ("DELETE", "delete"),
        ("OPTIONS", "options"),
    ] {
        assert_eq!(Attributes::of(method, "/metrics").verb, verb, "{method}");
    }
}

#[test]
fn cache_entries_expire_and_the_cache_stays_bounded() {
    let t0 = Instant::now();
    let mut c: Cache<u32, &str> = Cache::new(Duration::from_secs(10), 3);
    c.put(1, "one", t0);
    assert_eq!(c.get(&1, t0 + Duration::from_secs(9)), Some("one"));
    assert_eq!(c.get(&1, t0 + Duration::from_secs(10)), None);
    for k in 0..100 {
        c.put(k, "x", t0);
        assert!(c.len() <= 3, "{} entries", c.len());
    }
    // Expired entries go first when full.
    let mut c: Cache<u32, &str> = Cache::new(Duration::from_secs(1), 2);
    c.put(1, "old", t0);
    c.put(2, "new", t0 + Duration::from_secs(5));
    c.put(3, "newer", t0 + Duration::from_secs(5));
    assert_eq!(c.get(&2, t0 + Duration::from_secs(5)), Some("new"));
    assert_eq!(c.get(&3, t0 + Duration::from_secs(5)), Some("newer"));
}

#[tokio::test]
async fn unauthenticated_forbidden_and_allowed() {
    let gate = Gate::new(Fake::lab());
    let metrics = Attributes::of("GET", "/metrics");
    let state = Attributes::of("GET", "/debug/state");
    assert_eq!(gate.check(None, &metrics).await.status(), 401);
    assert_eq!(gate.check(Some("Basic x"), &metrics).await.status(), 401);
    assert_eq!(
        gate.check(Some("Bearer forged"), &metrics).await.status(),
        401
    );
    let denied = gate.check(Some("Bearer nobody-token"), &metrics).await;
    assert_eq!(denied.status(), 403);
    let text = denied.body();
    assert!(
        text.contains("system:serviceaccount:default:default")
            && text.contains("\"get\"")
            && text.contains("\"/metrics\"")
            && text.contains("ferrolb-metrics-reader"),
        "{text}"
    );
    assert_eq!(
        gate.check(Some("Bearer scraper-token"), &metrics).await,
        Verdict::Allow
    );
    // Allowed /metrics only: /debug/state is another URL.
    assert_eq!(
        gate.check(Some("Bearer scraper-token"), &state)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn reviews_are_cached_and_failures_are_not() {
    let gate = Gate::new(Fake::lab());
    let metrics = Attributes::of("GET", "/metrics");
    for _ in 0..5 {
        assert_eq!(
            gate.check(Some("Bearer scraper-token"), &metrics).await,
            Verdict::Allow
        );
        assert_eq!(
            gate.check(Some("Bearer forged"), &metrics).await.status(),
            401
        );
    }
    assert_eq!(gate.reviewer().authn_calls.load(Ordering::SeqCst), 2);
    assert_eq!(gate.reviewer().authz_calls.load(Ordering::SeqCst), 1);

    // Expired: asked again.
    let gate = Gate::with_ttl(Fake::lab(), Duration::ZERO);
    for _ in 0..3 {
        gate.check(Some("Bearer scraper-token"), &metrics).await;
    }
    assert_eq!(gate.reviewer().authn_calls.load(Ordering::SeqCst), 3);

    let down = Gate::new(Fake {
        down: true,
        ..Fake::lab()
    });
    for _ in 0..2 {
        assert_eq!(
            down.check(Some("Bearer scraper-token"), &metrics)
                .await
                .status(),
            503
        );
    }
    assert_eq!(down.reviewer().authn_calls.load(Ordering::SeqCst), 2);
}

async fn raw(addr: std::net::SocketAddr, head: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn the_listener_answers_each_outcome() {
    let router = Router::new().route("/metrics", get(|| async { "metrics\n" }));
    let (addr, task) = serve(
        "127.0.0.1:0".parse().unwrap(),
        router,
        Arc::new(Gate::new(Fake::lab())),
    )
    .await
    .unwrap();
    let ask =
        |auth: &str| format!("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n");
    let none = raw(addr, &ask("")).await;
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    assert!(
        none.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{none}"
    );
    let denied = raw(addr, &ask("Authorization: Bearer nobody-token\r\n")).await;
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    let allowed = raw(addr, &ask("Authorization: Bearer scraper-token\r\n")).await;
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");
    assert!(allowed.ends_with("metrics\n"), "{allowed}");
    task.abort();
}
