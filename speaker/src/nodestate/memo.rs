//! What one step keeps for the next, so that a step costs what changed (issue 21), not the
//! size of the cluster.
//!
//! The reflectors hand out the same `Arc` for an object that did not change, so the
//! per-Service work of [`desired_before_rules_with`](super::desired_before_rules_with) is kept
//! by object identity:
//! - a Service's own claim on its addresses ([`ServiceClaim`]: the proof verified, the pools
//!   named), while the Service, the pools and the proof keys stay the same;
//! - a Service's [`Row`], while the Service, its EndpointSlices, its settled allocation and
//!   the pools, keys and node stay the same;
//! - an address's election decision, while the rows that want it announced and the nodes and
//!   policies stay the same.
//!
//! Each entry holds the `Arc`s it was computed from, so an address cannot be reused by another
//! object while the entry lives, and entries of objects gone from the snapshot are dropped at
//! the end of each step. What the memo holds never changes the result: a step with it equals
//! the step without it (`tests/memo.rs`).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_adapter::allocations::{Allocation, ServiceClaim, losses};
use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::proof::VerifyKeys;
use ferrolb_adapter::service;
use ferrolb_adapter::slice::NodeSlice;
use ferrolb_core::ServiceKey;
use k8s_openapi::api::core::v1::Service;

use crate::election::{Election, Electorate, L2Policy, NodeView, VipInput};

use super::basis::Basis;
use super::row::{Row, RowInputs, row};

/// What the refusals of a speaker end with.
pub const OUTCOME: &str = "never announced";

/// The per-Service results of the last step, by object identity. Empty by default: a step
/// with an empty memo computes everything.
#[derive(Debug, Default)]
pub struct StepMemo {
    /// What every entry also depends on; any change empties the memo.
    context: Option<Context>,
    /// By the address of the Service.
    services: HashMap<usize, ServiceEntry>,
    /// The last election, with the rows that wanted each address.
    election: Option<KeptElection>,
    /// What the last step's desired state was computed from.
    basis: Option<Arc<Basis>>,
}

/// The last election and its inputs.
#[derive(Debug)]
struct KeptElection {
    nodes: Vec<NodeView>,
    policies: Vec<L2Policy>,
    result: Arc<Election>,
    /// Per address, the rows whose election inputs name it (in row order).
    wanted_by: HashMap<IpAddr, Vec<Arc<Row>>>,
}

/// What every entry depends on besides its own objects.
#[derive(Debug, PartialEq)]
struct Context {
    pools: Pools,
    keys: VerifyKeys,
    node: String,
}

/// One Service's kept results.
#[derive(Debug)]
struct ServiceEntry {
    /// The Service they were computed from (kept alive: its address is the key).
    svc: Arc<Service>,
    key: ServiceKey,
    /// `None`: no ingress address.
    claim: Option<Arc<ServiceClaim>>,
    /// The row, with the inputs it was computed from besides the Service.
    row: Option<KeptRow>,
}

#[derive(Debug)]
struct KeptRow {
    /// The Service's EndpointSlices.
    slices: Vec<Arc<NodeSlice>>,
    /// The addresses it lost to other Services' newer proofs ([`losses`]).
    lost: Option<Vec<(IpAddr, String)>>,
    row: Arc<Row>,
}

impl StepMemo {
    /// What the last step's desired state was computed from (`None` before the first).
    pub fn basis(&self) -> Option<&Basis> {
        self.basis.as_deref()
    }

    /// Keeps `basis` as the last step's.
    pub(super) fn keep_basis(&mut self, basis: Arc<Basis>) {
        self.basis = Some(basis);
    }

    /// Every Service's row over `services` and `slices`, sorted by Service (rows with nothing
    /// for the speaker included), computing only what changed since the last call; forgets the
    /// Services that are gone.
    pub fn rows(
        &mut self,
        services: &[Arc<Service>],
        slices: &[Arc<NodeSlice>],
        pools: &Pools,
        keys: &VerifyKeys,
        node: &str,
    ) -> Vec<Arc<Row>> {
        let same_context = self
            .context
            .as_ref()
            .is_some_and(|c| c.node == node && c.pools == *pools && c.keys == *keys);
        let mut last = std::mem::take(&mut self.services);
        if !same_context {
            last.clear();
            self.context = Some(Context {
                pools: pools.clone(),
                keys: keys.clone(),
                node: node.to_string(),
            });
        }
        let mut entries: Vec<ServiceEntry> = services
            .iter()
            .map(|svc| {
                let id = Arc::as_ptr(svc) as usize;
                match last.remove(&id) {
                    Some(kept) => kept,
                    None => ServiceEntry {
                        svc: Arc::clone(svc),
                        key: service::key(svc),
                        claim: ServiceClaim::judge(svc, pools, keys, OUTCOME).map(Arc::new),
                        row: None,
                    },
                }
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let lost = losses(entries.iter().filter_map(|e| e.claim.as_deref()), OUTCOME);
        let by_service = slices_by_service(slices);
        let no_slices = Vec::new();
        let mut rows = Vec::with_capacity(entries.len());
        for mut entry in entries {
            let slices = by_service
                .get(&(entry.key.namespace.as_str(), entry.key.name.as_str()))
                .unwrap_or(&no_slices);
            let lost = lost.get(&entry.key);
            // The claim is the entry's own (kept with the Service), so the settled allocation
            // is the same while the losses are.
            let fresh = entry.row.as_ref().is_some_and(|k| {
                k.lost.as_ref() == lost
                    && k.slices.len() == slices.len()
                    && k.slices.iter().zip(slices).all(|(a, b)| Arc::ptr_eq(a, b))
            });
            if !fresh {
                let claim = entry.claim.as_deref();
                let allocation: Vec<Allocation> =
                    claim.map(|c| c.settled(lost)).unwrap_or_default();
                let proven = claim.is_some_and(ServiceClaim::is_proven);
                let inputs = RowInputs {
                    slices,
                    allocation: &allocation,
                    proven,
                    pools,
                    keys,
                    node,
                };
                let computed = row(entry.key.clone(), &entry.svc, &inputs);
                entry.row = Some(KeptRow {
                    slices: slices.clone(),
                    lost: lost.cloned(),
                    row: Arc::new(computed),
                });
            }
            if let Some(kept) = &entry.row {
                rows.push(Arc::clone(&kept.row));
            }
            self.services
                .insert(Arc::as_ptr(&entry.svc) as usize, entry);
        }
        // What is left in `last` is of Services gone: dropped here.
        rows
    }

    /// The election over `rows`' inputs ([`elect`](fn@crate::election::elect)), deciding again
    /// only the addresses whose rows changed since the last call (all of them when `nodes` or
    /// `policies` changed).
    pub fn elect(
        &mut self,
        rows: &[Arc<Row>],
        nodes: &[NodeView],
        policies: &[L2Policy],
    ) -> Arc<Election> {
        let last = self
            .election
            .take()
            .filter(|k| k.nodes == nodes && k.policies == policies);
        let mut wanted: BTreeMap<IpAddr, Vec<(&Arc<Row>, &VipInput)>> = BTreeMap::new();
        for row in rows {
            for vip in &row.vip_inputs {
                wanted.entry(vip.ip).or_default().push((row, vip));
            }
        }
        let electorate = Electorate::new(nodes, policies);
        let mut per_ip = BTreeMap::new();
        let mut wanted_by = HashMap::with_capacity(wanted.len());
        for (ip, wanting) in wanted {
            let kept = last.as_ref().and_then(|k| {
                let then = k.wanted_by.get(&ip)?;
                let same = then.len() == wanting.len()
                    && then
                        .iter()
                        .zip(&wanting)
                        .all(|(a, (b, _))| Arc::ptr_eq(a, b));
                same.then(|| k.result.per_ip.get(&ip)).flatten()
            });
            let decision = match kept {
                Some(d) => d.clone(),
                None => {
                    let sharing: Vec<&VipInput> = wanting.iter().map(|(_, v)| *v).collect();
                    electorate.decide(ip, &sharing)
                }
            };
            per_ip.insert(ip, decision);
            wanted_by.insert(
                ip,
                wanting.into_iter().map(|(r, _)| Arc::clone(r)).collect(),
            );
        }
        let result = Arc::new(Election { per_ip });
        self.election = Some(KeptElection {
            nodes: nodes.to_vec(),
            policies: policies.to_vec(),
            result: Arc::clone(&result),
            wanted_by,
        });
        result
    }
}

/// The EndpointSlices of each Service (by namespace and the `kubernetes.io/service-name`
/// label), each list in the order of the slices' addresses so that it compares as a set.
fn slices_by_service(slices: &[Arc<NodeSlice>]) -> HashMap<(&str, &str), Vec<Arc<NodeSlice>>> {
    let mut out: HashMap<(&str, &str), Vec<Arc<NodeSlice>>> = HashMap::new();
    for slice in slices {
        let Some(service) = &slice.service else {
            continue;
        };
        out.entry((slice.namespace.as_str(), service.as_str()))
            .or_default()
            .push(Arc::clone(slice));
    }
    for list in out.values_mut() {
        list.sort_by_key(|s| Arc::as_ptr(s) as usize);
    }
    out
}
