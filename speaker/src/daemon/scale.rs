//! The speaker's memory at scale without a lab (issue 21): a realistic cluster of N
//! LoadBalancer Services ([`World`]) and what the daemon keeps after a step over it
//! ([`Kept`]), for the heap harness (`examples/heap.rs`, `cargo xtask bench speaker-heap`) and
//! the growth test. No I/O.
//!
//! The objects are what the apiserver returns for the speaker benchmark's Services (single-stack
//! IPv6, one port, no NodePorts, one endpoint pod on node-a, a signed allocation), parsed from
//! JSON text and trimmed as the reflectors do ([`ferrolb_adapter::reflect::trim`]), so their
//! strings are owned as in the daemon. [`Kept::step`] runs the loop's step and apply as
//! `cycle.rs` does and keeps what the daemon keeps until the next step: the stores, `Applied`,
//! the values of the watch channels (announcer, dataplane, publisher, health API) and the
//! dataplane applier's last ruleset.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrolb_adapter::proof::{Claim, SigningKey, VerifyKeys};
use ferrolb_adapter::reflect::trim;
use ferrolb_adapter::stores::ServiceObjects;
use ferrolb_api::ServiceAnnouncement;
use ferrolb_api::names::{ANN_ALLOCATED_FROM, ANN_ALLOCATION_PROOF};
use ferrolb_core::names::{MANAGER_CONTROLLER, MANAGER_SPEAKER};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::announcer;
use crate::dataplane::{Decision, Mode};
use crate::election::InterfaceView;
use crate::health::HealthSnapshot;
use crate::membership::{Member, Members};
use crate::nodestate::{self, Local, Snapshot};
use crate::ruleset::Ruleset;

use super::announced::Announced;
use super::cycle::{self, Applied};
use super::observed::Observed;
use super::publish::Batch;
use super::rules::{RulesStatus, Wanted};

/// The nodes of the cluster; the endpoint pods run on the first, which the step is computed for.
pub const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];
/// The namespace of the Services.
pub const NAMESPACE: &str = "bench-speaker";
const POOL: &str = "scale";

/// Why a world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// No signing key.
    #[error("signing key: {0}")]
    Key(String),
    /// An object did not parse.
    #[error("object: {0}")]
    Json(#[from] serde_json::Error),
}

/// The watched objects of a cluster with N Services, as the reflectors hold them.
pub struct World {
    /// Services, EndpointSlices, Nodes, the VIPPool and the L2AnnouncementPolicy.
    pub snapshot: Snapshot,
    /// One `ServiceAnnouncement` per Service, written by node-a.
    pub announcements: Vec<Arc<Announced>>,
}

impl World {
    /// `services` Services `s00000`, `s00001`, ... with their objects.
    pub fn new(services: usize) -> Result<World, ScaleError> {
        let key = SigningKey::generate().map_err(ScaleError::Key)?;
        let mut keys = VerifyKeys::default();
        keys.insert(key.public_key());
        let mut svcs = Vec::with_capacity(services);
        let mut slices = Vec::with_capacity(services);
        let mut announcements = Vec::with_capacity(services);
        for i in 0..services {
            let name = format!("s{i:05}");
            let ip = format!("2001:db8:100::3:{:x}", i + 1);
            let mut svc = service_json(&name, i, &ip);
            let parsed: k8s_openapi::api::core::v1::Service = serde_json::from_value(svc.clone())?;
            let proof = key.sign(&Claim::of(&parsed), 1_767_225_600).render();
            svc["metadata"]["annotations"][ANN_ALLOCATION_PROOF] = json!(proof);
            svcs.push(kept(&svc)?);
            slices.push(kept(&slice_json(&name, i))?);
            announcements.push(kept_announcement(&announcement_json(&name, i, &ip))?);
        }
        let nodes = NODES
            .iter()
            .enumerate()
            .map(|(i, n)| reflected(&node_json(n, i), whole))
            .collect::<Result<_, _>>()?;
        let pool = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
            "metadata": meta(POOL, None, 0), "spec": {"addresses": ["2001:db8:100::3:0/112"]}});
        let l2 = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
            "metadata": meta(POOL, None, 1), "spec": {"ipPools": [POOL]}});
        Ok(World {
            snapshot: Snapshot {
                objects: ServiceObjects {
                    services: svcs,
                    slices,
                    nodes,
                    pools: vec![reflected(&pool, whole)?],
                    proof_keys: keys,
                },
                l2: vec![reflected(&l2, whole)?],
            },
            announcements,
        })
    }

    /// Service `i`'s EndpointSlice replaced by a new object (as a watch event replaces it)
    /// that gains a second endpoint (pod `scale-b` on node-b).
    pub fn change_slice(&mut self, i: usize) -> Result<(), ScaleError> {
        let n = self.snapshot.objects.slices.len();
        if n == 0 {
            return Ok(());
        }
        let i = i % n;
        let mut slice = slice_json(&format!("s{i:05}"), i);
        slice["endpoints"]
            .as_array_mut()
            .into_iter()
            .for_each(|eps| {
                eps.push(json!({"addresses": ["fd00:10:244::b"],
                "nodeName": NODES[1], "conditions": {"ready": true, "serving": true,
                "terminating": false}, "targetRef": {"kind": "Pod", "namespace": NAMESPACE,
                "name": "scale-b", "uid": "7f3c1e8a-0000-4000-8000-000000000002"}}))
            });
        self.snapshot.objects.slices[i] = kept(&slice)?;
        Ok(())
    }

    /// What node-a's speaker knows besides the objects: every speaker alive with `eth0`.
    pub fn local(&self, since: nodestate::Since) -> Local {
        let interfaces_of: BTreeMap<String, Vec<InterfaceView>> = NODES
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), vec![eth0(i)]))
            .collect();
        Local {
            node: NODES[0].to_string(),
            interfaces: vec![eth0(0)],
            live_speakers: NODES.iter().map(|n| n.to_string()).collect(),
            interfaces_of,
            dataplane: true,
            since,
            now: Time(k8s_openapi::jiff::Timestamp::from_second(1_767_225_600).unwrap_or_default()),
        }
    }
}

/// The two parts of a step's time: the desired state before the ruleset (what the announcer
/// waits for), then the ruleset.
#[derive(Debug, Clone, Copy)]
pub struct StepTiming {
    /// `nodestate::desired_before_rules`.
    pub desired: Duration,
    /// `NodeDesired::build_rules`.
    pub rules: Duration,
}

/// What the daemon keeps between two steps.
pub struct Kept {
    /// How long this step took.
    timing: StepTiming,
    /// `Applied` of `cycle.rs`.
    applied: Applied,
    /// The announcer's channel value.
    announce: announcer::Desired,
    /// The dataplane task's channel value.
    _wanted: Wanted,
    /// The publisher's channel value.
    _batch: Arc<Batch>,
    /// The health API's channel value.
    health: Arc<HealthSnapshot>,
    /// The dataplane applier's last ruleset (`Applier::sync_shared`).
    _applier: Option<Arc<Ruleset>>,
    /// The loop's step memo (`Speaker::memo`).
    memo: nodestate::StepMemo,
}

impl Kept {
    /// One step over `world` after `last` (`None`: the first), applied as `cycle.rs` does;
    /// the step memo moves from `last` to the new one.
    pub fn step(world: &World, last: Option<&mut Kept>) -> Kept {
        let since = last
            .as_ref()
            .map(|l| l.applied.desired.publication.since.clone())
            .unwrap_or_default();
        let mut memo = last
            .map(|l| std::mem::take(&mut l.memo))
            .unwrap_or_default();
        let local = world.local(since);
        let started = Instant::now();
        let mut desired = nodestate::desired_before_rules_with(&world.snapshot, &local, &mut memo);
        let desired_done = Instant::now();
        let announce = desired.announce.clone();
        desired.build_rules();
        let timing = StepTiming {
            desired: desired_done - started,
            rules: desired_done.elapsed(),
        };
        let desired = Arc::new(desired);
        let wanted = Wanted::from_desired(desired.rules.ruleset.as_ref());
        let current = world.announcements.clone();
        let batch = Arc::new(cycle::batch(
            &desired,
            &world.snapshot.objects.services,
            &current,
        ));
        let members = members();
        let decision = decision();
        let status = RulesStatus::default();
        let observed = Observed {
            dataplane: (&decision).into(),
            gossip: members.debug_json(),
            rules: (&status).into(),
            failing_watches: ferrolb_adapter::reflect::FailingWatches,
        };
        let applied = Applied {
            desired,
            current,
            services: world.snapshot.objects.services.clone(),
            observed: observed.clone(),
            serve_node_ports: decision.enabled,
        };
        let health = Arc::new(cycle::health_snapshot(&applied, observed, status));
        let applier = match &wanted {
            Wanted::Rules(r) => Some(Arc::clone(r)),
            _ => None,
        };
        Kept {
            timing,
            applied,
            announce,
            _wanted: wanted,
            _batch: batch,
            health,
            _applier: applier,
            memo,
        }
    }

    /// How long the step took.
    pub fn timing(&self) -> StepTiming {
        self.timing
    }

    /// How long the dataplane's diff from `earlier`'s ruleset to this step's takes (the
    /// update script's text), `None` without both rulesets.
    pub fn rules_diff_since(&self, earlier: &Kept) -> Option<Duration> {
        let (old, new) = (earlier._applier.as_ref()?, self._applier.as_ref()?);
        let started = Instant::now();
        let _ = new.to_nft_update_script(old);
        Some(started.elapsed())
    }

    /// Addresses node-a announces.
    pub fn announced(&self) -> usize {
        self.announce.values().map(BTreeSet::len).sum()
    }

    /// The `/debug/state` document's size in bytes (rendered on request, not kept).
    pub fn debug_state_bytes(&self) -> usize {
        self.health
            .debug_state
            .to_json_pretty()
            .map_or(0, |s| s.len())
    }
}

/// Parses `value` from its JSON text, trims and projects it, as the reflector of its kind
/// (`watches.rs`, [`ServiceStores`](ferrolb_adapter::stores::ServiceStores)) stores it.
fn reflected<K: Resource + DeserializeOwned>(
    value: &Value,
    project: fn(&mut K),
) -> Result<Arc<K>, ScaleError> {
    let text = serde_json::to_vec(value)?;
    let mut object: K = serde_json::from_slice(&text)?;
    trim(&mut object);
    project(&mut object);
    Ok(Arc::new(object))
}

/// Parses a `ServiceAnnouncement` from its JSON text into what the reflector keeps of it.
fn kept_announcement(value: &Value) -> Result<Arc<Announced>, ScaleError> {
    let text = serde_json::to_vec(value)?;
    let object: ServiceAnnouncement = serde_json::from_slice(&text)?;
    Ok(Arc::new(Announced::from(object)))
}

/// Parses a Service or an EndpointSlice from its JSON text into what the reflector keeps of it
/// ([`NodeService`](ferrolb_adapter::node_service::NodeService),
/// [`NodeSlice`](ferrolb_adapter::slice::NodeSlice)).
fn kept<P: DeserializeOwned>(value: &Value) -> Result<Arc<P>, ScaleError> {
    let text = serde_json::to_vec(value)?;
    Ok(Arc::new(serde_json::from_slice(&text)?))
}

fn whole<K>(_: &mut K) {}

/// Metadata as the apiserver returns it: uid, resourceVersion, generation, creation time.
fn meta(name: &str, namespace: Option<&str>, i: usize) -> Value {
    let mut m = json!({
        "name": name, "uid": format!("0d4e7c2a-5b1f-4c3e-9a7d-{i:012x}"),
        "resourceVersion": format!("{}", 100_000 + i), "generation": 1,
        "creationTimestamp": "2026-01-01T00:00:00Z",
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// A managedFields entry of `manager` on the status subresource.
fn status_entry(manager: &str, fields: Value) -> Value {
    json!({"manager": manager, "operation": "Apply", "apiVersion": "v1",
        "time": "2026-01-01T00:00:01Z", "subresource": "status",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:status": fields}})
}

fn service_json(name: &str, i: usize, ip: &str) -> Value {
    let mut metadata = meta(name, Some(NAMESPACE), i);
    metadata["annotations"] = json!({ANN_ALLOCATED_FROM: POOL});
    metadata["finalizers"] = json!(["service.kubernetes.io/load-balancer-cleanup"]);
    let condition = json!({"k:{\"type\":\"ferrolb.io/Allocated\"}": {".": {},
        "f:lastTransitionTime": {}, "f:message": {}, "f:observedGeneration": {}, "f:reason": {},
        "f:status": {}, "f:type": {}}});
    metadata["managedFields"] = json!([
        // Other managers' entries (kubectl, the service controller) are trimmed away.
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
         "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {"f:ports": {}, "f:selector": {}, "f:type": {}}}},
        {"manager": MANAGER_CONTROLLER, "operation": "Apply", "apiVersion": "v1",
         "time": "2026-01-01T00:00:01Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {
            format!("f:{ANN_ALLOCATED_FROM}"): {}, format!("f:{ANN_ALLOCATION_PROOF}"): {}},
            "f:finalizers": {"v:\"service.kubernetes.io/load-balancer-cleanup\"": {}}}}},
        status_entry(MANAGER_CONTROLLER, json!({
            "f:conditions": condition,
            "f:loadBalancer": {"f:ingress": {}},
        })),
    ]);
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": metadata,
        "spec": {
            "type": "LoadBalancer", "selector": {"app": "scale"},
            "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 9376}],
            "clusterIP": format!("fd00:10:96::{:x}", i + 16),
            "clusterIPs": [format!("fd00:10:96::{:x}", i + 16)],
            "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
            "allocateLoadBalancerNodePorts": false, "sessionAffinity": "None",
            "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]},
            "conditions": [{"type": "ferrolb.io/Allocated", "status": "True",
                "reason": "Allocated", "observedGeneration": 1,
                "lastTransitionTime": "2026-01-01T00:00:01Z",
                "message": format!("{ip} from pool {POOL}")}],
        },
    })
}

fn slice_json(service: &str, i: usize) -> Value {
    let mut metadata = meta(&format!("{service}-{:05x}", i), Some(NAMESPACE), i);
    metadata["generateName"] = json!(format!("{service}-"));
    metadata["labels"] = json!({"kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"});
    metadata["annotations"] =
        json!({"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T00:00:00Z"});
    metadata["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Service", "name": service,
        "uid": format!("0d4e7c2a-5b1f-4c3e-9a7d-{i:012x}"), "controller": true,
        "blockOwnerDeletion": true}]);
    metadata["managedFields"] = json!([{"manager": "kube-controller-manager",
        "operation": "Update", "apiVersion": "discovery.k8s.io/v1",
        "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:addressType": {}, "f:endpoints": {}, "f:ports": {}}}]);
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": metadata,
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["fd00:10:244::a"], "nodeName": NODES[0],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": "scale-a",
                "uid": "7f3c1e8a-0000-4000-8000-000000000001"}}],
        "ports": [{"name": "p80", "port": 9376, "protocol": "TCP"}],
    })
}

fn announcement_json(service: &str, i: usize, ip: &str) -> Value {
    let mut metadata = meta(service, Some(NAMESPACE), i);
    metadata["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Service", "name": service,
        "uid": format!("0d4e7c2a-5b1f-4c3e-9a7d-{i:012x}"), "controller": true}]);
    metadata["managedFields"] = json!([status_entry(
        MANAGER_SPEAKER,
        json!({
        "f:announcements": {}})
    )]);
    json!({
        "apiVersion": "ferrolb.io/v1alpha1", "kind": "ServiceAnnouncement", "metadata": metadata,
        "spec": {"serviceName": service},
        "status": {"announcements": [{"ip": ip, "kind": "LoadBalancerIP", "node": NODES[0],
            "interfaces": ["eth0"], "since": "2026-01-01T00:00:00Z",
            "reason": "elected among 3 eligible nodes"}]},
    })
}

fn node_json(name: &str, i: usize) -> Value {
    let mut metadata = meta(name, None, i);
    metadata["labels"] = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
    json!({
        "apiVersion": "v1", "kind": "Node", "metadata": metadata,
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": format!("2001:db8:100::{}", i + 11)},
                          {"type": "Hostname", "address": name}],
        },
    })
}

fn eth0(i: usize) -> InterfaceView {
    let subnet = format!("2001:db8:100::{}/64", i + 11);
    InterfaceView::ethernet("eth0", subnet.parse().into_iter().collect())
}

fn members() -> Members {
    Members {
        local: NODES[0].to_string(),
        nodes: NODES
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let member = Member {
                    addr: std::net::SocketAddr::new(
                        std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 11 + i as u16)
                            .into(),
                        7946,
                    ),
                    alive: true,
                    interfaces: vec![eth0(i)],
                };
                (n.to_string(), member)
            })
            .collect(),
    }
}

fn decision() -> Decision {
    Decision {
        mode: Mode::Nftables,
        enabled: true,
        reason: "--dataplane=nftables".to_string(),
        since: SystemTime::UNIX_EPOCH,
        kube_proxy: None,
        takeover_at: None,
    }
}
