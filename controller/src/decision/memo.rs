//! What one decision keeps for the next, so that a pass costs less where nothing changed
//! (issue 21), by object identity, while the proof keys stay the same:
//! - each Service's observed fields ([`current_fields::observe`]: its allocation proof
//!   verified, its conditions and annotations read);
//! - the allocation proof it keeps ([`prove::proof_for`]), while the decision wants the same
//!   addresses and pools and the Service carries the same proof;
//! - the planner's request ([`ipam_request::service_request`]), while its namespace's labels,
//!   the addresses and pools it holds and the annotations honoured stay the same;
//! - the allocation plan ([`kept_plan`]): the same while the pools, the blocked addresses and
//!   every Service's request are the same; with newer Services planned on its settled part
//!   while only those are new;
//! - whether it is the controller's ([`ipam_request::owned`]);
//! - that it needed no write ([`Quiet`]): while its outcome, externalIPs condition and request
//!   problem stay the same too, it needs none again, and the decision skips building its
//!   fields, proofs and comparison.
//!
//! The reflectors hand out the same `Arc` for an object that did not change. Each entry holds
//! the `Arc` it was read from, so an address cannot be reused by another object while the
//! entry lives; entries of Services the last decision did not look at are dropped when it
//! ends. What the memo holds never changes the result: a decision with it equals the decision
//! without it (`tests/memo.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_adapter::requested::Honour;
use ferrolb_adapter::selector::Labels;
use foldhash::fast::RandomState;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::kept_plan::{self, KeptPlan};
use super::prove::{self, ProofKeys};
use crate::inputs::current_fields::{self, Observed};
use crate::inputs::ipam_request::{self, Parsed};
use crate::ipam::{Plan, Pool, Reserved, ServiceOutcome};
use crate::owned_fields::{CondState, OwnedFields};

/// What the last decision read from each Service (observed fields, kept proof, request).
/// Empty by default: a decision with an empty memo reads every Service.
#[derive(Debug, Default)]
pub struct DecisionMemo {
    /// The keys the entries were verified and kept with; other keys empty the memo.
    keys: Option<ProofKeys>,
    /// The last decision's entries, by the address of the Service (no client chooses it, so
    /// the map uses a fast hasher).
    last: HashMap<usize, Entry, RandomState>,
    /// This decision's. Both maps keep their capacity from one decision to the next.
    current: HashMap<usize, Entry, RandomState>,
    /// The last plan and what it was made from.
    plan: Option<KeptPlan>,
}

/// A Service, what [`current_fields::observe`] read from it, the proof it keeps and its
/// request.
#[derive(Debug)]
struct Entry {
    service: Arc<Service>,
    observed: Arc<Observed>,
    kept_proof: Option<KeptProof>,
    request: Option<KeptRequest>,
    quiet: Option<Quiet>,
    /// Whether the Service is the controller's ([`ipam_request::owned`]), with the default
    /// class flag it was judged with.
    owned: Option<(bool, bool)>,
}

/// What a decision read for an owned Service that needed no write (its observed fields are
/// the entry's). A decision is a function of these and of the Service: with the same, the
/// Service needs no write again, whatever the time (only new proofs and condition
/// transitions carry it, and those are writes).
#[derive(Debug)]
pub(super) struct Quiet {
    /// The planner's outcome.
    pub outcome: ServiceOutcome,
    /// The externalIPs condition.
    pub external_ips: Option<CondState>,
    /// The problem of its request.
    pub problem: Option<String>,
}

/// A request [`ipam_request::service_request`] built (its namespace's labels and the
/// addresses and pools it was given are in it), and the annotations it honoured.
#[derive(Debug)]
struct KeptRequest {
    honour: Honour,
    parsed: Arc<Parsed>,
}

/// An allocation proof [`prove::proof_for`] kept: what it signs, and the proof (the one the
/// Service carried).
#[derive(Debug)]
struct KeptProof {
    ips: Vec<IpAddr>,
    pool: Option<String>,
    proof: String,
}

impl DecisionMemo {
    /// Starts a decision with `keys`: entries of other keys (another signing key, or other
    /// verifying keys) are forgotten.
    pub(super) fn begin(&mut self, keys: &ProofKeys) {
        let same = self
            .keys
            .as_ref()
            .is_some_and(|k| k.verify == keys.verify && k.signer.id() == keys.signer.id());
        if !same {
            self.last.clear();
            self.keys = Some(keys.clone());
        }
        self.current.clear();
    }

    /// [`current_fields::observe`] of `svc`: the kept result while `svc` is the object it
    /// was read from.
    pub(super) fn observe(&mut self, svc: &Arc<Service>, keys: &ProofKeys) -> Arc<Observed> {
        let at = Arc::as_ptr(svc) as usize;
        let entry = match self.last.remove(&at) {
            Some(kept) if Arc::ptr_eq(&kept.service, svc) => kept,
            _ => Entry {
                service: svc.clone(),
                observed: Arc::new(current_fields::observe(svc, &keys.verify)),
                kept_proof: None,
                request: None,
                quiet: None,
                owned: None,
            },
        };
        let observed = Arc::clone(&entry.observed);
        self.current.insert(at, entry);
        observed
    }

    /// [`ipam_request::owned`] of `svc`: kept while `svc` is the object it was judged from.
    pub(super) fn owned(&mut self, svc: &Arc<Service>, default_class: bool) -> bool {
        let Some(entry) = self.read_now(svc) else {
            return ipam_request::owned(svc, default_class);
        };
        match entry.owned {
            Some((judged_with, owned)) if judged_with == default_class => owned,
            _ => {
                let owned = ipam_request::owned(svc, default_class);
                entry.owned = Some((default_class, owned));
                owned
            }
        }
    }

    /// [`prove::proof_for`]: the proof kept last time while `svc` (observed in this
    /// decision) is the same object, `want` the same addresses and pools, and `have` the same
    /// proof. A proof it keeps is remembered; a new one is not, since it is only kept once the
    /// Service carries it.
    pub(super) fn proof_for(
        &mut self,
        svc: &Arc<Service>,
        want: &OwnedFields,
        have: &OwnedFields,
        keys: &ProofKeys,
        now: &Time,
    ) -> Option<String> {
        let Some(entry) = self.read_now(svc) else {
            return prove::proof_for(svc, want, have, keys, now);
        };
        if let Some(k) = &entry.kept_proof
            && k.ips == want.ips
            && k.pool == want.pool
            && have.proof.as_ref() == Some(&k.proof)
        {
            return Some(k.proof.clone());
        }
        let proof = prove::proof_for(svc, want, have, keys, now);
        entry.kept_proof = match (&proof, &have.proof) {
            (Some(p), Some(had)) if p == had => Some(KeptProof {
                ips: want.ips.clone(),
                pool: want.pool.clone(),
                proof: p.clone(),
            }),
            _ => None,
        };
        proof
    }

    /// [`ipam_request::service_request`] of `svc` (observed in this decision) holding `current`:
    /// the kept request while `svc` is the same object, its namespace's labels the same, and
    /// `current` and `honour` too.
    pub(super) fn request(
        &mut self,
        svc: &Arc<Service>,
        namespace_labels: &Labels,
        current: &OwnedFields,
        honour: Honour,
    ) -> Arc<Parsed> {
        let build = || {
            Arc::new(ipam_request::service_request(
                svc,
                namespace_labels,
                current.ips.clone(),
                current.pool.clone(),
                honour,
            ))
        };
        let Some(entry) = self.read_now(svc) else {
            return build();
        };
        if let Some(k) = &entry.request {
            let r = &k.parsed.request;
            if k.honour == honour
                && r.current == current.ips
                && r.current_pool == current.pool
                && r.namespace_labels == *namespace_labels
            {
                return Arc::clone(&k.parsed);
            }
        }
        let parsed = build();
        entry.request = Some(KeptRequest {
            honour,
            parsed: Arc::clone(&parsed),
        });
        parsed
    }

    /// [`ipam::plan_over`] of `pools`, the requests of `parsed` and `blocked`, from the last
    /// plan where it can ([`kept_plan`]).
    pub(super) fn plan(
        &mut self,
        pools: Vec<Pool>,
        parsed: &[Arc<Parsed>],
        blocked: Reserved,
    ) -> Arc<Plan> {
        kept_plan::plan(&mut self.plan, pools, parsed, blocked)
    }

    /// Whether `svc` (observed in this decision) needed no write last time with this
    /// `outcome`, externalIPs condition and request `problem` ([`Quiet`]).
    pub(super) fn still_quiet(
        &mut self,
        svc: &Arc<Service>,
        outcome: &ServiceOutcome,
        external_ips: Option<&CondState>,
        problem: Option<&str>,
    ) -> bool {
        self.read_now(svc)
            .and_then(|e| e.quiet.as_ref())
            .is_some_and(|q| {
                q.outcome == *outcome
                    && q.external_ips.as_ref() == external_ips
                    && q.problem.as_deref() == problem
            })
    }

    /// Records what this decision found for `svc` (observed in this decision): `Some` when it
    /// needed no write.
    pub(super) fn set_quiet(&mut self, svc: &Arc<Service>, quiet: Option<Quiet>) {
        if let Some(entry) = self.read_now(svc) {
            entry.quiet = quiet;
        }
    }

    /// The entry of `svc` observed in this decision (none for a Service read from the
    /// pending fields).
    fn read_now(&mut self, svc: &Arc<Service>) -> Option<&mut Entry> {
        self.current
            .get_mut(&(Arc::as_ptr(svc) as usize))
            .filter(|e| Arc::ptr_eq(&e.service, svc))
    }

    /// Ends the decision: what it read is kept for the next, the rest dropped.
    pub(super) fn end(&mut self) {
        std::mem::swap(&mut self.last, &mut self.current);
        self.current.clear();
    }

    /// How many Services the memo holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.last.len()
    }
}
