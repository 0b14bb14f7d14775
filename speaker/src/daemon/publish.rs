//! `ServiceAnnouncement` objects: which node answers for each of a Service's addresses.
//!
//! What this node writes is part of its desired state
//! ([`Publication`], composed by [`nodestate::publication`](crate::nodestate::publication));
//! [`Publisher`] writes it with server-side apply (one field manager for every speaker,
//! forced: a takeover is never a conflict) and only what differs from the watched objects.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ferrolb_adapter::node_service::NodeService;
use ferrolb_api::{ServiceAnnouncement, ServiceAnnouncementStatus};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde_json::json;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::announced::Announced;
use crate::nodestate::{Publication, StatusDigest};
use ferrolb_core::ServiceKey;

/// Field manager of every speaker's writes.
pub const FIELD_MANAGER: &str = "ferrolb-speaker";

/// One round of work for the publisher task.
#[derive(Debug, Default)]
pub struct Batch {
    /// What this node writes (part of its desired state).
    pub publication: Arc<Publication>,
    /// The Services (for owner references).
    pub services: Vec<Arc<NodeService>>,
    /// The `ServiceAnnouncement` objects as watched.
    pub current: Vec<Arc<Announced>>,
}

/// The writes and deletions that bring the watched objects to the batch (pure): the statuses
/// whose digests differ from the watched objects', composed.
pub fn changes(
    batch: &Batch,
) -> (
    Vec<(ServiceKey, ServiceAnnouncementStatus)>,
    Vec<ServiceKey>,
) {
    let current: HashMap<&ServiceKey, Option<StatusDigest>> = batch
        .current
        .iter()
        .map(|sa| (&sa.service, sa.status))
        .collect();
    let statuses = &batch.publication.statuses;
    let writes = statuses
        .digests()
        .filter(|(k, wanted)| current.get(k).copied().flatten() != Some(*wanted))
        .filter_map(|(k, _)| Some((k.clone(), statuses.status(k)?)))
        .collect();
    let deletes = if batch.publication.sweeper {
        let described: HashSet<&ServiceKey> = batch.publication.described().collect();
        current
            .keys()
            .filter(|k| !described.contains(**k))
            .map(|k| (*k).clone())
            .collect()
    } else {
        Vec::new()
    };
    (writes, deletes)
}

/// How long the publisher waits before trying failed writes again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts the publisher task: it brings the objects to the latest batch, and tries again after
/// failures. Its writes never hold up the loop (an apiserver outage only delays the objects).
/// It compares with the watched objects, not with its own memory, so an object another speaker
/// overwrote during a takeover is put right by whoever writes it now.
pub fn spawn(client: Client, mut rx: watch::Receiver<Arc<Batch>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let publisher = Publisher { client };
        loop {
            let batch = rx.borrow_and_update().clone();
            let ok = publisher.publish(&batch).await;
            let retry = async {
                if ok {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(RETRY).await;
            };
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                () = retry => {}
            }
        }
    })
}

/// Writes `ServiceAnnouncement`s.
struct Publisher {
    client: Client,
}

impl Publisher {
    /// Applies [`changes`]; returns whether all succeeded (failures are logged).
    async fn publish(&self, batch: &Batch) -> bool {
        let (writes, deletes) = changes(batch);
        let mut ok = true;
        for key in deletes {
            let api: Api<ServiceAnnouncement> =
                Api::namespaced(self.client.clone(), &key.namespace);
            match api.delete(&key.name, &Default::default()).await {
                Ok(_) => debug!(service = %key, "ServiceAnnouncement deleted"),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => {
                    ok = false;
                    warn!(service = %key, error = %e, "deleting ServiceAnnouncement failed");
                }
            }
        }
        for (key, status) in writes {
            let wanted = (&*key.namespace, &*key.name);
            let found = batch.services.iter().find(|s| s.key_parts() == wanted);
            let Some(svc) = found else {
                continue;
            };
            match self.write(svc, &key, &status).await {
                Ok(()) => debug!(service = %key, "ServiceAnnouncement written"),
                Err(e) => {
                    ok = false;
                    warn!(service = %key, error = %e, "writing ServiceAnnouncement failed; will retry");
                }
            }
        }
        ok
    }

    async fn write(
        &self,
        svc: &NodeService,
        key: &ServiceKey,
        status: &ServiceAnnouncementStatus,
    ) -> Result<(), kube::Error> {
        let api: Api<ServiceAnnouncement> = Api::namespaced(self.client.clone(), &key.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let owner = svc.service().controller_owner_ref(&()).map(|mut o| {
            o.controller = Some(false);
            o.block_owner_deletion = Some(false);
            o
        });
        let body = json!({
            "apiVersion": ServiceAnnouncement::api_version(&()),
            "kind": ServiceAnnouncement::kind(&()),
            "metadata": {
                "name": key.name,
                "namespace": key.namespace,
                "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
            },
            "spec": { "serviceName": key.name },
        });
        api.patch(&key.name, &params, &Patch::Apply(body)).await?;
        let body = json!({
            "apiVersion": ServiceAnnouncement::api_version(&()),
            "kind": ServiceAnnouncement::kind(&()),
            "status": status,
        });
        api.patch_status(&key.name, &params, &Patch::Apply(body))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ferrolb_api::SilentAddress;

    use super::*;
    use crate::nodestate::{AnnouncementPlan, SilentIp, Statuses};

    fn status(reason: &str) -> ServiceAnnouncementStatus {
        ServiceAnnouncementStatus {
            announcements: Vec::new(),
            silent: vec![SilentAddress {
                ip: "192.0.2.10".into(),
                reason: reason.into(),
            }],
        }
    }

    fn watched(name: &str, status: Option<&ServiceAnnouncementStatus>) -> Arc<Announced> {
        Arc::new(Announced {
            service: ServiceKey::new("shop", name),
            status: status.map(StatusDigest::of),
        })
    }

    fn batch(sweeper: bool) -> Batch {
        // Services of no address: their statuses list one silent address with its reason.
        let plans: Vec<Arc<AnnouncementPlan>> =
            [("same", "a"), ("changed", "b"), ("new", "c"), ("bare", "d")]
                .into_iter()
                .map(|(name, reason)| {
                    Arc::new(AnnouncementPlan {
                        service: ServiceKey::new("shop", name),
                        announced: Vec::new(),
                        silent: vec![SilentIp {
                            ip: "192.0.2.10".parse().unwrap(),
                            reason: reason.into(),
                        }],
                        elsewhere: Vec::new(),
                    })
                })
                .collect();
        let live = ["node-a".to_string()].into_iter().collect();
        let statuses = Statuses::new(
            &plans,
            &Default::default(),
            "node-a",
            &live,
            &Default::default(),
        );
        Batch {
            publication: Arc::new(Publication {
                statuses,
                plans,
                sweeper,
                ..Publication::default()
            }),
            services: Vec::new(),
            current: vec![
                watched("same", Some(&status("a"))),
                watched("changed", Some(&status("b, before"))),
                watched("bare", None),
                watched("stale", Some(&status("e"))),
            ],
        }
    }

    /// Only statuses that differ from the watched objects' are written; objects of Services
    /// without a plan are deleted by the sweeper only.
    #[test]
    fn writes_what_differs_and_sweeps_the_stale() {
        let b = batch(true);
        let (writes, deletes) = changes(&b);
        let written: Vec<&str> = writes.iter().map(|(k, _)| &*k.name).collect();
        assert_eq!(written, ["bare", "changed", "new"]);
        // Each composed as the digest said.
        let reasons: Vec<&str> = writes.iter().map(|(_, s)| &*s.silent[0].reason).collect();
        assert_eq!(reasons, ["d", "b", "c"]);
        assert_eq!(deletes, [ServiceKey::new("shop", "stale")]);
        let b = batch(false);
        let (writes, deletes) = changes(&b);
        assert_eq!(writes.len(), 3);
        assert!(deletes.is_empty());
    }
}
