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
//!   policies stay the same;
//! - a Service's [`AnnouncementPlan`], while its row stays the same and the election kept the
//!   decision of every address the plan reads.
//!
//! Each entry holds the `Arc`s it was computed from, so an address cannot be reused by another
//! object while the entry lives, and entries of objects gone from the snapshot are dropped at
//! the end of each step. What the memo holds never changes the result: a step with it equals
//! the step without it (`tests/memo.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_adapter::allocations::{Allocation, ServiceClaim, losses};
use ferrolb_adapter::node_service::NodeService;
use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::proof::VerifyKeys;
use ferrolb_adapter::slice::NodeSlice;
use foldhash::fast::RandomState;

use crate::election::{Election, Electorate, L2Policy, NodeView, SharedParts, VipInput};

use super::basis::Basis;
use super::plan::{self, AnnouncementPlan};
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
    /// The last step's plans with the rows they were made from, sorted by Service.
    plans: Vec<(Arc<Row>, Arc<AnnouncementPlan>)>,
    /// The addresses the last election decided again (sorted); `None`: all of them.
    redecided: Option<Vec<IpAddr>>,
    /// The lists and texts the kept decisions share, for the next election's.
    shared: SharedParts,
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
    /// while the entry lives). Its key ([`NodeService::key_parts`]) orders the entries; the kept row holds
    /// it as a [`ServiceKey`](ferrolb_core::ServiceKey), not the entry.
    svc: Arc<NodeService>,
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
        services: &[Arc<NodeService>],
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
            self.plans.clear();
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
        // The last entries by the address of their Service (kept alive by the entry, so no
        // other object has it): found without comparing names.
        let position: HashMap<*const NodeService, usize, RandomState> = last
            .iter()
            .enumerate()
            .map(|(i, e)| (Arc::as_ptr(&e.svc), i))
            .collect();
        for svc in services {
            let found = position.get(&Arc::as_ptr(svc)).copied();
            match found.and_then(|i| claimed.get_mut(i)).filter(|c| !**c) {
                Some(claim) => *claim = true,
                None => added.push(ServiceEntry {
                    svc: Arc::clone(svc),
                    claim: ServiceClaim::judge_keyed(
                        svc.key(),
                        &svc.service(),
                        pools,
                        keys,
                        OUTCOME,
                    )
                    .map(Arc::new),
                    row: None,
                }),
            }
        }
        added.sort_by(|a, b| a.svc.key_parts().cmp(&b.svc.key_parts()));
        let mut added = added.into_iter().peekable();
        let mut entries: Vec<ServiceEntry> = Vec::with_capacity(services.len());
        for kept in last
            .into_iter()
            .zip(claimed)
            .filter_map(|(entry, claimed)| claimed.then_some(entry))
        {
            while let Some(new) = added.next_if(|a| a.svc.key_parts() < kept.svc.key_parts()) {
                entries.push(new);
            }
            entries.push(kept);
        }
        entries.extend(added);
        let lost = losses(entries.iter().filter_map(|e| e.claim.as_deref()), OUTCOME);
        // Both lists sorted by Service: each entry's slices are the next run of the other.
        let by_service = slices_by_service(slices);
        let mut unread = by_service.as_slice();
        let mut rows = Vec::with_capacity(entries.len());
        self.services = Vec::with_capacity(entries.len());
        for mut entry in entries {
            let slices = next_run(&mut unread, entry.svc.key_parts());
            // The key of a Service seen before is its row's; a new one's shares the strings
            // of its Service.
            let new_key;
            let key = match &entry.row {
                Some(kept) => &kept.row.key,
                None => {
                    new_key = entry.svc.key();
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
                let computed = row(key.clone(), &entry.svc.service(), &inputs);
                entry.row = Some(KeptRow {
                    slices: slices.into(),
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
        // Every address a row wants with the row, sorted by address, in row order among
        // equals: one list, not a list per address (nearly every address has one row).
        let mut wanted: Vec<(&Arc<Row>, &VipInput)> = rows
            .iter()
            .flat_map(|row| row.vip_inputs.iter().map(move |vip| (row, vip)))
            .collect();
        wanted.sort_by_key(|(_, vip)| vip.ip);
        let electorate = Electorate::new(nodes, policies, &self.shared);
        // Pushed in address order, then collected: built in bulk, the map's nodes are full.
        // At most one entry per (row, address) pair; nearly always exactly that.
        let mut per_ip = Vec::with_capacity(wanted.len());
        let mut wanted_by = Vec::with_capacity(wanted.len());
        let (then_result, then_wanted) = match last {
            Some(k) => (Some(k.result), k.wanted_by),
            None => (None, Vec::new()),
        };
        let mut redecided = then_result.as_ref().map(|_| Vec::new());
        // The last election's addresses, walked along with this one's (both in order).
        let mut then_wanted = then_wanted.into_iter().peekable();
        for wanting in wanted.chunk_by(|a, b| a.1.ip == b.1.ip) {
            let Some((_, first)) = wanting.first() else {
                continue;
            };
            let ip = first.ip;
            while then_wanted.next_if(|(then_ip, _)| *then_ip < ip).is_some() {}
            let then = then_wanted
                .next_if(|(then_ip, _)| *then_ip == ip)
                .map(|(_, rows)| rows)
                .filter(|then| {
                    then.len() == wanting.len()
                        && then
                            .iter()
                            .zip(wanting)
                            .all(|(a, (b, _))| Arc::ptr_eq(a, b))
                });
            let kept = then
                .as_ref()
                .and(then_result.as_ref())
                .and_then(|r| r.per_ip.get(&ip));
            let decision = match kept {
                Some(d) => Arc::clone(d),
                None => {
                    if let Some(r) = redecided.as_mut() {
                        r.push(ip);
                    }
                    let sharing: Vec<&VipInput> = wanting.iter().map(|(_, v)| *v).collect();
                    Arc::new(electorate.decide(ip, &sharing))
                }
            };
            per_ip.push((ip, decision));
            // The same rows keep their list.
            let rows = then.unwrap_or_else(|| wanting.iter().map(|(r, _)| Arc::clone(r)).collect());
            wanted_by.push((ip, rows));
        }
        drop(then_result);
        drop(electorate);
        self.shared.forget_unused();
        wanted_by.shrink_to_fit();
        self.redecided = redecided;
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

impl StepMemo {
    /// Every row's [`AnnouncementPlan`] on `election` (the one [`elect`](Self::elect) returned
    /// last), made again only for rows that changed or that read an address the election
    /// decided again.
    pub fn plans(
        &mut self,
        rows: &[Arc<Row>],
        election: &Election,
        node: &str,
    ) -> Vec<Arc<AnnouncementPlan>> {
        let last = std::mem::take(&mut self.plans);
        let redecided = self.redecided.as_deref();
        let mut last = last.into_iter().peekable();
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            while last.next_if(|(r, _)| r.key < row.key).is_some() {}
            let same = last
                .next_if(|(r, _)| Arc::ptr_eq(r, row))
                .map(|(_, plan)| plan)
                .filter(|_| redecided.is_some_and(|ips| !reads_any(row, ips)));
            let plan =
                same.unwrap_or_else(|| Arc::new(plan::plan(&row.key, &row.vips, election, node)));
            kept.push((Arc::clone(row), plan));
        }
        let plans = kept.iter().map(|(_, p)| Arc::clone(p)).collect();
        self.plans = kept;
        plans
    }
}

/// The plan of `row` reads the decision of one of `ips` (sorted).
fn reads_any(row: &Row, ips: &[IpAddr]) -> bool {
    let vips = &row.vips;
    vips.lb
        .iter()
        .map(|p| p.ip)
        .chain(vips.external.iter().copied())
        .any(|ip| ips.binary_search(&ip).is_ok())
}

/// The EndpointSlices that name a Service (the `kubernetes.io/service-name` label), sorted by
/// Service (namespace, name), then by address so that each Service's run compares as a set.
/// One list, sorted every step: no map, no list per Service.
fn slices_by_service(slices: &[Arc<NodeSlice>]) -> Vec<Arc<NodeSlice>> {
    let mut out: Vec<Arc<NodeSlice>> = slices
        .iter()
        .filter(|s| s.service.is_some())
        .cloned()
        .collect();
    out.sort_unstable_by(|a, b| {
        slice_service(a)
            .cmp(&slice_service(b))
            .then_with(|| Arc::as_ptr(a).cmp(&Arc::as_ptr(b)))
    });
    out
}

/// A slice's Service (namespace, name); the name is empty for a slice of none (never listed by
/// [`slices_by_service`]).
fn slice_service(slice: &NodeSlice) -> (&str, &str) {
    (
        slice.namespace.as_str(),
        slice.service.as_deref().unwrap_or_default(),
    )
}

/// The run of `unread`'s slices of Service `key`, taken from its front; the slices of
/// Services before `key` (which has no entry) are skipped. `key`s come in ascending order.
fn next_run<'a>(unread: &mut &'a [Arc<NodeSlice>], key: (&str, &str)) -> &'a [Arc<NodeSlice>] {
    let list: &'a [Arc<NodeSlice>] = unread;
    // Walked, not searched: both lists are in Service order, so the whole step walks the
    // slices once.
    let start = list.iter().take_while(|s| slice_service(s) < key).count();
    let len = list
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|s| slice_service(s) == key)
        .count();
    let run = list.get(start..start + len).unwrap_or_default();
    *unread = list.get(start + len..).unwrap_or_default();
    run
}
