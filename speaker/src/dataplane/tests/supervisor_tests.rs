//! The supervisor's shell on Tokio's paused clock with a scripted detection (the real `nft`
//! one runs in `daemon::switch_tests`, as root).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::{
    ChangeLabels, DecisionMetrics, KubeProxy, Mode, SupervisorConfig, supervise_with,
};

const INTERVAL: Duration = Duration::from_secs(1);
const DELAY: Duration = Duration::from_secs(10);

/// What the next detection finds, and how many ran.
#[derive(Clone)]
struct Script {
    seen: Arc<Mutex<KubeProxy>>,
    runs: Arc<AtomicUsize>,
}

impl Script {
    fn new(seen: KubeProxy) -> Script {
        Script {
            seen: Arc::new(Mutex::new(seen)),
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn set(&self, seen: KubeProxy) {
        *self.seen.lock().unwrap() = seen;
    }

    fn detect(&self) -> impl FnMut() -> std::future::Ready<KubeProxy> + Send + 'static {
        let script = self.clone();
        move || {
            script.runs.fetch_add(1, Ordering::SeqCst);
            std::future::ready(script.seen.lock().unwrap().clone())
        }
    }
}

fn config(mode: Mode) -> SupervisorConfig {
    SupervisorConfig {
        mode,
        detect_interval: INTERVAL,
        takeover_delay: DELAY,
    }
}

fn changes(metrics: &DecisionMetrics, to: &str) -> u64 {
    metrics
        .changes
        .get_or_create(&ChangeLabels { to: to.into() })
        .get()
}

fn present() -> KubeProxy {
    KubeProxy::Present("table ip kube-proxy".into())
}

#[tokio::test(start_paused = true)]
async fn auto_hands_over_within_an_interval_and_takes_over_after_the_delay() {
    let script = Script::new(KubeProxy::Absent);
    let metrics = DecisionMetrics::default();
    let (mut rx, task) = supervise_with(config(Mode::Auto), script.detect(), metrics.clone()).await;
    assert!(rx.borrow_and_update().enabled, "programs at once at start");
    assert_eq!(metrics.programming.get(), 1);

    script.set(present());
    tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
    assert!(rx.has_changed().unwrap());
    assert!(!rx.borrow_and_update().enabled);
    assert_eq!(metrics.programming.get(), 0);
    assert_eq!(changes(&metrics, "announce-only"), 1);

    script.set(KubeProxy::Absent);
    tokio::time::sleep(DELAY - Duration::from_millis(200)).await;
    let waiting = rx.borrow_and_update().clone();
    assert!(
        !waiting.enabled && waiting.takeover_at.is_some(),
        "{waiting:?}"
    );
    tokio::time::sleep(2 * INTERVAL).await;
    assert!(rx.borrow_and_update().enabled);
    assert_eq!(changes(&metrics, "nftables"), 1);
    assert_eq!(metrics.programming.get(), 1);

    // Unchanged detections publish nothing.
    tokio::time::sleep(5 * INTERVAL).await;
    assert!(!rx.has_changed().unwrap());

    drop(rx);
    tokio::time::timeout(2 * INTERVAL, task)
        .await
        .expect("ends once nobody listens")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn announce_only_never_detects_and_nftables_never_changes() {
    let script = Script::new(present());
    let metrics = DecisionMetrics::default();
    let (rx, _task) =
        supervise_with(config(Mode::AnnounceOnly), script.detect(), metrics.clone()).await;
    tokio::time::sleep(5 * INTERVAL).await;
    assert!(!rx.borrow().enabled);
    assert_eq!(rx.borrow().kube_proxy, None);
    assert_eq!(script.runs.load(Ordering::SeqCst), 0);
    assert_eq!(metrics.programming.get(), 0);

    let script = Script::new(present());
    let metrics = DecisionMetrics::default();
    let (rx, _task) =
        supervise_with(config(Mode::Nftables), script.detect(), metrics.clone()).await;
    script.set(KubeProxy::Absent);
    tokio::time::sleep(3 * INTERVAL).await;
    script.set(KubeProxy::Unknown("nft: gone".into()));
    tokio::time::sleep(3 * INTERVAL).await;
    assert!(rx.borrow().enabled);
    assert!(script.runs.load(Ordering::SeqCst) >= 6);
    assert_eq!(changes(&metrics, "announce-only"), 0);
    assert_eq!(metrics.programming.get(), 1);
}
