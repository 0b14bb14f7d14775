//! The watches: one reflector per watched kind, and snapshots of their stores. I/O.

use std::sync::Arc;

use ferrolb_adapter::reflect::{Observer, watch_all_observed};
use ferrolb_adapter::store::ObjectStore;
use ferrolb_adapter::stores::node_relevance;
use ferrolb_api::{ExternalIPPolicy, VIPPool};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kube::Client;
use kube::runtime::watcher;
use tokio::sync::Notify;
use tracing::warn;

use crate::echoes::{Journal, Seen};
use crate::http::Health;
use crate::inputs::Watched;

/// How often a wait for the first lists is reported.
const WAIT_REPORT: std::time::Duration = std::time::Duration::from_secs(5);

/// The reflectors' stores.
#[derive(Clone)]
pub struct Stores {
    services: ObjectStore<Service>,
    pools: ObjectStore<VIPPool>,
    namespaces: ObjectStore<Namespace>,
    nodes: ObjectStore<Node>,
    policies: ObjectStore<ExternalIPPolicy>,
    service_cidrs: ObjectStore<ServiceCIDR>,
    journal: Arc<Journal>,
}

impl Stores {
    /// A snapshot of everything watched.
    pub fn snapshot(&self) -> Watched {
        Watched {
            services: self.services.state(),
            pools: self.pools.state(),
            namespaces: self.namespaces.state(),
            nodes: self.nodes.state(),
            policies: self.policies.state(),
            service_cidrs: self.service_cidrs.state(),
        }
    }

    /// What the watches showed since the last call ([`crate::echoes`]). Every event it holds
    /// is already in the stores.
    pub fn seen(&self) -> Seen {
        self.journal.take()
    }

    /// Returns once every store has had its initial list; `Err` when a watch ended before
    /// (nothing may be planned from its empty store). While waiting, readiness and the log say
    /// which watches fail and why.
    pub async fn ready(&self, health: &Health) -> Result<(), String> {
        let all = async {
            self.services
                .wait_until_ready()
                .await
                .map_err(|e| format!("Services: {e}"))?;
            self.pools
                .wait_until_ready()
                .await
                .map_err(|e| format!("VIPPools: {e}"))?;
            self.namespaces
                .wait_until_ready()
                .await
                .map_err(|e| format!("Namespaces: {e}"))?;
            self.nodes
                .wait_until_ready()
                .await
                .map_err(|e| format!("Nodes: {e}"))?;
            self.policies
                .wait_until_ready()
                .await
                .map_err(|e| format!("ExternalIPPolicies: {e}"))?;
            self.service_cidrs
                .wait_until_ready()
                .await
                .map_err(|e| format!("ServiceCIDRs: {e}"))
        };
        tokio::pin!(all);
        loop {
            tokio::select! {
                done = &mut all => {
                    health.set_problem(None);
                    return done;
                }
                () = tokio::time::sleep(WAIT_REPORT) => {
                    let failing = ferrolb_adapter::reflect::failing_watches();
                    let why = if failing.is_empty() {
                        "waiting for the first list of every watched kind".to_string()
                    } else {
                        format!("watches not synced: {}", failing.join("; "))
                    };
                    warn!("{why}; not planning until they are");
                    health.set_problem(Some(why));
                }
            }
        }
    }
}

/// Starts the watches; returns their stores and the signal of any change (but a Node's
/// heartbeats, [`node_relevance`]).
pub fn start(client: &Client) -> (Stores, Arc<Notify>) {
    let changed = Arc::new(Notify::new());
    let journal = Arc::new(Journal::default());
    let services: Observer<Service> = {
        let journal = Arc::clone(&journal);
        Arc::new(move |event| journal.service(event))
    };
    let pools: Observer<VIPPool> = {
        let journal = Arc::clone(&journal);
        Arc::new(move |event| journal.pool(event))
    };
    let stores = Stores {
        services: watch_all_observed(client, changed.clone(), None, services),
        pools: watch_all_observed(client, changed.clone(), None, pools),
        namespaces: watch_all_observed(client, changed.clone(), None, foreign(&journal)),
        nodes: watch_all_observed(
            client,
            changed.clone(),
            // Not woken by heartbeats: it reads only addresses.
            Some(node_relevance()),
            foreign(&journal),
        ),
        policies: watch_all_observed(client, changed.clone(), None, foreign(&journal)),
        service_cidrs: watch_all_observed(client, changed.clone(), None, foreign(&journal)),
        journal,
    };
    (stores, changed)
}

/// Every event of the kind is foreign to the controller's writes.
fn foreign<K>(journal: &Arc<Journal>) -> Observer<K> {
    let journal = Arc::clone(journal);
    Arc::new(move |_: &watcher::Event<K>| journal.foreign())
}
