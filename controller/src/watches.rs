//! The watches: one reflector per watched kind, and snapshots of their stores. I/O.

use std::sync::Arc;

use ferrolb_api::{ExternalIPPolicy, VIPPool};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kube::Client;
use kube::runtime::reflector::Store;
use tokio::sync::Notify;

use crate::inputs::Watched;

/// The reflectors' stores.
#[derive(Clone)]
pub struct Stores {
    services: Store<Service>,
    pools: Store<VIPPool>,
    namespaces: Store<Namespace>,
    nodes: Store<Node>,
    policies: Store<ExternalIPPolicy>,
    service_cidrs: Store<ServiceCIDR>,
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

    /// Returns once every store has had its initial list.
    pub async fn ready(&self) {
        let _ = self.services.wait_until_ready().await;
        let _ = self.pools.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.policies.wait_until_ready().await;
        let _ = self.service_cidrs.wait_until_ready().await;
    }
}

/// Starts the watches; returns their stores and the signal of any change.
pub fn start(client: &Client) -> (Stores, Arc<Notify>) {
    let changed = Arc::new(Notify::new());
    let stores = Stores {
        services: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        pools: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        namespaces: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        nodes: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        policies: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        service_cidrs: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
    };
    (stores, changed)
}
