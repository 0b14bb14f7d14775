//! The watches every component that serves LoadBalancer Services on the nodes' side (speaker,
//! edge) decides from: Services, EndpointSlices, Nodes and VIPPools, each a
//! [`watch_all`] reflector; Services and EndpointSlices keep only what the nodes' side reads
//! ([`project`]), the speaker's Services in a smaller shape ([`NodeService`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use kube::Client;
use kube::runtime::watcher::Event;
use tokio::sync::Notify;

use crate::node_service::NodeService;
use crate::project;
use crate::proof::{ALLOCATION_KEYS_CONFIGMAP, VerifyKeys};
use crate::reflect::{Relevance, watch_all_into_relevant, watch_all_relevant, watch_named};
use crate::slice::NodeSlice;
use crate::store::ObjectStore;
use ferrolb_api::VIPPool;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Lookup;

/// How a binary keeps the Services it watches: the projected Service itself (the edge), or
/// the speaker's [`NodeService`].
pub trait KeptService: Lookup<DynamicType = ()> + Clone + Send + Sync + 'static {
    /// What is kept of `svc`.
    fn keep(svc: Service) -> Self;
}

impl KeptService for Service {
    fn keep(mut svc: Service) -> Service {
        project::service(&mut svc);
        svc
    }
}

impl KeptService for NodeService {
    fn keep(svc: Service) -> NodeService {
        NodeService::from(svc)
    }
}

/// Whether a Service may concern a binary, judged from the Service alone and the VIPPools as
/// their store has them (e.g. the edge: whether one of its addresses is in an edge pool). When
/// false before and after a change, the binary computes nothing different from it.
pub type Concerns<S> = Arc<dyn Fn(&S, &ObjectStore<VIPPool>) -> bool + Send + Sync>;

/// Services, EndpointSlices, Nodes and VIPPools at one moment (what [`ServiceStores`] hold).
#[derive(Debug, Clone)]
pub struct ServiceObjects<S = Service> {
    /// Every Service.
    pub services: Vec<Arc<S>>,
    /// Every EndpointSlice.
    pub slices: Vec<Arc<NodeSlice>>,
    /// Every Node.
    pub nodes: Vec<Arc<Node>>,
    /// Every VIPPool.
    pub pools: Vec<Arc<VIPPool>>,
    /// The keys that verify allocation proofs ([`ALLOCATION_KEYS_CONFIGMAP`]).
    pub proof_keys: VerifyKeys,
}

impl<S> Default for ServiceObjects<S> {
    fn default() -> Self {
        ServiceObjects {
            services: Vec::new(),
            slices: Vec::new(),
            nodes: Vec::new(),
            pools: Vec::new(),
            proof_keys: VerifyKeys::default(),
        }
    }
}

/// The stores of Services (kept as `S`), EndpointSlices, Nodes and VIPPools.
#[derive(Clone)]
pub struct ServiceStores<S = Service> {
    /// Every Service.
    pub services: ObjectStore<S>,
    /// Every EndpointSlice.
    pub slices: ObjectStore<NodeSlice>,
    /// Every Node.
    pub nodes: ObjectStore<Node>,
    /// Every VIPPool.
    pub pools: ObjectStore<VIPPool>,
    /// The ConfigMap [`ALLOCATION_KEYS_CONFIGMAP`] of ferrolb's namespace.
    pub proof_keys: ObjectStore<ConfigMap>,
    /// The keys last read from it, with the data they were read from: every snapshot hands
    /// out the same keys, so their verification memo lasts from pass to pass.
    last_keys: Arc<Mutex<Option<KeysRead>>>,
}

/// Keys and the ConfigMap data they were read from.
type KeysRead = (BTreeMap<String, String>, VerifyKeys);

impl<S: KeptService> ServiceStores<S> {
    /// Starts one watch per kind on the current tokio runtime; `changed` is notified on every
    /// change after the first list (`namespace` is ferrolb's, where the controller publishes
    /// its proof keys). With `concerns`, for a binary that computes nothing from a Service for
    /// which it is false (nor from its EndpointSlices), nor from a VIPPool's status: a
    /// change of a Service notifies only when `concerns` holds for it before or after the
    /// change, a change of an EndpointSlice only when it holds for the slice's Service as the
    /// store has it, and a change of a VIPPool only when more than its status changed (the
    /// controller rewrites the counts with every allocation), and a change of a Node only when
    /// what the nodes' side reads of it changed ([`node_relevance`]: not its heartbeats).
    /// Every change still enters the stores.
    pub fn start_for(
        client: &Client,
        namespace: &str,
        changed: Arc<Notify>,
        concerns: Option<Concerns<S>>,
    ) -> ServiceStores<S> {
        let pool_relevance = concerns.as_ref().map(|_| pool_relevance());
        let pools = watch_all_relevant(client, changed.clone(), |_| {}, pool_relevance);
        let services = watch_all_into_relevant::<Service, S>(
            client,
            changed.clone(),
            S::keep,
            concerns
                .clone()
                .map(|c| service_relevance(c, pools.clone())),
        );
        let slice_relevance = concerns
            .clone()
            .map(|c| slice_relevance(services.clone(), pools.clone(), c));
        let node_relevance = concerns.map(|_| node_relevance());
        ServiceStores {
            slices: watch_all_into_relevant::<EndpointSlice, _>(
                client,
                changed.clone(),
                NodeSlice::from,
                slice_relevance,
            ),
            services,
            nodes: watch_all_relevant(client, changed.clone(), |_| {}, node_relevance),
            pools,
            proof_keys: watch_named(client, namespace, ALLOCATION_KEYS_CONFIGMAP, changed),
            last_keys: Arc::default(),
        }
    }

    /// Every object the stores hold now.
    pub fn objects(&self) -> ServiceObjects<S> {
        ServiceObjects {
            services: self.services.state(),
            slices: self.slices.state(),
            nodes: self.nodes.state(),
            pools: self.pools.state(),
            proof_keys: self.keys(),
        }
    }

    /// The keys of the ConfigMap as it is now: the ones handed out last while its data stays
    /// the same (a pass verifies only the proofs it has not seen), read again when it changes
    /// (keeping the memo).
    fn keys(&self) -> VerifyKeys {
        let maps = self.proof_keys.state();
        let data = maps
            .first()
            .and_then(|m| m.data.clone())
            .unwrap_or_default();
        let Ok(mut last) = self.last_keys.lock() else {
            return proof_keys(&data);
        };
        if let Some((seen, keys)) = last.as_ref()
            && *seen == data
        {
            return keys.clone();
        }
        let keys = match last.take() {
            Some((_, earlier)) => proof_keys(&data).remembering_with(&earlier),
            None => proof_keys(&data),
        };
        *last = Some((data, keys.clone()));
        keys
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

/// A Service's change is relevant when `concerns` holds for the Service before or after it
/// (with the VIPPools as `pools` has them).
fn service_relevance<S: KeptService>(
    concerns: Concerns<S>,
    pools: ObjectStore<VIPPool>,
) -> Relevance<S> {
    Arc::new(
        move |store: &ObjectStore<S>, event: &Event<S>| match event {
            Event::Apply(svc) | Event::Delete(svc) => {
                concerns(svc, &pools)
                    || store
                        .get_like(svc)
                        .is_some_and(|before| concerns(&before, &pools))
            }
            _ => true,
        },
    )
}

/// An EndpointSlice's change is relevant when `concerns` holds for its Service, as `services`
/// has it (no Service: not relevant).
fn slice_relevance<S: KeptService>(
    services: ObjectStore<S>,
    pools: ObjectStore<VIPPool>,
    concerns: Concerns<S>,
) -> Relevance<NodeSlice> {
    Arc::new(
        move |_: &ObjectStore<NodeSlice>, event: &Event<NodeSlice>| match event {
            Event::Apply(slice) | Event::Delete(slice) => {
                slice.service.as_ref().is_some_and(|name| {
                    services
                        .get(&slice.namespace, name)
                        .is_some_and(|svc| concerns(&svc, &pools))
                })
            }
            _ => true,
        },
    )
}

/// A VIPPool's change is relevant unless only its status changed (or what the apiserver keeps
/// for itself: resourceVersion, managedFields).
fn pool_relevance() -> Relevance<VIPPool> {
    Arc::new(
        |store: &ObjectStore<VIPPool>, event: &Event<VIPPool>| match event {
            Event::Apply(pool) => store.get_like(pool).is_none_or(|before| {
                let (b, a) = (&before.metadata, &pool.metadata);
                before.spec != pool.spec
                    || b.uid != a.uid
                    || b.labels != a.labels
                    || b.annotations != a.annotations
                    || b.deletion_timestamp != a.deletion_timestamp
            }),
            _ => true,
        },
    )
}

/// A Node's change is relevant when what ferrolb reads of a Node changed: its labels, spec
/// (taints), deletion, addresses, or the status of a condition. Not the kubelet's heartbeats
/// (a condition's times and message, at least every few minutes on each node and every few
/// seconds in the lab), images, capacity or versions: at 1,000 nodes each of those woke every
/// speaker and the controller for a whole pass.
pub fn node_relevance() -> Relevance<Node> {
    Arc::new(
        |store: &ObjectStore<Node>, event: &Event<Node>| match event {
            Event::Apply(node) => store
                .get_like(node)
                .is_none_or(|before| node_read_changed(&before, node)),
            _ => true,
        },
    )
}

fn node_read_changed(before: &Node, after: &Node) -> bool {
    let addresses = |n: &Node| n.status.as_ref().and_then(|s| s.addresses.clone());
    let conditions = |n: &Node| -> Vec<(String, String)> {
        let mut c: Vec<(String, String)> = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| (c.type_.clone(), c.status.clone()))
            .collect();
        c.sort();
        c
    };
    let (b, a) = (&before.metadata, &after.metadata);
    b.labels != a.labels
        || b.uid != a.uid
        || b.deletion_timestamp != a.deletion_timestamp
        || before.spec != after.spec
        || addresses(before) != addresses(after)
        || conditions(before) != conditions(after)
}

/// The keys the ConfigMap's data publishes (none without it); malformed entries are logged
/// and skipped.
fn proof_keys(data: &BTreeMap<String, String>) -> VerifyKeys {
    let (keys, problems) = VerifyKeys::from_data(data);
    for problem in problems {
        tracing::warn!("{problem}");
    }
    keys
}

#[cfg(test)]
mod tests {
    use crate::store::store;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    use super::*;
    use crate::proof::testing;

    fn stores_with_keys(keys: &VerifyKeys) -> ServiceStores {
        let (proof_keys, mut writer) = store::<ConfigMap>();
        let map: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": ALLOCATION_KEYS_CONFIGMAP, "namespace": "ferrolb-system"},
            "data": keys.to_data(),
        }))
        .unwrap();
        writer.apply(&Event::Apply(map));
        ServiceStores {
            services: store().0,
            slices: store().0,
            nodes: store().0,
            pools: store().0,
            proof_keys,
            last_keys: Arc::default(),
        }
    }

    fn node(address: &str, ready: &str, heartbeat: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1"},
            "status": {
                "addresses": [{"type": "InternalIP", "address": address}],
                "conditions": [{"type": "Ready", "status": ready,
                    "lastHeartbeatTime": heartbeat, "message": heartbeat}],
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_nodes_heartbeat_wakes_nobody_its_readiness_and_addresses_do() {
        let (reader, mut writer) = store::<Node>();
        let relevant = node_relevance();
        let first = Event::Apply(node("198.51.100.3", "True", "2026-12-06T10:00:00Z"));
        assert!(relevant(&reader, &first), "a new Node");
        writer.apply(&first);
        let heartbeat = Event::Apply(node("198.51.100.3", "True", "2026-12-06T10:00:05Z"));
        assert!(!relevant(&reader, &heartbeat), "a heartbeat");
        let not_ready = Event::Apply(node("198.51.100.3", "False", "2026-12-06T10:00:05Z"));
        assert!(relevant(&reader, &not_ready), "not ready");
        let moved = Event::Apply(node("198.51.100.4", "True", "2026-12-06T10:00:00Z"));
        assert!(relevant(&reader, &moved), "its address changed");
        let mut labelled = node("198.51.100.3", "True", "2026-12-06T10:00:00Z");
        labelled
            .metadata
            .labels
            .get_or_insert_default()
            .insert("zone".into(), "b".into());
        assert!(relevant(&reader, &Event::Apply(labelled)), "labelled");
        assert!(relevant(
            &reader,
            &Event::Delete(node("198.51.100.3", "True", "2026-12-06T10:00:00Z"))
        ));
    }

    #[test]
    fn a_proof_verified_in_one_snapshot_is_remembered_in_the_next() {
        let stores = stores_with_keys(&testing::verify_keys());
        let svc = testing::signed(
            serde_json::from_value(json!({
                "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}},
            }))
            .unwrap(),
            1,
        );
        let first = stores.objects().proof_keys;
        assert!(!first.is_empty());
        first.verify_service(&svc).unwrap();
        assert_eq!(first.remembered(), 1);
        assert_eq!(stores.objects().proof_keys.remembered(), 1);
    }

    /// What concerns the binary in these tests: a label.
    fn labelled() -> Concerns<Service> {
        Arc::new(|svc: &Service, _: &ObjectStore<VIPPool>| {
            svc.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("concerns"))
        })
    }

    fn service(name: &str, concerns: bool) -> Service {
        let labels = if concerns {
            json!({"concerns": ""})
        } else {
            json!({})
        };
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "labels": labels},
        }))
        .unwrap()
    }

    fn slice(service: Option<&str>) -> NodeSlice {
        let labels = match service {
            Some(s) => json!({"kubernetes.io/service-name": s}),
            None => json!({}),
        };
        serde_json::from_value(json!({
            "metadata": {"name": "slice", "namespace": "shop", "labels": labels},
            "addressType": "IPv4", "endpoints": [],
        }))
        .unwrap()
    }

    /// A Service's change notifies when the Service concerns the binary before or after it;
    /// an EndpointSlice's when its Service (as stored) does.
    #[test]
    fn only_changes_of_services_that_concern_the_binary_notify() {
        let (services, mut writer) = store::<Service>();
        let pools = store::<VIPPool>().0;
        let relevant = service_relevance(labelled(), pools.clone());
        assert!(!relevant(&services, &Event::Apply(service("a", false))));
        assert!(relevant(&services, &Event::Apply(service("a", true))));
        writer.apply(&Event::Apply(service("a", true)));
        assert!(
            relevant(&services, &Event::Apply(service("a", false))),
            "it concerned the binary before"
        );
        assert!(relevant(&services, &Event::Delete(service("a", false))));
        assert!(relevant(&services, &Event::InitDone));
        writer.apply(&Event::Apply(service("b", false)));
        assert!(!relevant(&services, &Event::Delete(service("b", false))));

        let slices = store::<NodeSlice>().0;
        let relevant = slice_relevance(services.clone(), pools, labelled());
        assert!(relevant(&slices, &Event::Apply(slice(Some("a")))));
        assert!(relevant(&slices, &Event::Delete(slice(Some("a")))));
        assert!(!relevant(&slices, &Event::Apply(slice(Some("b")))));
        assert!(!relevant(&slices, &Event::Apply(slice(Some("gone")))));
        assert!(!relevant(&slices, &Event::Apply(slice(None))));
    }

    /// A VIPPool's status alone (the controller's counts) notifies nothing; its spec, labels
    /// or deletion do.
    #[test]
    fn a_pool_notifies_unless_only_its_status_changed() {
        let pool = |cidr: &str, allocated: i64, labels: serde_json::Value| -> VIPPool {
            serde_json::from_value(json!({
                "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
                "metadata": {"name": "blue", "uid": "u1", "labels": labels},
                "spec": {"addresses": [cidr]},
                "status": {"used": allocated.to_string()},
            }))
            .unwrap()
        };
        let (pools, mut writer) = store::<VIPPool>();
        let relevant = pool_relevance();
        let first = pool("192.0.2.0/28", 1, json!({}));
        assert!(relevant(&pools, &Event::Apply(first.clone())), "a new pool");
        writer.apply(&Event::Apply(first.clone()));
        assert!(!relevant(
            &pools,
            &Event::Apply(pool("192.0.2.0/28", 2, json!({})))
        ));
        assert!(relevant(
            &pools,
            &Event::Apply(pool("192.0.2.0/27", 1, json!({})))
        ));
        assert!(relevant(
            &pools,
            &Event::Apply(pool("192.0.2.0/28", 1, json!({"tier": "a"})))
        ));
        assert!(relevant(&pools, &Event::Delete(first)));
    }
}
