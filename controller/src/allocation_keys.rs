//! The controller's allocation signing key and the published verification keys. I/O.
//!
//! The key pair lives in Secret [`SIGNING_KEY_SECRET`] of the controller's namespace (only the
//! controller's ServiceAccount may read it); the first replica to start creates it. Its public
//! key is added to ConfigMap [`ALLOCATION_KEYS_CONFIGMAP`], which speakers and the edge read;
//! keys published earlier stay there (so proofs signed before a key change keep verifying
//! until the controller re-signs them) until an operator removes them. See
//! [`ferrolb_adapter::proof`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_adapter::proof::{ALLOCATION_KEYS_CONFIGMAP, SigningKey, VerifyKeys};
use ferrolb_core::names::MANAGER_CONTROLLER;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::decision::ProofKeys;

/// The Secret holding the signing key (`ed25519.pkcs8`).
pub const SIGNING_KEY_SECRET: &str = "ferrolb-allocation-signing-key";
const DATA_KEY: &str = "ed25519.pkcs8";
/// How often the keys are read again (an operator may remove old public keys).
const REFRESH: Duration = Duration::from_secs(60);

/// Loads the keys (creating the Secret and publishing the public key when needed) and sends
/// them on `tx` until `shutdown`; errors are logged and retried.
pub async fn run(
    client: Client,
    namespace: String,
    tx: watch::Sender<Option<ProofKeys>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut retry = Duration::from_millis(250);
    loop {
        let wait = match ensure(&client, &namespace).await {
            Ok(keys) => {
                tx.send_if_modified(|old| {
                    let changed = old.as_ref().is_none_or(|o| o.verify != keys.verify);
                    *old = Some(keys);
                    changed
                });
                retry = Duration::from_millis(250);
                REFRESH
            }
            Err(e) => {
                warn!(error = %e, "loading the allocation signing key; retrying");
                retry = (retry * 2).min(Duration::from_secs(30));
                retry
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = crate::leader::stopped(&mut shutdown) => return,
        }
    }
}

async fn ensure(client: &Client, namespace: &str) -> Result<ProofKeys, String> {
    let signer = signing_key(client, namespace).await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let published = maps
        .get_opt(ALLOCATION_KEYS_CONFIGMAP)
        .await
        .map_err(|e| format!("reading ConfigMap {namespace}/{ALLOCATION_KEYS_CONFIGMAP}: {e}"))?;
    let data = published.and_then(|m| m.data).unwrap_or_default();
    let (mut verify, problems) = VerifyKeys::from_data(&data);
    for p in problems {
        warn!("{p}");
    }
    let own = signer.id().to_string();
    if !data.contains_key(&own) {
        let mut mine = VerifyKeys::default();
        mine.insert(signer.public_key());
        let entry: BTreeMap<String, String> = mine.to_data();
        // A merge patch adds the entry and leaves the others; apply creates the ConfigMap.
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ALLOCATION_KEYS_CONFIGMAP, "namespace": namespace},
            "data": entry,
        });
        let params = PatchParams::apply(&format!("{MANAGER_CONTROLLER}-{own}"));
        maps.patch(ALLOCATION_KEYS_CONFIGMAP, &params, &Patch::Apply(body))
            .await
            .map_err(|e| {
                format!(
                    "publishing key {own} in ConfigMap {namespace}/{ALLOCATION_KEYS_CONFIGMAP}: {e}"
                )
            })?;
        info!(key = %own, "published the allocation proof key");
    }
    verify.insert(signer.public_key());
    Ok(ProofKeys {
        signer: Arc::new(signer),
        verify,
    })
}

async fn signing_key(client: &Client, namespace: &str) -> Result<SigningKey, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let read = |s: Secret| -> Result<SigningKey, String> {
        let bytes = s
            .data
            .and_then(|d| d.get(DATA_KEY).cloned())
            .ok_or_else(|| format!("Secret {namespace}/{SIGNING_KEY_SECRET} has no {DATA_KEY}: delete it and the controller creates a new key"))?;
        SigningKey::from_pkcs8(&bytes.0)
            .map_err(|e| format!("Secret {namespace}/{SIGNING_KEY_SECRET}: {e}: delete it and the controller creates a new key"))
    };
    match api.get_opt(SIGNING_KEY_SECRET).await {
        Ok(Some(s)) => return read(s),
        Ok(None) => {}
        Err(e) => {
            return Err(format!(
                "reading Secret {namespace}/{SIGNING_KEY_SECRET}: {e}"
            ));
        }
    }
    let key = SigningKey::generate()?;
    let mut secret = Secret {
        data: Some(BTreeMap::from([(
            DATA_KEY.to_string(),
            ByteString(key.pkcs8().to_vec()),
        )])),
        ..Secret::default()
    };
    secret.metadata.name = Some(SIGNING_KEY_SECRET.into());
    secret.metadata.namespace = Some(namespace.into());
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            info!(key = %key.id(), "created the allocation signing key");
            Ok(key)
        }
        // Another replica was first: use its key.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = api
                .get(SIGNING_KEY_SECRET)
                .await
                .map_err(|e| e.to_string())?;
            read(s)
        }
        Err(e) => Err(format!(
            "creating Secret {namespace}/{SIGNING_KEY_SECRET}: {e}"
        )),
    }
}
