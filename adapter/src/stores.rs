//! The watches every component that serves LoadBalancer Services on the nodes' side (speaker,
//! edge) decides from: Services, EndpointSlices, Nodes and VIPPools, each a
//! [`watch_all`] reflector; Services and EndpointSlices keep only what the nodes' side reads
//! ([`project`]).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::runtime::reflector::Store;
use tokio::sync::Notify;

use crate::project;
use crate::proof::{ALLOCATION_KEYS_CONFIGMAP, VerifyKeys};
use crate::reflect::{watch_all, watch_all_with, watch_named};
use ferrolb_api::VIPPool;

/// Services, EndpointSlices, Nodes and VIPPools at one moment (what [`ServiceStores`] hold).
#[derive(Debug, Clone, Default)]
pub struct ServiceObjects {
    /// Every Service.
    pub services: Vec<Arc<Service>>,
    /// Every EndpointSlice.
    pub slices: Vec<Arc<EndpointSlice>>,
    /// Every Node.
    pub nodes: Vec<Arc<Node>>,
    /// Every VIPPool.
    pub pools: Vec<Arc<VIPPool>>,
    /// The keys that verify allocation proofs ([`ALLOCATION_KEYS_CONFIGMAP`]).
    pub proof_keys: VerifyKeys,
}

/// The stores of Services, EndpointSlices, Nodes and VIPPools.
#[derive(Clone)]
pub struct ServiceStores {
    /// Every Service.
    pub services: Store<Service>,
    /// Every EndpointSlice.
    pub slices: Store<EndpointSlice>,
    /// Every Node.
    pub nodes: Store<Node>,
    /// Every VIPPool.
    pub pools: Store<VIPPool>,
    /// The ConfigMap [`ALLOCATION_KEYS_CONFIGMAP`] of ferrolb's namespace.
    pub proof_keys: Store<ConfigMap>,
}

impl ServiceStores {
    /// Starts one watch per kind on the current tokio runtime; `changed` is notified on every
    /// change after the first list.
    /// `namespace` is ferrolb's, where the controller publishes its proof keys.
    pub fn start(client: &Client, namespace: &str, changed: Arc<Notify>) -> ServiceStores {
        ServiceStores {
            services: watch_all_with(client, changed.clone(), project::service),
            slices: watch_all_with(client, changed.clone(), project::slice),
            nodes: watch_all(client, changed.clone()),
            pools: watch_all(client, changed.clone()),
            proof_keys: watch_named(client, namespace, ALLOCATION_KEYS_CONFIGMAP, changed),
        }
    }

    /// Every object the stores hold now.
    pub fn objects(&self) -> ServiceObjects {
        ServiceObjects {
            services: self.services.state(),
            slices: self.slices.state(),
            nodes: self.nodes.state(),
            pools: self.pools.state(),
            proof_keys: proof_keys(&self.proof_keys.state()),
        }
    }

    /// Waits until every watch has listed its objects once.
    pub async fn synced(&self) {
        let _ = self.services.wait_until_ready().await;
        let _ = self.slices.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.pools.wait_until_ready().await;
        let _ = self.proof_keys.wait_until_ready().await;
    }
}

/// The keys the ConfigMap publishes (none without it); malformed entries are logged and
/// skipped.
fn proof_keys(maps: &[Arc<ConfigMap>]) -> VerifyKeys {
    let Some(data) = maps.first().and_then(|m| m.data.as_ref()) else {
        return VerifyKeys::default();
    };
    let (keys, problems) = VerifyKeys::from_data(data);
    for problem in problems {
        tracing::warn!("{problem}");
    }
    keys
}
