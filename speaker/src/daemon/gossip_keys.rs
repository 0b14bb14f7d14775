//! The gossip keys from Secret `--gossip-secret` (`ferrolb-gossip`) in the speaker's
//! namespace: created with one random key when missing (by whichever speaker comes first:
//! create is atomic and a conflict means another was first, whose Secret is then read), then
//! watched, so a rotation is loaded without a restart.
//!
//! The keyring only ever changes to a usable one: a Secret edited into something unusable, or
//! deleted, is reported (log, `ferrolb_speaker_gossip_secret_usable` 0) and the last usable keys
//! stay in use. Until a first usable keyring is loaded the channel holds `None` and the gossip
//! does not start (never in clear).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::runtime::watcher;
use kube::{Api, Client};
use prometheus_client::metrics::gauge::Gauge;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::membership::keyring::{self, GossipKey, Keyring};

/// How long to wait before trying again to read or create the Secret, or to watch it.
const RETRY: Duration = Duration::from_secs(2);

/// The keys' gauges.
#[derive(Debug, Clone)]
pub struct KeyMetrics {
    /// Keys accepted (0 until a usable keyring is loaded).
    pub keys: Gauge,
    /// 1 when the Secret's latest version is usable, 0 otherwise.
    pub usable: Gauge,
}

/// Starts the task; the receiver holds the current keyring (`None` until one is usable).
pub fn spawn(
    client: Client,
    namespace: String,
    name: String,
    metrics: KeyMetrics,
) -> watch::Receiver<Option<Arc<Keyring>>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let api: Api<Secret> = Api::namespaced(client, &namespace);
        let whose = format!("Secret {namespace}/{name}");
        while let Err(e) = ensure(&api, &name).await {
            warn!(secret = %whose, error = %e, "cannot read or create the gossip keys; trying again");
            tokio::time::sleep(RETRY).await;
        }
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut stream = watcher::watcher(api, config).boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                    load(&s, &whose, &tx, &metrics);
                }
                Ok(watcher::Event::Delete(_)) => {
                    metrics.usable.set(0);
                    warn!(secret = %whose, "the gossip keys' Secret was deleted: keeping the keys loaded; create it again (see README, gossip keys)");
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(secret = %whose, error = %e, "watching the gossip keys");
                    tokio::time::sleep(RETRY).await;
                }
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}

/// Creates the Secret with one random key unless it exists.
async fn ensure(api: &Api<Secret>, name: &str) -> Result<(), String> {
    if api
        .get_opt(name)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    let mut random = [0u8; GossipKey::LEN];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| "no random bytes for a gossip key".to_string())?;
    let data = keyring::new_items(&random)
        .into_iter()
        .map(|(k, v)| (k, ByteString(v)))
        .collect();
    let mut secret = Secret {
        data: Some(data),
        ..Secret::default()
    };
    secret.metadata.name = Some(name.to_string());
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            info!(
                secret = name,
                "created the gossip keys' Secret with a random key"
            );
            Ok(())
        }
        // Another speaker was first: its Secret is the one watched.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Loads a version of the Secret: a usable one replaces the keyring, another is reported.
fn load(
    secret: &Secret,
    whose: &str,
    tx: &watch::Sender<Option<Arc<Keyring>>>,
    metrics: &KeyMetrics,
) {
    let items: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    match Keyring::from_items(&items) {
        Ok(ring) => {
            let described = ring.describe();
            let changed = tx
                .borrow()
                .as_ref()
                .is_none_or(|old| old.describe() != described);
            metrics.usable.set(1);
            metrics
                .keys
                .set(i64::try_from(ring.len()).unwrap_or(i64::MAX));
            if changed {
                info!(secret = %whose, keys = %described, "gossip keys loaded");
            }
            tx.send_replace(Some(Arc::new(ring)));
        }
        Err(e) => {
            metrics.usable.set(0);
            let now = if tx.borrow().is_some() {
                "keeping the keys loaded before"
            } else {
                "the gossip waits for a usable key (nothing is sent in clear)"
            };
            warn!(secret = %whose, error = %e, "unusable gossip keys: {e}; {now}");
        }
    }
}
