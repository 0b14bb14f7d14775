//! The probe's timeout path on loopback: a health endpoint that accepts connections and never
//! answers must fail each probe after the timeout (not sooner, not never), turn the target
//! unhealthy and be counted as `result="fail"`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::*;
use crate::health::State;

const TIMEOUT: Duration = Duration::from_millis(200);
const INTERVAL: Duration = Duration::from_millis(50);

/// A health endpoint on 127.0.0.1 that answers `200` while `answering`, else accepts and holds
/// each connection without a byte (a hung node). Returns the target.
async fn endpoint(answering: Arc<AtomicBool>) -> ProbeTarget {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: the test ends long before this many probes.
        for _ in 0..1_000 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            if answering.load(Ordering::SeqCst) {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            } else {
                held.push(stream);
            }
        }
    });
    ProbeTarget {
        ip: addr.ip(),
        port: addr.port(),
        path: "/healthz".into(),
    }
}

fn fail_count(registry: &prometheus_client::registry::Registry, target: &ProbeTarget) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    let prefix = format!("ferrolb_edge_probes_total{{target=\"{target}\",result=\"fail\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test]
async fn a_silent_endpoint_fails_after_the_timeout() {
    let target = endpoint(Arc::new(AtomicBool::new(false))).await;
    let outcome = probe(&target, TIMEOUT).await;
    assert!(!outcome.ok, "{outcome:?}");
    assert_eq!(outcome.detail, "timeout after 200ms");
    // Not before the timeout, and not much after it (3x margin).
    assert!(
        outcome.took >= TIMEOUT && outcome.took < TIMEOUT * 3,
        "took {:?}",
        outcome.took
    );
}

#[tokio::test]
async fn a_healthy_node_that_hangs_is_marked_down_and_counted() {
    let answering = Arc::new(AtomicBool::new(true));
    let target = endpoint(answering.clone()).await;
    let (metrics, registry) = Metrics::new();
    let config = ProbeConfig {
        interval: INTERVAL,
        timeout: TIMEOUT,
        thresholds: Thresholds {
            healthy: 2,
            unhealthy: 2,
        },
    };
    let mut prober = Prober::new(config, metrics, Arc::new(Notify::new()));
    prober.sync(&BTreeSet::from([target.clone()]));
    let health = prober.health();
    let state = || health.lock().get(&target).map(|h| h.state);

    let started = Instant::now();
    while state() != Some(State::Healthy) {
        assert!(started.elapsed() < Duration::from_secs(5), "never healthy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fail_count(&registry, &target), 0);

    answering.store(false, Ordering::SeqCst);
    let hung = Instant::now();
    while state() != Some(State::Unhealthy) {
        assert!(
            hung.elapsed() < Duration::from_secs(5),
            "still {:?} after 5 s of silence: {:?}",
            state(),
            health.lock().get(&target)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = hung.elapsed();
    // Two timed-out probes in a row: at least 2 timeouts, at most ~3x (2 * (interval + timeout)).
    assert!(
        took >= TIMEOUT * 2 && took < (INTERVAL + TIMEOUT) * 2 * 3,
        "marked down after {took:?}"
    );
    let h = health.lock().get(&target).cloned().unwrap();
    let last = h.last.clone().unwrap();
    assert_eq!(last.detail, "timeout after 200ms");
    assert!(last.took >= TIMEOUT, "{last:?}");
    assert!(h.failures >= 2, "{h:?}");
    // Every failed probe counted, not only the first.
    assert!(fail_count(&registry, &target) >= 2);
    assert!(!health.lock().healthy(&target));
}
