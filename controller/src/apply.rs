//! Applies the decision's writes: server-side apply under the controller's field manager,
//! then the events. I/O (the request bodies are pure functions, tested on their own).

use std::net::IpAddr;

use ferrolb_api::VIPPool;
use ferrolb_api::names::ANN_ALLOCATED_FROM;
use ferrolb_core::names::{CONDITION_ALLOCATED, CONDITION_EXTERNAL_IPS, MANAGER_CONTROLLER};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::diff::{PoolWrite, ServiceWrite};

/// The status body the controller applies to a Service.
pub fn status_body(w: &ServiceWrite) -> Value {
    let owned = &w.want.owned;
    let mut status = serde_json::Map::new();
    if !owned.ips.is_empty() {
        status.insert(
            "loadBalancer".into(),
            json!({ "ingress": owned.ips.iter().map(ingress).collect::<Vec<_>>() }),
        );
    }
    let generation = w.service.metadata.generation;
    let conditions: Vec<Value> = [
        (CONDITION_ALLOCATED, &owned.condition, &w.want.since),
        (
            CONDITION_EXTERNAL_IPS,
            &owned.external_ips,
            &w.want.external_ips_since,
        ),
    ]
    .into_iter()
    .filter_map(|(type_, c, since)| {
        let c = c.as_ref()?;
        Some(json!({
            "type": type_,
            "status": if c.status { "True" } else { "False" },
            "reason": c.reason,
            "message": c.message,
            "lastTransitionTime": since,
            "observedGeneration": generation,
        }))
    })
    .collect();
    if !conditions.is_empty() {
        status.insert("conditions".into(), Value::Array(conditions));
    }
    json!({ "apiVersion": "v1", "kind": "Service", "status": status })
}

fn ingress(ip: &IpAddr) -> Value {
    json!({ "ip": ip.to_string(), "ipMode": "VIP" })
}

/// The metadata body the controller applies to a Service (its annotation, or nothing).
pub fn annotation_body(w: &ServiceWrite) -> Value {
    let mut meta = json!({
        "name": w.service.name_any(),
        "namespace": w.service.namespace(),
    });
    if let Some(pool) = &w.want.owned.pool {
        meta["annotations"] = json!({ ANN_ALLOCATED_FROM: pool });
    }
    json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta })
}

fn params() -> PatchParams {
    PatchParams::apply(MANAGER_CONTROLLER).force()
}

/// Applies one Service write, then publishes its events. An event that cannot be published is
/// logged, not retried. Each write gets a fresh [`Recorder`]: kube's recorder folds events with
/// the same reason into one series and keeps the first note, but each of ours says something
/// new (which addresses, why), and they are only published when something changed.
pub async fn service(
    client: &Client,
    reporter: &Reporter,
    w: &ServiceWrite,
) -> Result<(), kube::Error> {
    let ns = w.service.namespace().unwrap_or_default();
    let name = w.service.name_any();
    let api: Api<Service> = Api::namespaced(client.clone(), &ns);
    // The two writes touch different parts of the object: send them together.
    let status = async {
        if w.diff.write_status {
            api.patch_status(&name, &params(), &Patch::Apply(status_body(w)))
                .await?;
        }
        Ok::<(), kube::Error>(())
    };
    let annotation = async {
        if w.diff.write_annotation {
            api.patch(&name, &params(), &Patch::Apply(annotation_body(w)))
                .await?;
        }
        Ok::<(), kube::Error>(())
    };
    tokio::try_join!(status, annotation)?;
    let reference = w.service.object_ref(&());
    let recorder = Recorder::new(client.clone(), reporter.clone());
    for e in &w.diff.events {
        info!(service = %format!("{ns}/{name}"), reason = %e.reason, note = %e.note, "service event");
        let event = Event {
            type_: if e.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: e.reason.clone(),
            note: Some(truncate(&e.note, 1000)),
            action: "Allocate".into(),
            secondary: None,
        };
        if let Err(err) = recorder.publish(&event, &reference).await {
            warn!(service = %format!("{ns}/{name}"), error = %err, "publishing an event");
        }
    }
    Ok(())
}

/// Applies one pool's status.
pub async fn pool(client: &Client, w: &PoolWrite) -> Result<(), kube::Error> {
    let api: Api<VIPPool> = Api::all(client.clone());
    let body = json!({
        "apiVersion": "ferrolb.io/v1alpha1",
        "kind": "VIPPool",
        "status": w.status,
    });
    api.patch_status(&w.name, &params(), &Patch::Apply(body))
        .await?;
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
