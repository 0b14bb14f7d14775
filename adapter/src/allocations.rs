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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
struct Proven {
    key: ServiceKey,
    issued: i64,
    sharing: String,
    ports: BTreeSet<String>,
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
        let mut by_service: HashMap<ServiceKey, Vec<Allocation>> = HashMap::new();
        let mut claims: BTreeMap<IpAddr, Vec<Proven>> = BTreeMap::new();
        let mut proven = HashSet::new();
        for svc in services {
            let ips = ingress_ips(svc);
            if ips.is_empty() {
                continue;
            }
            let key = service::key(svc);
            let proof = match keys.verify_service(svc) {
                Ok(proof) => proof,
                Err(why) => {
                    let why = format!("{why}: {outcome}");
                    let refused = ips.into_iter().map(|ip| (ip, Err(why.clone()))).collect();
                    by_service.insert(key, refused);
                    continue;
                }
            };
            proven.insert(key.clone());
            let claim = Claim::of(svc);
            let named = allocated_from(svc);
            let mut verdicts = Vec::new();
            for ip in ips {
                match named.iter().find(|pool| pools.contains(pool, ip)) {
                    Some(pool) => {
                        verdicts.push((ip, Ok(pool.to_string())));
                        claims.entry(ip).or_default().push(Proven {
                            key: key.clone(),
                            issued: proof.issued,
                            sharing: claim.sharing.clone(),
                            ports: claim.ports.iter().cloned().collect(),
                        });
                    }
                    None => verdicts.push((ip, Err(not_in_named_pool(ip, &named, pools, outcome)))),
                }
            }
            by_service.insert(key, verdicts);
        }
        for (ip, contenders) in claims {
            for (loser, why) in settle(ip, contenders, outcome) {
                if let Some(verdict) = by_service
                    .get_mut(&loser)
                    .and_then(|v| v.iter_mut().find(|(i, _)| *i == ip))
                {
                    verdict.1 = Err(why);
                }
            }
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

/// The Services that lose `ip`, with why: the newest proof wins; others keep it only when they
/// may share it with every Service kept so far.
fn settle(ip: IpAddr, mut contenders: Vec<Proven>, outcome: &str) -> Vec<(ServiceKey, String)> {
    if contenders.len() < 2 {
        return Vec::new();
    }
    contenders.sort_by(|a, b| b.issued.cmp(&a.issued).then_with(|| a.key.cmp(&b.key)));
    let mut kept: Vec<&Proven> = Vec::new();
    let mut losers = Vec::new();
    for c in &contenders {
        match kept.iter().find_map(|k| why_not_shared(k, c)) {
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
fn why_not_shared(a: &Proven, b: &Proven) -> Option<String> {
    if a.key.namespace != b.key.namespace {
        return Some("sharing needs one namespace".into());
    }
    if a.sharing.is_empty() || a.sharing != b.sharing {
        return Some("the proven sharing keys differ".into());
    }
    let common: Vec<&String> = a.ports.intersection(&b.ports).collect();
    if !common.is_empty() {
        let common: Vec<&str> = common.iter().map(|s| s.as_str()).collect();
        return Some(format!("both use port {}", common.join(", ")));
    }
    None
}

#[cfg(test)]
mod tests;
