//! Which LoadBalancer addresses the controller allocated, for every Service at once
//! (CVE-2020-8554). Speakers and the edge serve an address of `status.loadBalancer.ingress`
//! only when:
//!
//! - the Service's [allocation proof](crate::proof) verifies: the controller signed exactly
//!   this UID, these addresses, this [`ANN_ALLOCATED_FROM`] value, sharing key and ports;
//! - the address lies in a pool the annotation names;
//! - no other Service holds a newer proof for the address, unless both may share it: same
//!   namespace, the same proven sharing key, and no port (protocol and number) in common.
//!
//! The controller never signs two Services for one address unless they may share it, so a
//! conflict means a Service put back an old proof of its own (a replay): the newest allocation
//! wins, and the replayed one is refused until the controller rewrites it. Pure.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_core::ServiceKey;
use k8s_openapi::api::core::v1::Service;

use crate::classify::{Classification, DefaultClass, classify};
use crate::ingress::{allocated_from, ingress_ips, not_in_named_pool};
use crate::pools::Pools;
use crate::proof::{Claim, VerifyKeys};
use crate::service;
use ferrolb_api::names::ANN_ALLOCATION_PROOF;

/// One address of a Service: its pool, or why it is not served.
pub type Allocation = (IpAddr, Result<String, String>);

/// A proven address claim, before conflicts are settled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proven {
    issued: i64,
    sharing: String,
    ports: BTreeSet<String>,
}

/// One Service's addresses judged on their own, before the conflicts with other Services are
/// settled ([`Allocations::settle`]). Depends on the Service, the pools and the keys only, so
/// a caller may keep it while those stay the same (the speaker's step memo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceClaim {
    key: ServiceKey,
    verdicts: Vec<Allocation>,
    /// `None`: the proof did not verify.
    proven: Option<Proven>,
}

impl ServiceClaim {
    /// Judges the ingress addresses of `svc` alone; `None` when it has none. `outcome` ends
    /// each refusal ("never served", "never announced").
    pub fn judge(
        svc: &Service,
        pools: &Pools,
        keys: &VerifyKeys,
        outcome: &str,
    ) -> Option<ServiceClaim> {
        ServiceClaim::judge_keyed(service::key(svc), svc, pools, keys, outcome)
    }

    /// [`judge`](Self::judge) of `svc`, whose key the caller has as `key` (shared, not
    /// copied).
    pub fn judge_keyed(
        key: ServiceKey,
        svc: &Service,
        pools: &Pools,
        keys: &VerifyKeys,
        outcome: &str,
    ) -> Option<ServiceClaim> {
        let ips = ingress_ips(svc);
        if ips.is_empty() {
            return None;
        }
        let proof = match keys.verify_service(svc) {
            Ok(proof) => proof,
            Err(why) => {
                let why = format!("{why}: {outcome}");
                let verdicts = ips.into_iter().map(|ip| (ip, Err(why.clone()))).collect();
                return Some(ServiceClaim {
                    key,
                    verdicts,
                    proven: None,
                });
            }
        };
        let claim = Claim::of(svc);
        let named = allocated_from(svc);
        let verdicts = ips
            .into_iter()
            .map(
                |ip| match named.iter().find(|pool| pools.contains(pool, ip)) {
                    Some(pool) => (ip, Ok(pool.to_string())),
                    None => (ip, Err(not_in_named_pool(ip, &named, pools, outcome))),
                },
            )
            .collect();
        Some(ServiceClaim {
            key,
            verdicts,
            proven: Some(Proven {
                issued: proof.issued,
                sharing: claim.sharing.clone(),
                ports: claim.ports.iter().cloned().collect(),
            }),
        })
    }

    /// Whether the controller signed the Service's current addresses ([`Allocations::is_proven`]).
    pub fn is_proven(&self) -> bool {
        self.proven.is_some()
    }

    /// The addresses with their verdicts once `lost` (this Service's entry of [`losses`]) are
    /// refused.
    pub fn settled(&self, lost: Option<&Vec<(IpAddr, String)>>) -> Vec<Allocation> {
        let mut verdicts = self.verdicts.clone();
        for (ip, why) in lost.into_iter().flatten() {
            if let Some(verdict) = verdicts.iter_mut().find(|(i, _)| i == ip) {
                verdict.1 = Err(why.clone());
            }
        }
        verdicts
    }
}

/// The addresses each Service loses to another one's newer proof, with why (only Services
/// that lose any): [`ServiceClaim`]s of every Service, each once.
pub fn losses<'a>(
    claims: impl IntoIterator<Item = &'a ServiceClaim>,
    outcome: &str,
) -> HashMap<ServiceKey, Vec<(IpAddr, String)>> {
    // Every proven address with its claimant, sorted by address (in claim order among equals):
    // one list, not a list per address, since nearly every address has one claimant.
    let mut contenders: Vec<(IpAddr, Contender)> = Vec::new();
    for claim in claims {
        let Some(proven) = &claim.proven else {
            continue;
        };
        for (ip, verdict) in &claim.verdicts {
            if verdict.is_ok() {
                let key = &claim.key;
                contenders.push((*ip, Contender { key, proven }));
            }
        }
    }
    contenders.sort_by_key(|(ip, _)| *ip);
    let mut out: HashMap<ServiceKey, Vec<(IpAddr, String)>> = HashMap::new();
    for group in contenders.chunk_by(|a, b| a.0 == b.0) {
        let [(ip, _), _, ..] = group else {
            continue;
        };
        let contending = group.iter().map(|(_, c)| *c).collect();
        for (loser, why) in settle(*ip, contending, outcome) {
            out.entry(loser).or_default().push((*ip, why));
        }
    }
    out
}

/// Every Service's addresses with their verdict ([`Allocations::of`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocations {
    by_service: HashMap<ServiceKey, Vec<Allocation>>,
    proven: HashSet<ServiceKey>,
}

impl Allocations {
    /// Judges the ingress addresses of `services`; `outcome` ends each refusal ("never
    /// served", "never announced").
    pub fn of(
        services: &[Arc<Service>],
        pools: &Pools,
        keys: &VerifyKeys,
        outcome: &str,
    ) -> Allocations {
        let claims: Vec<ServiceClaim> = services
            .iter()
            .filter_map(|svc| ServiceClaim::judge(svc, pools, keys, outcome))
            .collect();
        Allocations::settle(claims.iter(), outcome)
    }

    /// Every Service's claim ([`ServiceClaim::judge`], each Service once) with the conflicts
    /// between them settled: the newest proof of an address wins ([`losses`]).
    pub fn settle<'a>(
        claims: impl IntoIterator<Item = &'a ServiceClaim> + Clone,
        outcome: &str,
    ) -> Allocations {
        let lost = losses(claims.clone(), outcome);
        let mut by_service = HashMap::new();
        let mut proven = HashSet::new();
        for claim in claims {
            if claim.is_proven() {
                proven.insert(claim.key.clone());
            }
            by_service.insert(claim.key.clone(), claim.settled(lost.get(&claim.key)));
        }
        Allocations { by_service, proven }
    }

    /// Whether the controller signed `key`'s current addresses (whatever conflicts settled):
    /// a Service without a class is ferrolb's, for speakers and the edge, exactly when it is
    /// ([`crate::DefaultClass`]).
    pub fn is_proven(&self, key: &ServiceKey) -> bool {
        self.proven.contains(key)
    }

    /// Whether `svc` is ferrolb's and how it is served, as speakers and the edge decide it: its
    /// class, or no class and a proven allocation ([`Self::is_proven`]).
    pub fn classify(&self, svc: &Service) -> Option<Classification> {
        let proven = self.is_proven(&service::key(svc));
        classify(svc, DefaultClass::claimed(proven))
    }

    /// The addresses of one Service (status order: sorted), empty when it has none.
    pub fn of_service(&self, key: &ServiceKey) -> &[Allocation] {
        self.by_service.get(key).map_or(&[], Vec::as_slice)
    }
}

/// A Service's proven claim on one address.
#[derive(Clone, Copy)]
struct Contender<'a> {
    key: &'a ServiceKey,
    proven: &'a Proven,
}

/// The Services that lose `ip`, with why: the newest proof wins; others keep it only when they
/// may share it with every Service kept so far.
fn settle(ip: IpAddr, mut contenders: Vec<Contender>, outcome: &str) -> Vec<(ServiceKey, String)> {
    contenders.sort_by(|a, b| {
        b.proven
            .issued
            .cmp(&a.proven.issued)
            .then_with(|| a.key.cmp(b.key))
    });
    let mut kept: Vec<Contender> = Vec::new();
    let mut losers = Vec::new();
    for c in contenders {
        match kept.iter().find_map(|k| why_not_shared(k, &c)) {
            None => kept.push(c),
            Some(why) => losers.push((
                c.key.clone(),
                format!(
                    "{ip} was allocated later to Service {} (its {ANN_ALLOCATION_PROOF} is newer than this one) and {why}: {outcome}",
                    kept[0].key
                ),
            )),
        }
    }
    losers
}

/// Why `b` may not share an address with `a` (`None`: it may).
fn why_not_shared(a: &Contender, b: &Contender) -> Option<String> {
    if a.key.namespace != b.key.namespace {
        return Some("sharing needs one namespace".into());
    }
    let (pa, pb) = (a.proven, b.proven);
    if pa.sharing.is_empty() || pa.sharing != pb.sharing {
        return Some("the proven sharing keys differ".into());
    }
    let common: Vec<&String> = pa.ports.intersection(&pb.ports).collect();
    if !common.is_empty() {
        let common: Vec<&str> = common.iter().map(|s| s.as_str()).collect();
        return Some(format!("both use port {}", common.join(", ")));
    }
    None
}

#[cfg(test)]
mod tests;
