//! The validating admission webhook (Services' externalIPs, VIPPool changes), served over TLS by
//! every replica, with a certificate the controller makes and rotates itself.
//!
//! - The serving certificate and its CA live in a Secret of the controller's namespace. The
//!   first replica to start creates it; the leader renews it 30 days before it expires
//!   (keeping the previous CA in the bundle so nothing breaks while replicas reload).
//! - Every replica loads the Secret every 30 s, serves its certificate and applies the
//!   ValidatingWebhookConfiguration with the CA bundle (server-side apply, same content from
//!   every replica), so the `caBundle` is always current without cert-manager. Both
//!   configurations are owned (ownerReference) by the `--webhook-owner` ClusterRole that deploy/
//!   ships: uninstalling deletes it and the garbage collector deletes them; while it is gone no
//!   replica applies them again.
//! - Reachability: after each load the replica asks the apiserver for a dry-run create that
//!   the webhook must judge; the answer (or the apiserver's error) goes to the log and
//!   `/readyz`.

pub mod admission;
pub mod cert;
pub mod configuration;
pub mod pool_review;
mod secret;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use ferrolb_api::VIPPool;
use k8s_openapi::api::core::v1::Service;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube::{Client, Resource};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::admission_stamp::StampKey;
use crate::http::Health;
use crate::inputs::Watched;
use crate::leader::stopped;

pub use configuration::WebhookConfig;
pub use secret::reachability;

/// Takes a snapshot of the watched objects (the webhook judges against it).
pub type Snapshots = Arc<dyn Fn() -> Watched + Send + Sync>;

#[derive(Clone)]
struct AppState {
    snapshot: Snapshots,
    service_cidrs: Arc<Vec<String>>,
    stamp_key: watch::Receiver<Option<StampKey>>,
}

/// The webhook's routes.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/validate/services", post(services))
        .route("/validate/vippools", post(vippools))
        .route("/mutate/services", post(stamp))
        .with_state(state)
}

/// The answer to `review`: `answer` of its request, or "invalid" when it holds none.
fn answer<K>(
    review: AdmissionReview<K>,
    answer: impl FnOnce(&AdmissionRequest<K>) -> AdmissionResponse,
) -> Json<AdmissionReview<DynamicObject>>
where
    K: Resource,
{
    let request: Result<AdmissionRequest<K>, _> = review.try_into();
    let response = match request {
        Ok(req) => answer(&req),
        Err(e) => AdmissionResponse::invalid(e.to_string()),
    };
    Json(response.into_review())
}

async fn services(
    State(s): State<AppState>,
    Json(review): Json<AdmissionReview<Service>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(review, |req| {
        let verdict = admission::service(req, &(s.snapshot)(), &s.service_cidrs);
        log_verdict("Service", &req.name, req.namespace.as_deref(), &verdict);
        verdict.respond(req)
    })
}

async fn stamp(
    State(s): State<AppState>,
    Json(review): Json<AdmissionReview<Service>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(review, |req| {
        let resp = AdmissionResponse::from(req);
        let key = s.stamp_key.borrow().clone();
        match key.and_then(|key| admission::stamp_patch(req, &key)) {
            Some(p) => resp.with_patch(p).unwrap_or_else(|e| {
                warn!(error = %e, "encoding the stamp patch");
                AdmissionResponse::from(req)
            }),
            None => resp,
        }
    })
}

async fn vippools(
    State(s): State<AppState>,
    Json(review): Json<AdmissionReview<VIPPool>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(review, |req| {
        let verdict = admission::vippool(req, &(s.snapshot)());
        log_verdict("VIPPool", &req.name, None, &verdict);
        verdict.respond(req)
    })
}

fn log_verdict(kind: &str, name: &str, ns: Option<&str>, v: &admission::Verdict) {
    if !v.allowed {
        info!(
            kind,
            name,
            namespace = ns.unwrap_or(""),
            message = v.message.as_deref().unwrap_or(""),
            "admission refused"
        );
    }
}

/// What the webhook needs from the rest of the controller.
pub struct Deps {
    /// The API client.
    pub client: Client,
    /// Snapshots of the watched objects it judges against.
    pub snapshot: Snapshots,
    /// ClusterIP ranges given by flag (added to the ServiceCIDR objects').
    pub service_cidrs: Vec<String>,
    /// Where the webhook publishes the admission stamp key it loads from its Secret.
    pub stamp_key: watch::Sender<Option<StampKey>>,
    /// Leadership (only the leader renews the certificate).
    pub leader: watch::Receiver<bool>,
    /// Where to report problems.
    pub health: Arc<Health>,
    /// Turns true on shutdown.
    pub shutdown: watch::Receiver<bool>,
}

/// Serves the webhook on `listener` until shutdown.
pub async fn run(cfg: WebhookConfig, listener: tokio::net::TcpListener, deps: Deps) {
    let Deps {
        client,
        snapshot,
        service_cidrs,
        stamp_key,
        leader,
        health,
        mut shutdown,
    } = deps;
    let state = AppState {
        snapshot,
        service_cidrs: Arc::new(service_cidrs),
        stamp_key: stamp_key.subscribe(),
    };
    let started = std::time::Instant::now();
    let mut reached = false;
    let mut retry = Duration::from_millis(250);
    let cert = tls::SwappableCert::new();
    let server = tokio::spawn(tls::serve(listener, cert.clone(), router(state)));
    health.set_webhook(Some("no serving certificate loaded yet".into()));
    let mut loaded: Option<cert::Material> = None;
    loop {
        let is_leader = *leader.borrow();
        match secret::ensure(&client, &cfg, is_leader).await {
            Ok(material) => {
                stamp_key.send_replace(material.stamp_key.clone());
                if loaded.as_ref() != Some(&material.current) {
                    match cert.set(&material.current.cert_pem, &material.current.key_pem) {
                        Ok(()) => info!(
                            not_after = material.current.not_after,
                            "serving the webhook certificate"
                        ),
                        Err(e) => warn!(error = %e, "loading the webhook certificate"),
                    }
                    loaded = Some(material.current.clone());
                }
                if let Err(e) = secret::apply_configuration(&client, &cfg, &material.bundle).await {
                    warn!(error = %e, "applying the ValidatingWebhookConfiguration");
                    health.set_webhook(Some(format!(
                        "cannot apply ValidatingWebhookConfiguration {}: {e}",
                        cfg.configuration
                    )));
                } else {
                    match secret::reachability(&client).await {
                        Ok(()) => {
                            if !reached {
                                info!(
                                    after_ms = started.elapsed().as_millis() as u64,
                                    "the apiserver reaches the webhook"
                                );
                            }
                            reached = true;
                            health.set_webhook(None);
                        }
                        Err(why) => {
                            warn!(problem = %why, "the apiserver cannot reach the webhook");
                            reached = false;
                            health.set_webhook(Some(why));
                        }
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, "the webhook certificate Secret");
                health.set_webhook(Some(format!("webhook certificate: {e}")));
            }
        }
        // Check again soon while the apiserver cannot reach us, then every 30 s.
        retry = if reached {
            Duration::from_secs(30)
        } else {
            (retry * 2).min(Duration::from_secs(30))
        };
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = stopped(&mut shutdown) => break,
        }
    }
    server.abort();
}
