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
use foldhash::fast::RandomState;
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
    /// Sorted by Service (a list of exact size rather than a map by address: a map keeps
    /// about a third of its slots empty); an entry is found by its Service's key, then
    /// checked to be of the same object.
    services: Vec<ServiceEntry>,
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
    /// Per address in address order, the rows whose election inputs name it (in row
    /// order): a sorted list, read in step with the next election's addresses.
    wanted_by: Vec<(IpAddr, Box<[Arc<Row>]>)>,
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
    /// The Service they were computed from (kept alive, so that its address is not reused
    /// while the entry lives). Its key ([`service::key_parts`]) orders the entries; the kept row holds
    /// it as a [`ServiceKey`](ferrolb_core::ServiceKey), not the entry.
    svc: Arc<Service>,
    /// `None`: no ingress address.
    claim: Option<Arc<ServiceClaim>>,
    /// The row, with the inputs it was computed from besides the Service.
    row: Option<KeptRow>,
}

#[derive(Debug)]
struct KeptRow {
    /// The Service's EndpointSlices.
    slices: Box<[Arc<NodeSlice>]>,
    /// The addresses it lost to other Services' newer proofs ([`losses`]).
    lost: Option<Box<[(IpAddr, String)]>>,
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
        // A Service whose entry is in the last list (of the same object) keeps it, in the
        // list's order (by Service); the others get new entries, sorted, then merged in.
        let mut claimed = vec![false; last.len()];
        let mut added: Vec<ServiceEntry> = Vec::new();
        for svc in services {
            let (namespace, name) = service::key_parts(svc);
            let found = last
                .binary_search_by(|e| service::key_parts(&e.svc).cmp(&(namespace, name)))
                .ok()
                .filter(|&i| last.get(i).is_some_and(|e| Arc::ptr_eq(&e.svc, svc)));
            match found.and_then(|i| claimed.get_mut(i)).filter(|c| !**c) {
                Some(claim) => *claim = true,
                None => added.push(ServiceEntry {
                    svc: Arc::clone(svc),
                    claim: ServiceClaim::judge(svc, pools, keys, OUTCOME).map(Arc::new),
                    row: None,
                }),
            }
        }
        added.sort_by(|a, b| service::key_parts(&a.svc).cmp(&service::key_parts(&b.svc)));
        let mut added = added.into_iter().peekable();
        let mut entries: Vec<ServiceEntry> = Vec::with_capacity(services.len());
        for kept in last
            .into_iter()
            .zip(claimed)
            .filter_map(|(entry, claimed)| claimed.then_some(entry))
        {
            while let Some(new) =
                added.next_if(|a| service::key_parts(&a.svc) < service::key_parts(&kept.svc))
            {
                entries.push(new);
            }
            entries.push(kept);
        }
        entries.extend(added);
        let lost = losses(entries.iter().filter_map(|e| e.claim.as_deref()), OUTCOME);
        let by_service = slices_by_service(slices);
        let no_slices = Vec::new();
        let mut rows = Vec::with_capacity(entries.len());
        self.services = Vec::with_capacity(entries.len());
        for mut entry in entries {
            let slices = by_service
                .get(&service::key_parts(&entry.svc))
                .unwrap_or(&no_slices);
            // The key of a Service seen before is its row's; a new one's is made once.
            let new_key;
            let key = match &entry.row {
                Some(kept) => &kept.row.key,
                None => {
                    new_key = service::key(&entry.svc);
                    &new_key
                }
            };
            let lost = lost.get(key);
            // The claim is the entry's own (kept with the Service), so the settled allocation
            // is the same while the losses are.
            let fresh = entry.row.as_ref().is_some_and(|k| {
                k.lost.as_deref() == lost.map(Vec::as_slice)
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
                let computed = row(key.clone(), &entry.svc, &inputs);
                entry.row = Some(KeptRow {
                    slices: slices.as_slice().into(),
                    lost: lost.map(|l| l.as_slice().into()),
                    row: Arc::new(computed),
                });
            }
            if let Some(kept) = &entry.row {
                rows.push(Arc::clone(&kept.row));
            }
            // In Service order, as sorted above.
            self.services.push(entry);
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
        // Pushed in address order, then collected: built in bulk, the map's nodes are full.
        let mut per_ip = Vec::with_capacity(wanted.len());
        let mut wanted_by = Vec::with_capacity(wanted.len());
        // The last election's addresses, walked along with this one's (both in order).
        let mut then_wanted = last
            .as_ref()
            .map_or(&[][..], |k| k.wanted_by.as_slice())
            .iter()
            .peekable();
        for (ip, wanting) in wanted {
            while then_wanted.next_if(|(then_ip, _)| *then_ip < ip).is_some() {}
            let then = then_wanted.next_if(|(then_ip, _)| *then_ip == ip);
            let kept = last.as_ref().zip(then).and_then(|(k, (_, then))| {
                let same = then.len() == wanting.len()
                    && then
                        .iter()
                        .zip(&wanting)
                        .all(|(a, (b, _))| Arc::ptr_eq(a, b));
                same.then(|| k.result.per_ip.get(&ip)).flatten()
            });
            let decision = match kept {
                Some(d) => Arc::clone(d),
                None => {
                    let sharing: Vec<&VipInput> = wanting.iter().map(|(_, v)| *v).collect();
                    Arc::new(electorate.decide(ip, &sharing))
                }
            };
            per_ip.push((ip, decision));
            wanted_by.push((
                ip,
                wanting.into_iter().map(|(r, _)| Arc::clone(r)).collect(),
            ));
        }
        let result = Arc::new(Election {
            per_ip: per_ip.into_iter().collect(),
        });
        self.election = Some(KeptElection {
            nodes: nodes.to_vec(),
            policies: policies.to_vec(),
            result: Arc::clone(&result),
            wanted_by,
        });
        result
    }
}

/// EndpointSlices by Service (namespace, name); built every step over every slice, so with a
/// fast hasher (what the map holds never depends on its order).
type SlicesByService<'a> = HashMap<(&'a str, &'a str), Vec<Arc<NodeSlice>>, RandomState>;

/// The EndpointSlices of each Service (by namespace and the `kubernetes.io/service-name`
/// label), each list in the order of the slices' addresses so that it compares as a set.
fn slices_by_service(slices: &[Arc<NodeSlice>]) -> SlicesByService<'_> {
    let mut out = SlicesByService::with_capacity_and_hasher(slices.len(), RandomState::default());
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
