//! `ferrolb-controller release-finalizers`: what an uninstall runs before ferrolb goes (the Helm
//! chart's pre-delete hook). With the controller gone, a LoadBalancer Service keeps the
//! finalizer [`LOAD_BALANCER_CLEANUP_FINALIZER`] the controller added, and deleting it waits
//! for good. This stops the controller Deployment first (`--stop-deployment`: scaled to zero,
//! then waited for until no replica runs, so none adds the finalizer again), then removes
//! that finalizer from every Service where the controller's field manager added it: a JSON
//! patch whose `test` op checks the entry is still at that index, so another finalizer is
//! never removed and a concurrent change makes the patch fail and the Service read again.
//! Bounded (`--timeout`, a few attempts per Service) and idempotent: a second run finds
//! nothing to do. [`finalizer_patch`] is the pure part.

use std::time::Duration;

use ferrolb_adapter::ownership::owns_finalizer;
use ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER;
use json_patch::{Patch, PatchOperation, RemoveOperation, TestOperation};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch as KubePatch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

/// Attempts per Service when its finalizers changed between the read and the patch.
const ATTEMPTS: usize = 3;

/// Flags of `release-finalizers`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReleaseArgs {
    /// A Deployment (in --namespace) scaled to zero first, and waited for until none of its
    /// replicas runs: the controller's, so it adds no finalizer again.
    #[arg(long)]
    pub stop_deployment: Option<String>,

    /// How long the whole run may take.
    #[arg(long, default_value = "90s", value_parser = ferrolb_runtime::duration::parse)]
    pub timeout: Duration,
}

/// Why `release-finalizers` failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// No usable kubeconfig or in-cluster configuration.
    #[error("connecting to the Kubernetes API: {0}")]
    Client(#[source] kube::Error),
    /// A request failed.
    #[error("{what}: {source}")]
    Api {
        /// What was asked.
        what: String,
        /// Why it failed.
        #[source]
        source: kube::Error,
    },
    /// Not done within --timeout.
    #[error("not done within {0:?}: {1}")]
    Timeout(Duration, String),
}

fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ReleaseError {
    let what = what.into();
    move |source| ReleaseError::Api { what, source }
}

/// The JSON patch that removes [`LOAD_BALANCER_CLEANUP_FINALIZER`] from `svc`, when the
/// controller's field manager added it there; `None` otherwise (absent, or someone else's).
pub fn finalizer_patch(svc: &Service) -> Option<Patch> {
    if !owns_finalizer(svc, LOAD_BALANCER_CLEANUP_FINALIZER) {
        return None;
    }
    let index = svc
        .finalizers()
        .iter()
        .position(|f| f == LOAD_BALANCER_CLEANUP_FINALIZER)?;
    let path = format!("/metadata/finalizers/{index}");
    let pointer = |p: &str| p.parse().ok();
    Some(Patch(vec![
        PatchOperation::Test(TestOperation {
            path: pointer(&path)?,
            value: json!(LOAD_BALANCER_CLEANUP_FINALIZER),
        }),
        PatchOperation::Remove(RemoveOperation {
            path: pointer(&path)?,
        }),
    ]))
}

/// Runs `release-finalizers` in `namespace`: returns how many Services lost the finalizer.
pub async fn run(namespace: &str, args: &ReleaseArgs) -> Result<usize, ReleaseError> {
    let client = Client::try_default().await.map_err(ReleaseError::Client)?;
    let work = async {
        if let Some(name) = &args.stop_deployment {
            stop(&client, namespace, name).await?;
        }
        release(&client).await
    };
    tokio::time::timeout(args.timeout, work)
        .await
        .map_err(|_| {
            ReleaseError::Timeout(
                args.timeout,
                "the controller did not stop, or Services kept changing".into(),
            )
        })?
}

/// Scales Deployment `name` to zero and waits until it reports no replica (a missing
/// Deployment is stopped already).
async fn stop(client: &Client, namespace: &str, name: &str) -> Result<(), ReleaseError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let scale = json!({"spec": {"replicas": 0}});
    match deployments
        .patch_scale(name, &PatchParams::default(), &KubePatch::Merge(&scale))
        .await
    {
        Ok(_) => info!(deployment = name, "scaled to zero"),
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => {
            return Err(api(format!(
                "scaling Deployment {namespace}/{name} to zero"
            ))(e));
        }
    }
    loop {
        let d = deployments
            .get_opt(name)
            .await
            .map_err(api(format!("reading Deployment {namespace}/{name}")))?;
        let running = d
            .and_then(|d| d.status)
            .and_then(|s| s.replicas)
            .unwrap_or(0);
        if running == 0 {
            info!(deployment = name, "no replica runs");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Removes the finalizer from every Service the controller added it to.
async fn release(client: &Client) -> Result<usize, ReleaseError> {
    let all: Api<Service> = Api::all(client.clone());
    let services = all
        .list(&ListParams::default())
        .await
        .map_err(api("listing Services"))?;
    let mut released = 0;
    for svc in services {
        let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
        let api_ns: Api<Service> = Api::namespaced(client.clone(), &ns);
        let mut current = Some(svc);
        for attempt in 1..=ATTEMPTS {
            let Some(patch) = current.as_ref().and_then(finalizer_patch) else {
                break;
            };
            match api_ns
                .patch(
                    &name,
                    &PatchParams::default(),
                    &KubePatch::<()>::Json(patch),
                )
                .await
            {
                Ok(_) => {
                    info!(service = %format!("{ns}/{name}"), "finalizer removed");
                    released += 1;
                    break;
                }
                Err(kube::Error::Api(e)) if e.code == 404 => break,
                // The test op failed (the finalizers changed) or a conflict: read again.
                Err(kube::Error::Api(e))
                    if (e.code == 422 || e.code == 409) && attempt < ATTEMPTS =>
                {
                    warn!(service = %format!("{ns}/{name}"), error = %e.message, "changed meanwhile; reading again");
                    current = api_ns
                        .get_opt(&name)
                        .await
                        .map_err(api(format!("reading Service {ns}/{name}")))?;
                }
                Err(e) => return Err(api(format!("patching Service {ns}/{name}"))(e)),
            }
        }
    }
    info!(released, "done");
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    fn service(finalizers: &[&str], manager: &str, owned: &[&str]) -> Service {
        let mut svc = Service::default();
        svc.metadata.name = Some("s".into());
        svc.metadata.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
        let set: serde_json::Map<String, serde_json::Value> = owned
            .iter()
            .map(|f| (format!("v:{}", json!(f)), json!({})))
            .collect();
        svc.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Update".into()),
            fields_v1: Some(FieldsV1(json!({"f:metadata": {"f:finalizers": set}}))),
            ..Default::default()
        }]);
        svc
    }

    fn apply(svc: &Service, patch: &Patch) -> Result<Vec<String>, String> {
        let mut doc = serde_json::to_value(svc).unwrap();
        json_patch::patch(&mut doc, patch).map_err(|e| e.to_string())?;
        Ok(serde_json::from_value::<Service>(doc)
            .unwrap()
            .metadata
            .finalizers
            .unwrap_or_default())
    }

    const CONTROLLER: &str = ferrolb_core::names::MANAGER_CONTROLLER;

    #[test]
    fn only_the_controllers_finalizer_goes_and_the_others_stay() {
        let svc = service(
            &[
                "example.com/keep",
                LOAD_BALANCER_CLEANUP_FINALIZER,
                "example.com/too",
            ],
            CONTROLLER,
            &[LOAD_BALANCER_CLEANUP_FINALIZER],
        );
        let patch = finalizer_patch(&svc).expect("a patch");
        assert_eq!(
            apply(&svc, &patch).unwrap(),
            ["example.com/keep", "example.com/too"]
        );
    }

    #[test]
    fn a_finalizer_someone_else_added_or_none_is_left_alone() {
        let theirs = service(
            &[LOAD_BALANCER_CLEANUP_FINALIZER],
            "service-controller",
            &[LOAD_BALANCER_CLEANUP_FINALIZER],
        );
        assert!(finalizer_patch(&theirs).is_none());
        let none = service(&["example.com/keep"], CONTROLLER, &[]);
        assert!(finalizer_patch(&none).is_none());
    }

    #[test]
    fn the_test_op_refuses_a_list_that_changed_since_the_read() {
        let svc = service(
            &[LOAD_BALANCER_CLEANUP_FINALIZER, "example.com/keep"],
            CONTROLLER,
            &[LOAD_BALANCER_CLEANUP_FINALIZER],
        );
        let patch = finalizer_patch(&svc).expect("a patch");
        // Meanwhile someone removed ours: index 0 is now another finalizer.
        let changed = service(&["example.com/keep"], CONTROLLER, &[]);
        assert!(apply(&changed, &patch).is_err(), "the test op must fail");
    }
}
