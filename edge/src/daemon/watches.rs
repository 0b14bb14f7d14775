//! Reflectors over what the edge decides from ([`ServiceStores`]); a watch that fails keeps its
//! last state and retries (an apiserver outage changes nothing on the data path).

use std::sync::Arc;

use ferrolb_adapter::stores::{ServiceObjects, ServiceStores};
use kube::Client;
use tokio::sync::Notify;

/// The watched objects.
#[derive(Clone)]
pub struct Stores(ServiceStores);

impl Stores {
    /// One watch per kind; `changed` is notified on every change after the first list that
    /// may concern the edge ([`may_concern`](crate::frontends::may_concern); a Node's
    /// heartbeats and a VIPPool's status do not).
    pub fn start(client: &Client, namespace: &str, changed: Arc<Notify>) -> Stores {
        Stores(ServiceStores::start_for(
            client,
            namespace,
            changed,
            Some(Arc::new(|svc, pools| {
                crate::frontends::may_concern(svc, &pools.state())
            })),
        ))
    }

    /// Waits until every watch listed its objects once.
    pub async fn synced(&self) {
        self.0.synced().await;
    }

    /// Everything watched, now.
    pub fn snapshot(&self) -> ServiceObjects {
        self.0.objects()
    }
}
