//! Pools whose `serviceAllocation` selector is invalid. An invalid selector matches nothing,
//! so such a pool makes no new allocation at all (automatic, requested address, requested pool
//! or joining a sharing group), but a bad pool never drops existing allocations: a Service keeps
//! a current address inside it while the pool's *valid* criteria (namespaces, any valid
//! selector) still select the Service and the usual rules allow it (wanted family, not
//! reserved, not disputed by an older incompatible Service).

use super::demand::{POOL_ANNOTATION, Problem};
use super::model::ServiceRequest;
use super::outcome::FailureReason;
use super::pass::State;
use super::pool::{PoolInfo, PoolTable};
use ferrolb_core::{IpFamily, value_to_ip};

/// Ranks of the pools with an invalid selector whose valid criteria select `svc`: pools it may
/// keep current addresses from (but get nothing new from), oldest first.
pub(super) fn keeping_pools(svc: &ServiceRequest, table: &PoolTable<'_>) -> Vec<usize> {
    let selects = |info: &PoolInfo<'_>| {
        info.pool.allocation.as_ref().is_some_and(|a| {
            a.matches_valid_parts(&svc.key.namespace, &svc.namespace_labels, &svc.labels)
        })
    };
    table
        .pools
        .iter()
        .enumerate()
        .filter(|(_, info)| info.selector_invalid() && info.pool.edge == svc.edge && selects(info))
        .map(|(rank, _)| rank)
        .collect()
}

/// Why pool `info` gives nothing new, naming the invalid selectors and how to fix them.
pub(super) fn no_new_allocation(info: &PoolInfo<'_>) -> String {
    format!(
        "pool {:?} has an invalid serviceAllocation selector ({}) and makes no new allocation \
         until it is fixed; fix the selector in the VIPPool",
        info.pool.name,
        info.selector_errors.join("; ")
    )
}

/// The refusal of a request (for an address or a pool) that only pool `rank`, whose selector is
/// invalid, could grant.
pub(super) fn refusal(table: &PoolTable<'_>, rank: usize, what: &str) -> Problem {
    let why = table
        .pools
        .get(rank)
        .map_or_else(|| "the pool is unknown".to_string(), no_new_allocation);
    Problem::new(
        FailureReason::RequestRefused,
        format!("requested {what} cannot be granted: {why}, or request another address or pool"),
    )
}

/// The refusal of annotation [`POOL_ANNOTATION`] naming pool `rank` whose selector is invalid.
pub(super) fn pool_refusal(table: &PoolTable<'_>, rank: usize) -> Problem {
    let name = table.pools.get(rank).map_or("?", |p| p.pool.name.as_str());
    refusal(table, rank, &format!("pool {name:?} ({POOL_ANNOTATION})"))
}

impl State<'_, '_> {
    /// The pool with an invalid selector that lets Service `i` keep `value`: the requested
    /// pool if it is one and covers it, else the oldest such covering pool.
    pub(super) fn keeping_cover(&self, i: usize, family: IpFamily, value: u128) -> Option<usize> {
        let demand = self.demand(i);
        let covering = self.ctx.table.covering(family, value);
        let mut keeping = covering.iter().copied().filter(|&r| demand.keeps_in(r));
        match demand.requested_pool {
            Some(rp) if demand.keeps_in(rp) && covering.contains(&rp) => Some(rp),
            _ => keeping.next(),
        }
    }

    /// The refusal of a new allocation of `value` for Service `i` when a pool it may keep
    /// from, but whose selector is invalid, covers it; `None` when no such pool covers it.
    pub(super) fn invalid_selector_refusal(
        &self,
        i: usize,
        family: IpFamily,
        value: u128,
    ) -> Option<Problem> {
        let rank = self.keeping_cover(i, family, value)?;
        let what = format!("address {}", value_to_ip(family, value));
        Some(refusal(&self.ctx.table, rank, &what))
    }
}
