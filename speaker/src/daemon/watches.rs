//! Reflectors over the objects the speaker decides from; [`Stores::snapshot`] reads them all
//! at once for [`nodestate::desired`](crate::nodestate::desired).
//!
//! A watch that fails keeps its store (the last state seen) and retries with backoff: during an
//! apiserver outage the speaker goes on answering from what it knew.

use std::sync::Arc;

use ferrolb_api::{IPPool, L2Announcement, ServiceAnnouncement};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::runtime::reflector::Store;
use tokio::sync::Notify;

use crate::nodestate::Snapshot;

/// The watched objects.
#[derive(Clone)]
pub struct Stores {
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    pools: Store<IPPool>,
    l2: Store<L2Announcement>,
    announcements: Store<ServiceAnnouncement>,
}

impl Stores {
    /// Starts one watch per kind; `changed` is notified on every change after the first list.
    pub fn start(client: &Client, changed: Arc<Notify>) -> Stores {
        Stores {
            services: ferrolb_api::reflect::watch_all(client, changed.clone()),
            slices: ferrolb_api::reflect::watch_all(client, changed.clone()),
            nodes: ferrolb_api::reflect::watch_all(client, changed.clone()),
            pools: ferrolb_api::reflect::watch_all(client, changed.clone()),
            l2: ferrolb_api::reflect::watch_all(client, changed.clone()),
            announcements: ferrolb_api::reflect::watch_all(client, changed),
        }
    }

    /// Waits until every watch has listed its objects once.
    pub async fn synced(&self) {
        let _ = self.services.wait_until_ready().await;
        let _ = self.slices.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.pools.wait_until_ready().await;
        let _ = self.l2.wait_until_ready().await;
        let _ = self.announcements.wait_until_ready().await;
    }

    /// The `ServiceAnnouncement` objects.
    pub fn announcements(&self) -> Vec<Arc<ServiceAnnouncement>> {
        self.announcements.state()
    }

    /// Everything watched, now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            services: self.services.state(),
            slices: self.slices.state(),
            nodes: self.nodes.state(),
            pools: self.pools.state(),
            l2: self.l2.state(),
        }
    }
}
