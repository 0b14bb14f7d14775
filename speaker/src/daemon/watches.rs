//! Reflectors over the objects the speaker decides from: [`ServiceStores`] and the speaker's
//! own kinds; [`Stores::snapshot`] reads them all at once for
//! [`nodestate::desired`](crate::nodestate::desired).
//!
//! A watch that fails keeps its store (the last state seen) and retries with backoff: during an
//! apiserver outage the speaker goes on answering from what it knew.

use std::sync::Arc;

use ferrolb_adapter::node_service::NodeService;
use ferrolb_adapter::reflect::{watch_all, watch_all_into};
use ferrolb_adapter::store::ObjectStore;
use ferrolb_adapter::stores::ServiceStores;
use ferrolb_api::L2AnnouncementPolicy;
use kube::Client;
use tokio::sync::Notify;

use super::announced::Announced;
use crate::nodestate::Snapshot;

/// The watched objects.
#[derive(Clone)]
pub struct Stores {
    common: ServiceStores<NodeService>,
    l2: ObjectStore<L2AnnouncementPolicy>,
    announcements: ObjectStore<Announced>,
}

impl Stores {
    /// Starts one watch per kind; `changed` is notified on every change after the first list,
    /// but of a `ServiceAnnouncement`: those notify `announced`. They are no input of the
    /// desired state, only of what the publisher writes, so they need no step.
    pub fn start(
        client: &Client,
        namespace: &str,
        changed: Arc<Notify>,
        announced: Arc<Notify>,
    ) -> Stores {
        Stores {
            common: ServiceStores::start_for(
                client,
                namespace,
                changed.clone(),
                Some(Arc::new(|svc, _| crate::nodestate::vips::may_concern(svc))),
            ),
            l2: watch_all(client, changed),
            announcements: watch_all_into(
                client,
                announced,
                Announced::from as fn(ferrolb_api::ServiceAnnouncement) -> Announced,
            ),
        }
    }

    /// Waits until every watch has listed its objects once.
    pub async fn synced(&self) {
        self.common.synced().await;
        let _ = self.l2.wait_until_ready().await;
        let _ = self.announcements.wait_until_ready().await;
    }

    /// The `ServiceAnnouncement` objects, as the publisher compares them.
    pub fn announcements(&self) -> Vec<Arc<Announced>> {
        self.announcements.state()
    }

    /// Everything watched, now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            objects: self.common.objects(),
            l2: self.l2.state(),
        }
    }
}
