//! The check of one request ([`Gate::check`]: token, then permission, each cached) and the
//! listener serving a router behind it ([`serve`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tracing::{info, warn};

use super::cache::Cache;
use super::decide::{self, Attributes, Credential, User, Verdict};
use super::review::Reviewer;

/// How long a review's result is reused (kube-rbac-proxy's default cache lives minutes; a
/// short one lets a removed RoleBinding take effect quickly).
pub const REVIEW_TTL: Duration = Duration::from_secs(10);
/// At most this many tokens and as many (user, request) pairs are remembered.
pub const REVIEW_CACHE_ENTRIES: usize = 1024;

/// Checks requests with a [`Reviewer`], caching both reviews for [`REVIEW_TTL`].
pub struct Gate<R> {
    reviewer: R,
    tokens: Mutex<Cache<String, Result<User, String>>>,
    grants: Mutex<Cache<(User, Attributes), Result<(), String>>>,
}

impl<R: Reviewer> Gate<R> {
    /// A gate asking `reviewer`, with empty caches.
    pub fn new(reviewer: R) -> Gate<R> {
        Gate::with_ttl(reviewer, REVIEW_TTL)
    }

    /// A gate whose cached reviews live `ttl`.
    pub fn with_ttl(reviewer: R, ttl: Duration) -> Gate<R> {
        Gate {
            reviewer,
            tokens: Mutex::new(Cache::new(ttl, REVIEW_CACHE_ENTRIES)),
            grants: Mutex::new(Cache::new(ttl, REVIEW_CACHE_ENTRIES)),
        }
    }

    /// The reviewer asked.
    pub fn reviewer(&self) -> &R {
        &self.reviewer
    }

    /// The verdict on a request with `authorization` (the header's value) asking `attrs`.
    pub async fn check(&self, authorization: Option<&str>, attrs: &Attributes) -> Verdict {
        let credential = Credential::of(authorization);
        if let Some(refusal) = decide::unauthenticated(&credential) {
            return refusal;
        }
        let Credential::Bearer(token) = credential else {
            return Verdict::Unauthenticated("Unauthorized".to_string());
        };
        let cached = lock(&self.tokens).get(&token, Instant::now());
        let user = match cached {
            Some(known) => known,
            None => match self.reviewer.authenticate(&token).await {
                Ok(known) => {
                    lock(&self.tokens).put(token, known.clone(), Instant::now());
                    known
                }
                Err(e) => return Verdict::Unavailable(format!("cannot review the token: {e}")),
            },
        };
        let user = match user {
            Ok(user) => user,
            Err(why) => return Verdict::Unauthenticated(why),
        };
        let key = (user, attrs.clone());
        let cached = lock(&self.grants).get(&key, Instant::now());
        let grant = match cached {
            Some(known) => known,
            None => match self.reviewer.authorize(&key.0, attrs).await {
                Ok(known) => {
                    lock(&self.grants).put(key.clone(), known.clone(), Instant::now());
                    known
                }
                Err(e) => {
                    return Verdict::Unavailable(format!("cannot review the permission: {e}"));
                }
            },
        };
        match grant {
            Ok(()) => Verdict::Allow,
            Err(reason) => decide::forbidden(&key.0, attrs, &reason),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `router` behind `gate`: every request is checked first; refusals are plain text with
/// 401, 403 or 503.
pub fn protect<R: Reviewer>(router: Router, gate: Arc<Gate<R>>) -> Router {
    router.layer(middleware::from_fn_with_state(gate, guard::<R>))
}

async fn guard<R: Reviewer>(
    State(gate): State<Arc<Gate<R>>>,
    request: Request,
    next: Next,
) -> Response {
    let attrs = Attributes::of(request.method().as_str(), request.uri().path());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match gate.check(authorization, &attrs).await {
        Verdict::Allow => next.run(request).await,
        refusal => {
            if let Verdict::Unavailable(why) = &refusal {
                warn!(path = %attrs.path, %why, "private endpoint: review failed");
            }
            let status =
                StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, Body::from(refusal.body())).into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

/// Why the private listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for /metrics and /debug/state: {source}")]
pub struct ListenError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` and serves `router` behind `gate` until the returned task is aborted.
pub async fn serve<R: Reviewer>(
    addr: SocketAddr,
    router: Router,
    gate: Arc<Gate<R>>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ListenError> {
    let err = |source| ListenError { addr, source };
    let listener = crate::listen::bind(addr).map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    info!(addr = %local, "serving /metrics and /debug/state to reviewed tokens");
    let app = protect(router, gate);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            warn!(%error, "private endpoint listener ended");
        }
    });
    Ok((local, task))
}
