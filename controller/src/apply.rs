//! Applies the decision's writes: server-side apply under the controller's field manager,
//! then the events. I/O (the request bodies are pure functions, tested on their own).
//!
//! The load-balancer cleanup finalizer is written with a strategic merge patch under the same
//! field manager, as the upstream service controller writes it: `metadata.finalizers` merges
//! (an added entry joins the others) and `$deleteFromPrimitiveList` removes exactly this one,
//! whoever else's finalizers the list holds and whoever added this one. Server-side apply of
//! the finalizer would keep others' entries too, but could not remove it where another manager
//! also claims it (a client-side `kubectl apply` of an exported manifest does), and a JSON merge
//! patch would replace the whole list. Each body carries the Service's `metadata.uid`, so a
//! write meant for a deleted Service never touches (or, applied, creates) one recreated under
//! its name.
//!
//! Order ([`rounds`]): the finalizer is added before the status (no address is ever published
//! without it) and removed only after everything else succeeded (the release is complete). A
//! proof annotation is written before the status it proves (with the finalizer: a proof alone
//! publishes nothing), so the speakers see the address and its proof in one event and compute
//! one step, not a silent one for an unproven address first; an annotation that no longer
//! proves anything goes after the status.

use std::net::IpAddr;

use ferrolb_api::VIPPool;
use ferrolb_api::names::{
    ANN_ALLOCATED_FROM, ANN_ALLOCATION_PROOF, ANN_EXTERNAL_IPS_PROOF,
    LOAD_BALANCER_CLEANUP_FINALIZER,
};
use ferrolb_core::names::{CONDITION_ALLOCATED, CONDITION_EXTERNAL_IPS, MANAGER_CONTROLLER};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::diff::{FinalizerWrite, PoolWrite, ServiceDiff, ServiceWrite};

/// The status body the controller applies to a Service.
pub fn status_body(w: &ServiceWrite) -> Value {
    let owned = &w.want.owned;
    let mut status = serde_json::Map::new();
    if !owned.ips.is_empty() {
        status.insert(
            "loadBalancer".into(),
            json!({ "ingress": owned.ips.iter().map(ingress).collect::<Vec<_>>() }),
        );
    } else if !w.want.foreign_ips.is_empty() {
        // Unproven addresses replaced by none. Their writer's managedFields entry (any name, an
        // Update) keeps an omitted list; applying an empty one takes the atomic list over.
        status.insert("loadBalancer".into(), json!({ "ingress": [] }));
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

/// The metadata body the controller applies to a Service (its annotations, or nothing).
pub fn annotation_body(w: &ServiceWrite) -> Value {
    let mut meta = json!({
        "name": w.service.name_any(),
        "namespace": w.service.namespace(),
        "uid": w.service.uid(),
    });
    let mut annotations = serde_json::Map::new();
    if let Some(pool) = &w.want.owned.pool {
        annotations.insert(ANN_ALLOCATED_FROM.into(), json!(pool));
    }
    if let Some(proof) = &w.want.owned.proof {
        annotations.insert(ANN_ALLOCATION_PROOF.into(), json!(proof));
    }
    if let Some(proof) = &w.want.owned.external_ips_proof {
        annotations.insert(ANN_EXTERNAL_IPS_PROOF.into(), json!(proof));
    }
    if !annotations.is_empty() {
        meta["annotations"] = Value::Object(annotations);
    }
    json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta })
}

/// The strategic merge patch adding or removing the cleanup finalizer.
pub fn finalizer_patch(w: &ServiceWrite, write: FinalizerWrite) -> Value {
    let list = match write {
        FinalizerWrite::Add => "finalizers",
        FinalizerWrite::Remove => "$deleteFromPrimitiveList/finalizers",
    };
    json!({ "metadata": {
        "uid": w.service.uid(),
        list: [LOAD_BALANCER_CLEANUP_FINALIZER],
    }})
}

/// The requests of a Service write sent together (each to a different part of the Service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    /// The finalizer patch.
    pub finalizer: Option<FinalizerWrite>,
    /// Apply the annotation.
    pub annotation: bool,
    /// Apply the status.
    pub status: bool,
}

impl Round {
    fn is_empty(&self) -> bool {
        self.finalizer.is_none() && !self.annotation && !self.status
    }
}

/// The rounds of a write, in the order they are sent; each is sent only once the ones before it
/// succeeded. An added finalizer comes before the status, a removed one last. When the
/// annotation carries a proof (`proves`), it goes before the status (beside an added
/// finalizer); otherwise after it.
pub fn rounds(diff: &ServiceDiff, proves: bool) -> Vec<Round> {
    let add = (diff.finalizer == Some(FinalizerWrite::Add)).then_some(FinalizerWrite::Add);
    let remove = (diff.finalizer == Some(FinalizerWrite::Remove)).then_some(FinalizerWrite::Remove);
    let (status, annotation) = (diff.write_status, diff.write_annotation);
    let proof_first = annotation && proves;
    let candidates = [
        Round {
            finalizer: add,
            annotation: proof_first,
            status: false,
        },
        Round {
            status,
            ..Round::default()
        },
        Round {
            annotation: annotation && !proof_first,
            ..Round::default()
        },
        Round {
            finalizer: remove,
            ..Round::default()
        },
    ];
    candidates.into_iter().filter(|r| !r.is_empty()).collect()
}

/// The annotation `w` writes carries a proof.
fn proves(w: &ServiceWrite) -> bool {
    w.want.owned.proof.is_some() || w.want.owned.external_ips_proof.is_some()
}

fn params() -> PatchParams {
    PatchParams::apply(MANAGER_CONTROLLER).force()
}

async fn patch_finalizer(
    api: &Api<Service>,
    w: &ServiceWrite,
    write: FinalizerWrite,
) -> Result<Option<String>, kube::Error> {
    let params = PatchParams {
        field_manager: Some(MANAGER_CONTROLLER.into()),
        ..PatchParams::default()
    };
    let svc = api
        .patch(
            &w.service.name_any(),
            &params,
            &Patch::Strategic(finalizer_patch(w, write)),
        )
        .await?;
    Ok(svc.resource_version())
}

/// Applies one Service write, then publishes its events; returns the resourceVersions the
/// Service had after each of the write's requests. An event that cannot be published is
/// logged, not retried. Each write gets a fresh [`Recorder`]: kube's recorder folds events with
/// the same reason into one series and keeps the first note, but each of ours says something
/// new (which addresses, why), and they are only published when something changed.
pub async fn service(
    client: &Client,
    reporter: &Reporter,
    w: &ServiceWrite,
) -> Result<Vec<String>, kube::Error> {
    let ns = w.service.namespace().unwrap_or_default();
    let name = w.service.name_any();
    let api: Api<Service> = Api::namespaced(client.clone(), &ns);
    let mut versions = Vec::new();
    for round in rounds(&w.diff, proves(w)) {
        let finalizer = async {
            match round.finalizer {
                Some(write) => patch_finalizer(&api, w, write).await,
                None => Ok(None),
            }
        };
        let annotation = async {
            if !round.annotation {
                return Ok(None);
            }
            let svc = api
                .patch(&name, &params(), &Patch::Apply(annotation_body(w)))
                .await?;
            Ok::<_, kube::Error>(svc.resource_version())
        };
        let status = async {
            if !round.status {
                return Ok(None);
            }
            let svc = api
                .patch_status(&name, &params(), &Patch::Apply(status_body(w)))
                .await?;
            Ok::<_, kube::Error>(svc.resource_version())
        };
        let (f, a, s) = tokio::try_join!(finalizer, annotation, status)?;
        versions.extend(f.into_iter().chain(a).chain(s));
    }
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
    Ok(versions)
}

/// Applies one pool's status; returns the pool's resourceVersion after it.
pub async fn pool(client: &Client, w: &PoolWrite) -> Result<Option<String>, kube::Error> {
    let api: Api<VIPPool> = Api::all(client.clone());
    let body = json!({
        "apiVersion": "ferrolb.io/v1alpha1",
        "kind": "VIPPool",
        "status": w.status,
    });
    let pool = api
        .patch_status(&w.name, &params(), &Patch::Apply(body))
        .await?;
    Ok(pool.resource_version())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(status: bool, annotation: bool, finalizer: Option<FinalizerWrite>) -> ServiceDiff {
        ServiceDiff {
            write_status: status,
            write_annotation: annotation,
            finalizer,
            events: Vec::new(),
        }
    }

    const ADD: Option<FinalizerWrite> = Some(FinalizerWrite::Add);
    const REMOVE: Option<FinalizerWrite> = Some(FinalizerWrite::Remove);

    fn round(finalizer: Option<FinalizerWrite>, annotation: bool, status: bool) -> Round {
        Round {
            finalizer,
            annotation,
            status,
        }
    }

    #[test]
    fn a_proof_goes_with_the_added_finalizer_before_the_status_it_proves() {
        assert_eq!(
            rounds(&diff(true, true, ADD), true),
            [round(ADD, true, false), round(None, false, true)]
        );
        assert_eq!(
            rounds(&diff(true, true, None), true),
            [round(None, true, false), round(None, false, true)]
        );
        assert_eq!(
            rounds(&diff(false, true, ADD), true),
            [round(ADD, true, false)]
        );
    }

    #[test]
    fn the_finalizer_comes_before_the_status_and_is_removed_last() {
        assert_eq!(
            rounds(&diff(true, false, ADD), false),
            [round(ADD, false, false), round(None, false, true)]
        );
        assert_eq!(
            rounds(&diff(true, false, REMOVE), false),
            [round(None, false, true), round(REMOVE, false, false)]
        );
        assert_eq!(
            rounds(&diff(false, false, REMOVE), false),
            [round(REMOVE, false, false)]
        );
        assert!(rounds(&diff(false, false, None), true).is_empty());
    }

    #[test]
    fn an_annotation_that_proves_nothing_goes_after_the_status() {
        assert_eq!(
            rounds(&diff(true, true, REMOVE), false),
            [
                round(None, false, true),
                round(None, true, false),
                round(REMOVE, false, false)
            ]
        );
        assert_eq!(
            rounds(&diff(false, true, None), false),
            [round(None, true, false)]
        );
    }
}
