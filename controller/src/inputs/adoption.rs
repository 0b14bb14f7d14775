//! Addresses a Service keeps although the controller did not allocate them: those a VIPPool's
//! `spec.adoptedAddresses` records for it (a migration from MetalLB, written by
//! `kubectl ferrolb import-metallb`). Pure.
//!
//! The provenance rule stays whole: only writers of VIPPools (administrators) can record an
//! address, so a Service owner writing its own status adopts nothing. An unproven status
//! address is kept only when a record of some pool names this Service (and its UID, when the
//! record gives one) and this address, the pool contains it, and no Service holds it under a
//! valid allocation proof. Anything else is replaced as before.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::service;
use ferrolb_api::VIPPool;
use ferrolb_core::ServiceKey;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use crate::diff::EventSpec;
use crate::owned_fields::{OwnedFields, join_ips};

/// One record: the pool it is in, the UID it pins, its addresses.
#[derive(Debug, Clone)]
struct Record {
    pool: String,
    uid: Option<String>,
    ips: BTreeSet<IpAddr>,
}

/// Every pool's adoption records, by Service.
#[derive(Debug, Clone, Default)]
pub struct Records {
    by_service: BTreeMap<ServiceKey, Vec<Record>>,
    pools: Pools,
}

/// What a Service adopts: addresses, all from one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    /// The adopted addresses, in status order.
    pub ips: Vec<IpAddr>,
    /// The pool whose record named them.
    pub pool: String,
}

impl Records {
    /// Reads the records of `pools` (entries that do not parse adopt nothing).
    pub fn of(pools: &[Arc<VIPPool>]) -> Records {
        let mut by_service: BTreeMap<ServiceKey, Vec<Record>> = BTreeMap::new();
        for p in pools {
            for a in &p.spec.adopted_addresses {
                by_service
                    .entry(ServiceKey::new(a.namespace.clone(), a.name.clone()))
                    .or_default()
                    .push(Record {
                        pool: p.name_any(),
                        uid: a.uid.clone().filter(|u| !u.is_empty()),
                        ips: a
                            .addresses
                            .iter()
                            .filter_map(|s| s.trim().parse().ok())
                            .collect(),
                    });
            }
        }
        Records {
            by_service,
            pools: Pools::new(pools),
        }
    }

    /// Whether there is no record at all.
    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }

    /// Of `unproven` (`svc`'s status addresses without a valid proof), those `svc` adopts:
    /// recorded for it in a pool that contains them and not in `proven` (the addresses every
    /// Service holds under a valid proof). From the first pool by name that gives any; `None`
    /// when none does.
    pub fn adopted(
        &self,
        svc: &Service,
        unproven: &[IpAddr],
        proven: &BTreeSet<IpAddr>,
    ) -> Option<Adopted> {
        let records = self.by_service.get(&service::key(svc))?;
        let uid = svc.uid().unwrap_or_default();
        let mut records: Vec<&Record> = records
            .iter()
            .filter(|r| r.uid.as_ref().is_none_or(|u| *u == uid))
            .collect();
        records.sort_by(|a, b| a.pool.cmp(&b.pool));
        records.into_iter().find_map(|r| {
            let ips: Vec<IpAddr> = unproven
                .iter()
                .copied()
                .filter(|ip| {
                    r.ips.contains(ip) && self.pools.contains(&r.pool, *ip) && !proven.contains(ip)
                })
                .collect();
            (!ips.is_empty()).then(|| Adopted {
                ips,
                pool: r.pool.clone(),
            })
        })
    }
}

/// The Normal event of an adoption, once `want` (the planner's result) kept every adopted
/// address (`None` otherwise: the Service got others and the usual events say so).
pub fn event(adopted: &Adopted, want: &OwnedFields) -> Option<EventSpec> {
    adopted
        .ips
        .iter()
        .all(|ip| want.ips.contains(ip))
        .then(|| EventSpec {
            warning: false,
            reason: "AddressAdopted".into(),
            note: format!(
                "kept {}, which this controller did not allocate: VIPPool {}'s spec.adoptedAddresses records it for this Service",
                join_ips(&adopted.ips),
                adopted.pool
            ),
        })
}
