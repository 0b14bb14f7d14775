//! Leader election through a Kubernetes Lease (kube-lease-manager), with a fast handover.
//!
//! kube-lease-manager renews the lease while we hold it and takes it once the holder's lease
//! expires. A standby does not watch the Lease, so on its own it would only notice a released
//! lease when the old one would have expired. We watch the Lease object too: when its holder is
//! cleared (a leader stopping on SIGTERM releases it) the standby re-reads it at once and takes
//! it. `LeaseManager::release` re-reads the Lease (and only clears it when we hold it or it
//! has expired), which is what makes that re-read possible through the crate's public API.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::watcher;
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

/// Where and as whom to take part in the election.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// Lease duration in seconds.
    pub duration: u64,
    /// Renew this many seconds before expiry.
    pub grace: u64,
}

/// Runs the election until `shutdown` turns true; publishes leadership on the returned
/// channel. On shutdown it first publishes `false` (so the caller stops writing), then releases
/// the lease if held, then ends.
pub async fn run(
    client: Client,
    cfg: LeaseConfig,
    mut shutdown: watch::Receiver<bool>,
    leader: watch::Sender<bool>,
) -> Result<(), kube_lease_manager::LeaseManagerError> {
    let manager = LeaseManagerBuilder::new(client.clone(), &cfg.name)
        .with_namespace(&cfg.namespace)
        .with_identity(&cfg.identity)
        .with_duration(cfg.duration)
        .with_grace(cfg.grace)
        .build()
        .await?;
    let released = Arc::new(Notify::new());
    let watch_task = tokio::spawn(watch_release(
        Api::namespaced(client, &cfg.namespace),
        cfg.name.clone(),
        released.clone(),
    ));
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            () = released.notified() => {
                if !*leader.borrow() {
                    // Re-read the Lease now instead of sleeping until its old expiry.
                    if let Err(e) = manager.release().await {
                        warn!(error = %e, "re-reading the leader lease");
                    }
                }
            }
            state = manager.changed() => match state {
                Ok(is_leader) => {
                    info!(identity = %cfg.identity, leader = is_leader, "leadership changed");
                    leader.send_replace(is_leader);
                }
                Err(e) => {
                    warn!(error = %e, "leader election: retrying in 1s");
                    leader.send_replace(false);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
    leader.send_replace(false);
    watch_task.abort();
    match tokio::time::timeout(Duration::from_secs(3), manager.release()).await {
        Ok(Ok(())) => info!(identity = %cfg.identity, "released the leader lease"),
        Ok(Err(e)) => warn!(error = %e, "releasing the leader lease"),
        Err(_) => warn!("releasing the leader lease timed out"),
    }
    Ok(())
}

/// Notifies whenever the Lease is seen without a holder.
async fn watch_release(api: Api<Lease>, name: String, released: Arc<Notify>) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api, config).boxed();
    while let Some(event) = stream.next().await {
        let leases: Vec<Lease> = match event {
            Ok(watcher::Event::Apply(l) | watcher::Event::InitApply(l)) => vec![l],
            Ok(_) => Vec::new(),
            Err(e) => {
                warn!(error = %e, "watching the leader lease");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Vec::new()
            }
        };
        if leases
            .iter()
            .any(|l| l.spec.as_ref().is_none_or(|s| s.holder_identity.is_none()))
        {
            released.notify_one();
        }
    }
}

/// Resolves once `shutdown` is true (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
