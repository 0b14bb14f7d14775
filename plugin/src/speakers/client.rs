//! Asking the speakers (I/O): a short-lived token of ServiceAccount `ferrolb-diagnostics` for
//! the audience [`PRIVATE_ENDPOINTS_AUDIENCE`] (the apiserver refuses it as a credential, so
//! one seen on the LAN opens nothing but the speakers' diagnostic endpoints, for 10 minutes),
//! then `GET`s on each speaker's private port, which checks the token with a TokenReview and a
//! SubjectAccessReview. Who may run this: whoever may create that ServiceAccount's tokens
//! (deploy/'s Role `ferrolb-why`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use ferrolb_api::names::DIAGNOSTICS_SERVICE_ACCOUNT;
use ferrolb_runtime::access::PRIVATE_ENDPOINTS_AUDIENCE;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HOST};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use super::answers::{Fetched, SpeakerState};

/// How long one request to a speaker may take.
pub const TIMEOUT: Duration = Duration::from_millis(1500);
/// The shortest life the apiserver gives a requested token.
const TOKEN_SECONDS: i64 = 600;

/// A token for the speakers' diagnostic endpoints.
#[derive(Clone)]
pub struct Speakers {
    token: String,
}

impl Speakers {
    /// Mints the token (TokenRequest on `ferrolb_ns/ferrolb-diagnostics`).
    pub async fn connect(client: &Client, ferrolb_ns: &str) -> Result<Speakers> {
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ferrolb_ns);
        let req = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![PRIVATE_ENDPOINTS_AUDIENCE.to_string()],
                expiration_seconds: Some(TOKEN_SECONDS),
                bound_object_ref: None,
            },
            ..TokenRequest::default()
        };
        let got = sas
            .create_token_request(DIAGNOSTICS_SERVICE_ACCOUNT, &PostParams::default(), &req)
            .await
            .with_context(|| {
                format!(
                    "requesting a token of ServiceAccount {ferrolb_ns}/{DIAGNOSTICS_SERVICE_ACCOUNT} \
                     to ask the speakers (install deploy/'s diagnostics.yaml, and bind Role \
                     ferrolb-why in {ferrolb_ns} to your user)"
                )
            })?;
        let token = got
            .status
            .map(|s| s.token)
            .filter(|t| !t.is_empty())
            .context("the TokenRequest returned no token")?;
        Ok(Speakers { token })
    }

    /// Every speaker's `/debug/state` (Ready or not: a restarted one answers before its Pod
    /// is Ready), by node, at once.
    pub async fn states(&self, pods: &[Pod]) -> BTreeMap<String, Fetched<SpeakerState>> {
        let asks = pods.iter().filter_map(|p| {
            let node = super::node(p)?.to_string();
            let addr = super::private_addr(p)?;
            Some(async move { (node, self.get(addr, "/debug/state").await) })
        });
        futures::future::join_all(asks).await.into_iter().collect()
    }

    /// `GET path` of the speaker at `addr`, its JSON body parsed.
    pub async fn get<T: DeserializeOwned>(&self, addr: SocketAddr, path: &str) -> Fetched<T> {
        let (status, body) = get(addr, path, Some(&self.token)).await?;
        if status != 200 {
            return Err(format!(
                "GET {path} of {addr}: HTTP {status}: {}",
                body.trim()
            ));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET {path} of {addr}: {e}"))
    }
}

/// `GET path` at `addr` over HTTP/1.1 within [`TIMEOUT`]: status and body.
pub async fn get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> Fetched<(u16, String)> {
    tokio::time::timeout(TIMEOUT, get_unbounded(addr, path, bearer))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "GET {path} of {addr}: no answer within {TIMEOUT:?}"
            ))
        })
}

async fn get_unbounded(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
) -> Fetched<(u16, String)> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("GET {path} of {addr}: {what}: {e}");
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| fail("connecting", &e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail("handshake", &e))?;
    let driver = tokio::spawn(conn);
    let mut req = Request::get(path).header(HOST, addr.to_string());
    if let Some(token) = bearer {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail("building the request", &e))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| fail("sending", &e))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| fail("reading the body", &e))?
        .to_bytes();
    driver.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
