//! The controller's decision: one snapshot in, every write and event out. Pure: the I/O shell
//! ([`crate::control_loop`]) hands it the watched objects, the fields it wrote but has not
//! seen back yet, the configuration, the admission stamp key and the time; it returns the
//! writes ([`Writes`]) that [`crate::apply`] makes. Every allocation it writes carries the
//! controller's signature ([`prove`]); an address without one is never adopted.
//!
//! The steps, in dependency order: [`crate::inputs`] (objects → plain inputs) →
//! [`crate::plan`] (allocation, externalIPs review, pool status) → [`crate::diff`] (what
//! differs from what the cluster shows).

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::admission_stamp::StampKey;
use crate::diff::{self, Account, PoolWrite, ServiceWrite};
use crate::inputs::adoption::{self, Adopted};
use crate::inputs::current_fields::{self, Observed};
use crate::inputs::{Watched, ipam_request, review_facts};
use crate::ipam::{self, Plan, ServiceOutcome};
use crate::owned_fields::{CondState, OwnedFields};
use crate::plan::pool_status::{self, PoolFacts};
use crate::plan::{external_ips, release, service_fields};

mod kept_plan;
mod memo;
pub mod prove;
use ferrolb_adapter::requested::Honour;
use ferrolb_adapter::selector::Labels;
use ferrolb_adapter::service;
use ferrolb_core::ServiceKey;
pub use memo::DecisionMemo;
pub use prove::ProofKeys;

/// What the decision needs besides the watched objects: the controller's flags.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Own Services without a class.
    pub default_class: bool,
    /// ClusterIP ranges given by flag (added to the ServiceCIDR objects').
    pub service_cidrs: Vec<String>,
    /// Honour MetalLB's Service annotations (`--metallb-annotations`).
    pub metallb_annotations: bool,
}

/// Fields the controller wrote (by Service uid) that the watch may not show yet; they win
/// over the watched object.
pub type Pending = HashMap<String, Observed>;

/// The result of one decision.
#[derive(Debug, Clone)]
pub struct Writes {
    /// Service writes, oldest Service first.
    pub services: Vec<ServiceWrite>,
    /// Pool status writes.
    pub pools: Vec<PoolWrite>,
    /// The allocation plan (for metrics).
    pub plan: Arc<Plan>,
}

impl Writes {
    /// Once these writes are seen (or pending), deciding again writes nothing they did not:
    /// the control loop need not decide on their echoes alone ([`crate::echoes`]). False
    /// when one releases a Service being deleted: its addresses are held until that release
    /// is written ([`release::held_until_released`]), so the next decision frees them (pool
    /// status) and may give them to a Service that waits for them.
    pub fn settle(&self) -> bool {
        !self.services.iter().any(|w| release::deleting(&w.service))
    }
}

/// Everything a decision is made from (besides its memo).
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// The watched objects.
    pub watched: &'a Watched,
    /// Fields the controller wrote that the watch does not show yet (they count as seen).
    pub pending: &'a Pending,
    /// The controller's flags.
    pub config: &'a Config,
    /// The key admitted externalIPs' stamps verify under (none verify without it).
    pub stamp_key: Option<&'a StampKey>,
    /// The keys allocations are proven with and signed with.
    pub keys: &'a ProofKeys,
    /// The time new condition transitions and proofs carry.
    pub now: &'a Time,
}

/// Plans the watched objects and compares the result with what is observed (`pending` first).
/// Stamps of admitted externalIPs verify under `stamp_key` only; allocations are proven and
/// signed with `keys`; `now` stamps new condition transitions and proofs.
pub fn decide(inputs: &Inputs<'_>) -> Writes {
    decide_with_memo(inputs, &mut DecisionMemo::default())
}

/// [`decide`], reading again only the Services that changed since the decision that left
/// `memo` ([`DecisionMemo`]), and keeping this decision's reads for the next. Equal to
/// [`decide`] whatever the memo holds. What the control loop calls.
pub fn decide_with_memo(inputs: &Inputs<'_>, memo: &mut DecisionMemo) -> Writes {
    let Inputs {
        watched,
        pending,
        config,
        stamp_key,
        keys,
        now,
    } = *inputs;
    let ns_labels: HashMap<&str, &Labels, foldhash::fast::RandomState> = watched
        .namespaces
        .iter()
        .map(|n| (n.metadata.name.as_deref().unwrap_or_default(), n.labels()))
        .collect();
    let empty = Labels::new();
    let labels_of = |svc: &Service| {
        ns_labels
            .get(svc.metadata.namespace.as_deref().unwrap_or_default())
            .copied()
            .unwrap_or(&empty)
    };
    let mut pools = Vec::new();
    let mut pool_problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &watched.pools {
        let (pool, problems) = ipam_request::pool(p);
        pool_problems.insert(pool.name.clone(), problems);
        pools.push(pool);
    }
    let reserved = ipam_request::node_addresses(&watched.nodes);

    let policies = review_facts::policies(&watched.policies);
    // Every Service's claims, gathered only when a Service has externalIPs to review.
    let cluster = OnceCell::new();
    let external_ips = |svc: &Service| {
        if !review_facts::has_external_ips(svc) {
            return None;
        }
        let cluster = cluster.get_or_init(|| {
            review_facts::cluster(
                watched,
                &watched.cluster_ip_ranges(&config.service_cidrs),
                ("", ""),
            )
        });
        external_ips::condition(svc, labels_of(svc), &policies, cluster, stamp_key)
    };

    let mut owned = Vec::new();
    let mut deleted = Vec::new();
    let mut others = Vec::new();
    memo.begin(keys);
    for svc in &watched.services {
        let uid = svc.metadata.uid.as_deref().unwrap_or_default();
        let seen = match pending.get(uid) {
            Some(written) => Arc::new(written.clone()),
            None => memo.observe(svc, keys),
        };
        let eip = external_ips(svc);
        if memo.owned(svc, config.default_class) {
            if release::deleting(svc) {
                deleted.push((svc.clone(), seen));
            } else {
                owned.push((svc.clone(), seen, eip));
            }
        } else if current_fields::touched(&seen) || eip.is_some() {
            others.push((svc.clone(), seen, eip));
        }
    }
    // Unproven status addresses an administrator recorded for adoption count as current.
    let adopted = adopt(watched, &mut owned, &deleted, &others);
    let honour = Honour::metallb(config.metallb_annotations);
    let parsed: Vec<Arc<ipam_request::Parsed>> = owned
        .iter()
        .map(|(svc, seen, _)| memo.request(svc, labels_of(svc), &seen.owned, honour))
        .collect();
    // Gathered only when a Service is being deleted.
    let live: BTreeSet<IpAddr> = if deleted.is_empty() {
        BTreeSet::new()
    } else {
        owned
            .iter()
            .flat_map(|(_, seen, _)| seen.owned.ips.iter().copied())
            .collect()
    };
    let held = release::held_until_released(
        deleted
            .iter()
            .map(|(svc, seen)| (service::key(svc), seen.owned.ips.as_slice())),
        &live,
    );
    let mut blocked = reserved_map(&reserved);
    for (ip, why) in &held {
        blocked.entry(*ip).or_insert_with(|| why.clone());
    }
    let plan = memo.plan(pools, &parsed, blocked);

    let mut services = Vec::new();
    for ((svc, seen, eip), parsed) in owned.iter().zip(&parsed) {
        let Some(outcome) = plan.services.get(&parsed.request.key) else {
            continue;
        };
        if release::waits_for_release(&parsed.request, outcome, &held) {
            continue;
        }
        let adoption = adopted.get(&parsed.request.key);
        let problem = parsed.problem.as_deref();
        if adoption.is_none() && memo.still_quiet(svc, outcome, eip.as_ref(), problem) {
            continue;
        }
        let mut want = service_fields::for_outcome(outcome, problem, &seen.owned);
        want.external_ips = eip.clone();
        want.proof = memo.proof_for(svc, &want, &seen.owned, keys, now);
        want.external_ips_proof = prove::external_ips_proof_for(svc, &want, &seen.owned, keys, now);
        let change = match outcome {
            ServiceOutcome::Allocated { change, .. } => change,
            ServiceOutcome::Failed { .. } => &ipam::Change::New,
        };
        let mut write = write_for(svc, seen, want.clone(), Account::Planned(change), now);
        if let (Some(w), Some(event)) = (
            write.as_mut(),
            adoption.and_then(|a| adoption::event(a, &want)),
        ) {
            w.diff.events.insert(0, event);
        }
        // Unproven addresses in the status are replaced, and said so.
        if let Some(event) = prove::unproven_event(seen, &want) {
            let w = write.get_or_insert_with(|| ServiceWrite {
                service: svc.clone(),
                want: Observed {
                    owned: want.clone(),
                    since: seen.since.clone(),
                    external_ips_since: seen.external_ips_since.clone(),
                    foreign_ips: Vec::new(),
                },
                diff: diff::ServiceDiff {
                    write_status: true,
                    write_annotation: false,
                    finalizer: None,
                    events: Vec::new(),
                },
                failure: None,
            });
            w.diff.write_status = true;
            w.want.foreign_ips = seen.foreign_ips.clone();
            w.diff.events.insert(0, event);
        }
        let quiet = (write.is_none() && adoption.is_none()).then(|| memo::Quiet {
            outcome: outcome.clone(),
            external_ips: eip.clone(),
            problem: parsed.problem.clone(),
        });
        memo.set_quiet(svc, quiet);
        services.extend(write);
    }
    memo.end();
    for (svc, seen) in &deleted {
        // Released: every field cleared, then the finalizer removed (see `crate::apply`).
        services.extend(write_for(
            svc,
            seen,
            OwnedFields::default(),
            Account::Deleted,
            now,
        ));
    }
    for (svc, seen, eip) in others {
        let mut want = OwnedFields {
            external_ips: eip,
            finalizer: release::keeps_finalizer(&svc, seen.owned.finalizer),
            ..OwnedFields::default()
        };
        want.external_ips_proof =
            prove::external_ips_proof_for(&svc, &want, &seen.owned, keys, now);
        services.extend(write_for(&svc, &seen, want, Account::NotOurs, now));
    }

    let pools_out = watched
        .pools
        .iter()
        .filter_map(|p| {
            let name = p.name_any();
            let usage = plan.pools.get(&name);
            // Node addresses only: an address held for a deleted Service is not reserved for long.
            let in_pool: Vec<IpAddr> = usage
                .map(|u| u.reserved.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|ip| reserved.contains_key(ip))
                .collect();
            let mut problems = pool_problems.get(&name).cloned().unwrap_or_default();
            problems.extend(
                usage
                    .map(|u| u.selector_problems.clone())
                    .unwrap_or_default(),
            );
            let facts = PoolFacts {
                usage,
                reserved: &in_pool,
                problems: &problems,
                disabled: p.spec.disabled,
                generation: p.metadata.generation,
            };
            diff::pool_write(p, pool_status::desired(&facts, p.status.as_ref(), now))
        })
        .collect();
    Writes {
        services,
        pools: pools_out,
        plan,
    }
}

/// Moves the unproven status addresses of `owned` Services that a pool's adoption record
/// names ([`adoption::Records`]) to their current fields, so that the planner keeps them and
/// the proof signs them. Addresses any Service holds under a valid proof are never adopted.
fn adopt(
    watched: &Watched,
    owned: &mut [(Arc<Service>, Arc<Observed>, Option<CondState>)],
    deleted: &[(Arc<Service>, Arc<Observed>)],
    others: &[(Arc<Service>, Arc<Observed>, Option<CondState>)],
) -> HashMap<ServiceKey, Adopted> {
    let records = adoption::Records::of(&watched.pools);
    let mut adopted = HashMap::new();
    if records.is_empty() {
        return adopted;
    }
    let proven: BTreeSet<IpAddr> = owned
        .iter()
        .map(|(_, seen, _)| seen)
        .chain(deleted.iter().map(|(_, seen)| seen))
        .chain(others.iter().map(|(_, seen, _)| seen))
        .flat_map(|seen| seen.owned.ips.iter().copied())
        .collect();
    for (svc, seen, _) in owned.iter_mut() {
        if !seen.owned.ips.is_empty() || seen.foreign_ips.is_empty() {
            continue;
        }
        if let Some(a) = records.adopted(svc, &seen.foreign_ips, &proven) {
            let seen = Arc::make_mut(seen);
            seen.foreign_ips.retain(|ip| !a.ips.contains(ip));
            seen.owned.ips = a.ips.clone();
            seen.owned.pool = Some(a.pool.clone());
            adopted.insert(service::key(svc), a);
        }
    }
    adopted
}

/// The write bringing `svc` to `want` (`account`: why, for the events).
fn write_for(
    svc: &Arc<Service>,
    seen: &Observed,
    want: OwnedFields,
    account: Account<'_>,
    now: &Time,
) -> Option<ServiceWrite> {
    let d = diff::compare(&want, &seen.owned, account);
    diff::service_write(svc, seen, want, d, now)
}

fn reserved_map(nodes: &BTreeMap<IpAddr, String>) -> ipam::Reserved {
    nodes
        .iter()
        .map(|(ip, node)| (*ip, format!("address of node {node}")))
        .collect()
}

#[cfg(test)]
mod tests;
