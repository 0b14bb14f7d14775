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
use k8s_openapi::jiff;
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
        Api::namespaced(client.clone(), &cfg.namespace),
        cfg.name.clone(),
        released.clone(),
    ));
    let leases: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    // After an API error we stop leading at once (we may not be able to renew); the manager
    // itself still counts us as holder and reports nothing when a later renewal succeeds, so
    // while `recovering` the Lease is read every second until it shows who holds it.
    let mut recovering = false;
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            () = tokio::time::sleep(Duration::from_secs(1)), if recovering => {
                match leases.get_opt(&cfg.name).await {
                    Ok(lease) => {
                        let now = jiff::Timestamp::now();
                        match lease.as_ref().and_then(|l| live_holder(l, now)) {
                            Some(holder) if holder == cfg.identity => {
                                info!(identity = %cfg.identity, "the API is back and the lease is ours; leading again");
                                recovering = false;
                                leader.send_replace(true);
                            }
                            // Another replica leads: the manager reports when that changes.
                            Some(_) => recovering = false,
                            // Expired or released during the outage: whoever takes it next may
                            // be our manager, which would not report it; keep reading.
                            None => {}
                        }
                    }
                    Err(e) => warn!(error = %e, "re-reading the leader lease after an error"),
                }
            }
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
                    recovering = false;
                    leader.send_replace(is_leader);
                }
                Err(e) => {
                    warn!(error = %e, "leader election: retrying in 1s");
                    leader.send_replace(false);
                    recovering = true;
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

/// The holder `lease` names, when it has not expired at `now` (renewTime plus
/// leaseDurationSeconds).
fn live_holder(lease: &Lease, now: jiff::Timestamp) -> Option<&str> {
    let spec = lease.spec.as_ref()?;
    let (Some(holder), Some(renewed), Some(secs)) = (
        spec.holder_identity.as_deref(),
        spec.renew_time.as_ref(),
        spec.lease_duration_seconds,
    ) else {
        return None;
    };
    let expires = renewed
        .0
        .checked_add(jiff::SignedDuration::from_secs(i64::from(secs)));
    expires.is_ok_and(|e| e > now).then_some(holder)
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: Option<&str>, renewed: jiff::Timestamp, secs: i32) -> Lease {
        Lease {
            spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
                holder_identity: holder.map(String::from),
                renew_time: Some(MicroTime(renewed)),
                lease_duration_seconds: Some(secs),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_an_unexpired_lease_names_its_holder() {
        let now = jiff::Timestamp::now();
        let holds = |l: &Lease, id: &str, now| live_holder(l, now) == Some(id);
        let ago = |s: i64| now.checked_sub(jiff::SignedDuration::from_secs(s)).unwrap();
        assert!(holds(&lease(Some("me"), ago(5), 15), "me", now));
        assert!(
            !holds(&lease(Some("me"), ago(20), 15), "me", now),
            "expired"
        );
        assert!(!holds(&lease(Some("other"), ago(5), 15), "me", now));
        assert!(!holds(&lease(None, ago(5), 15), "me", now), "released");
        assert!(!holds(&Lease::default(), "me", now));
        assert_eq!(
            live_holder(&lease(Some("me"), ago(20), 15), now),
            None,
            "expired: keep reading"
        );
    }
}
