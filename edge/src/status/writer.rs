//! Applies the condition writes the run loop computes: a task that takes the latest batch
//! from a `watch` channel (so a burst of health flips coalesces into one write per Service)
//! and applies each with server-side apply, field manager `ferrolb-edge`, without force.
//!
//! The same body applied successfully less than [`REPEAT_AFTER`] ago is not sent again (the
//! watch may not have shown the object's new state to the loop yet). A failed write is tried
//! again when the loop next computes the batch (on any change, at the latest on its resync).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_core::names::MANAGER_EDGE;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use ferrolb_core::ServiceKey;
use ferrolb_runtime::metrics::ResultLabels;

/// Do not repeat an identical successful write sooner than this.
pub const REPEAT_AFTER: Duration = Duration::from_secs(5);

/// One apply to a Service's status.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The Service.
    pub service: ServiceKey,
    /// The apply body.
    pub body: Value,
}

/// Starts the writer; it stops when the sender is dropped.
pub fn spawn(
    client: Client,
    mut rx: watch::Receiver<Arc<Vec<Write>>>,
    counter: Family<ResultLabels, Counter>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut recent: BTreeMap<ServiceKey, (Value, Instant)> = BTreeMap::new();
        loop {
            let batch = rx.borrow_and_update().clone();
            recent.retain(|_, (_, at)| at.elapsed() < REPEAT_AFTER);
            for w in batch.iter() {
                if recent.get(&w.service).is_some_and(|(b, _)| *b == w.body) {
                    continue;
                }
                let ok = apply(&client, w).await;
                counter.get_or_create(&ResultLabels::of(ok)).inc();
                if ok {
                    recent.insert(w.service.clone(), (w.body.clone(), Instant::now()));
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    })
}

async fn apply(client: &Client, w: &Write) -> bool {
    let api: Api<Service> = Api::namespaced(client.clone(), &w.service.namespace);
    let params = PatchParams::apply(MANAGER_EDGE);
    match api
        .patch_status(&w.service.name, &params, &Patch::Apply(&w.body))
        .await
    {
        Ok(_) => {
            let condition = w.body.pointer("/status/conditions/0");
            match condition {
                Some(c) => {
                    info!(service = %w.service, status = %c["status"], reason = %c["reason"], message = %c["message"], "EdgeServing condition written")
                }
                None => info!(service = %w.service, "EdgeServing condition released"),
            }
            true
        }
        Err(kube::Error::Api(e)) if e.code == 404 => {
            debug!(service = %w.service, "Service gone before its condition was written");
            true
        }
        Err(error) => {
            warn!(service = %w.service, %error, "writing the EdgeServing condition failed; retried on the next pass");
            false
        }
    }
}
