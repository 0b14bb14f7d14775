//! The validating admission webhook (Services' externalIPs, IPPool changes), served over TLS by
//! every replica, with a certificate the controller makes and rotates itself.
//!
//! - The serving certificate and its CA live in a Secret of the controller's namespace. The
//!   first replica to start creates it; the leader renews it 30 days before it expires
//!   (keeping the previous CA in the bundle so nothing breaks while replicas reload).
//! - Every replica loads the Secret every 30 s, serves its certificate and applies the
//!   ValidatingWebhookConfiguration with the CA bundle (server-side apply, same content from
//!   every replica), so the `caBundle` is always current without cert-manager.
//! - Reachability: after each load the replica asks the apiserver for a dry-run create that
//!   the webhook must judge; the answer (or the apiserver's error) goes to the log and
//!   `/readyz`.

pub mod admission;
pub mod cert;
pub mod configuration;
mod secret;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use ferrolb_api::IPPool;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::actions::Settings;
use crate::http::Health;
use crate::leader::stopped;
use crate::reconciler::Stores;

pub use configuration::WebhookConfig;

#[derive(Clone)]
struct AppState {
    stores: Stores,
    settings: Arc<Settings>,
}

/// The webhook's routes.
fn router(stores: Stores, settings: Settings) -> Router {
    Router::new()
        .route("/validate/services", post(services))
        .route("/validate/ippools", post(ippools))
        .route("/mutate/services", post(stamp))
        .with_state(AppState {
            stores,
            settings: Arc::new(settings),
        })
}

async fn services(
    State(s): State<AppState>,
    Json(review): Json<AdmissionReview<Service>>,
) -> Json<AdmissionReview<DynamicObject>> {
    let req: AdmissionRequest<Service> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return Json(AdmissionResponse::invalid(e.to_string()).into_review()),
    };
    let verdict = admission::service(&req, &s.stores.world(), &s.settings);
    log_verdict("Service", &req.name, req.namespace.as_deref(), &verdict);
    Json(verdict.respond(&req).into_review())
}

async fn stamp(
    State(s): State<AppState>,
    Json(review): Json<AdmissionReview<Service>>,
) -> Json<AdmissionReview<DynamicObject>> {
    let req: AdmissionRequest<Service> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return Json(AdmissionResponse::invalid(e.to_string()).into_review()),
    };
    let resp = AdmissionResponse::from(&req);
    let patch = s
        .settings
        .stamp_key()
        .and_then(|key| admission::stamp_patch(&req, &key));
    let resp = match patch {
        Some(p) => resp.with_patch(p).unwrap_or_else(|e| {
            warn!(error = %e, "encoding the stamp patch");
            AdmissionResponse::from(&req)
        }),
        None => resp,
    };
    Json(resp.into_review())
}

async fn ippools(
    State(s): State<AppState>,
    Json(review): Json<AdmissionReview<IPPool>>,
) -> Json<AdmissionReview<DynamicObject>> {
    let req: AdmissionRequest<IPPool> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return Json(AdmissionResponse::invalid(e.to_string()).into_review()),
    };
    let verdict = admission::ippool(&req, &s.stores.world());
    log_verdict("IPPool", &req.name, None, &verdict);
    Json(verdict.respond(&req).into_review())
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
    /// The watched objects it judges against.
    pub stores: Stores,
    /// Ownership and policy settings.
    pub settings: Settings,
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
        stores,
        settings,
        leader,
        health,
        mut shutdown,
    } = deps;
    let settings_key = settings.stamp_key.clone();
    let started = std::time::Instant::now();
    let mut reached = false;
    let mut retry = Duration::from_millis(250);
    let cert = tls::SwappableCert::new();
    let server = tokio::spawn(tls::serve(listener, cert.clone(), router(stores, settings)));
    health.set_webhook(Some("no serving certificate loaded yet".into()));
    let mut loaded: Option<cert::Material> = None;
    loop {
        let is_leader = *leader.borrow();
        match secret::ensure(&client, &cfg, is_leader).await {
            Ok(material) => {
                if let Ok(mut k) = settings_key.write() {
                    k.clone_from(&material.stamp_key);
                }
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
