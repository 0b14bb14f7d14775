//! The controller decides each new Service once: its own writes (finalizer, proof annotation,
//! status, pool status) come back through its watches and are not decided again.

use std::time::Duration;

use ferrolb_e2e::bench::prom;
use ferrolb_e2e::k8s;
use ferrolb_e2e::lab::components::CONTROLLERS;
use serde_json::json;

use super::{Scenarios, only, v6};

/// Services created one after another, each once allocated.
const COUNT: usize = 5;

/// Decisions and echo wake-ups both replicas counted (only the leader counts any).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counts {
    decisions: f64,
    echoes_skipped: f64,
}

impl Scenarios<'_> {
    async fn counts(&self) -> Counts {
        let mut total = Counts {
            decisions: 0.0,
            echoes_skipped: 0.0,
        };
        for c in CONTROLLERS {
            let (code, text) = self.lab.private_get(c, "/metrics").await.unwrap();
            assert_eq!(code, 200, "{c}'s /metrics: {text}");
            let decisions = prom::histogram(&text, "ferrolb_controller_decision_duration_seconds")
                .unwrap_or_else(|| panic!("{c} exports no decision histogram"));
            total.decisions += decisions.count;
            total.echoes_skipped += prom::gauge(&text, "ferrolb_controller_echoes_skipped_total")
                .unwrap_or_else(|| panic!("{c} exports no echoes_skipped_total"));
        }
        total
    }

    /// The counts once they stayed the same for 2 s (the scenario before may still be
    /// settling: deleted pools, released Services); at most 30 s.
    async fn quiet_counts(&self) -> Counts {
        let mut last = self.counts().await;
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = self.counts().await;
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("the controller never stayed quiet for 2 s within 30 s: {last:?}");
    }

    pub async fn decided_once(&self) {
        let ns = "s-once";
        self.ns(ns, json!({})).await;
        self.pool("once", only(ns, &["2001:db8:400::b:0/120"]))
            .await;
        // The namespace's and the pool's own events are decided before counting.
        let before = self.quiet_counts().await;
        for i in 0..COUNT {
            let name = format!("s{i}");
            self.svc(ns, &name, json!({}), v6()).await;
            self.allocated(ns, &name, 1).await;
            let used = (i + 1).to_string();
            k8s::wait_pool(&self.client, "once", "counting the Service", |p| {
                p.status.as_ref().and_then(|s| s.used.as_deref()) == Some(used.as_str())
            })
            .await
            .unwrap();
        }
        // The last writes' echoes reach the controller.
        let after = self.quiet_counts().await;
        let decisions = after.decisions - before.decisions;
        let skipped = after.echoes_skipped - before.echoes_skipped;
        eprintln!("{COUNT} new Services: {decisions} decisions, {skipped} echo wake-ups skipped");
        // Each Service's writes come back as at least one wake-up of echoes alone; deciding on
        // them too made 2 to 3 decisions a Service. 2 spare for anything else the watches see.
        assert!(
            skipped >= COUNT as f64,
            "{skipped} wake-ups skipped as echoes for {COUNT} new Services: {before:?} → {after:?}"
        );
        assert!(
            decisions <= (COUNT + 2) as f64,
            "{decisions} decisions for {COUNT} new Services: {before:?} → {after:?}"
        );
        self.drop_pools(&["once"]).await;
    }
}
