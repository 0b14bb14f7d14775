//! What one Service asks for: wanted families, valid explicit requests, the pools that may
//! serve it in preference order, and any problem with the request itself.
//! A demand depends only on the pools and the Service's spec, never on current addresses.

use std::net::IpAddr;

use super::invalid_selector::keeping_pools;
use super::model::ServiceRequest;
use super::outcome::FailureReason;
use super::pool::PoolTable;
use super::reserved::Reservations;
use ferrolb_core::FamilyPolicy;
use ferrolb_core::{IpFamily, ip_to_value};

/// Annotation naming explicitly requested addresses.
pub(super) const IPS_ANNOTATION: &str = "ferrolb.io/load-balancer-ips";
/// Annotation naming an explicitly requested pool.
pub(super) const POOL_ANNOTATION: &str = "ferrolb.io/ip-pool";

/// A failure with its actionable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub(super) reason: FailureReason,
    pub(super) message: String,
}

impl Problem {
    pub(super) fn new(reason: FailureReason, message: String) -> Problem {
        Problem { reason, message }
    }
}

/// The analysed request of one Service.
#[derive(Debug)]
pub(super) struct Demand {
    /// Wanted families, primary first.
    pub(super) families: Vec<IpFamily>,
    /// The valid explicitly requested address per family index.
    pub(super) requested: [Option<u128>; 2],
    /// Rank of the valid explicitly requested pool.
    pub(super) requested_pool: Option<usize>,
    /// Preference position per pool rank, for pools whose `allocation` serves the Service.
    position: Vec<Option<usize>>,
    /// Ranks of serving pools, most preferred first.
    pub(super) serving: Vec<usize>,
    /// Ranks of pools with an invalid selector that the Service may keep addresses from (but
    /// get none from), oldest first; see [`super::invalid_selector`].
    pub(super) keeping: Vec<usize>,
    /// A problem with the request itself: the Service gets no new address while it stands.
    pub(super) problem: Option<Problem>,
}

impl Demand {
    /// Analyses `svc` against `table` and the reserved addresses.
    pub(super) fn new(
        svc: &ServiceRequest,
        table: &PoolTable<'_>,
        reserved: &Reservations,
    ) -> Demand {
        let mut problems: Vec<Problem> = Vec::new();
        let families = wanted_families(svc, &mut problems);
        let serving = serving_pools(svc, table);
        let mut position = vec![None; table.pools.len()];
        for (pos, &rank) in serving.iter().enumerate() {
            if let Some(slot) = position.get_mut(rank) {
                *slot = Some(pos);
            }
        }
        let mut demand = Demand {
            families,
            requested: [None, None],
            requested_pool: None,
            position,
            serving,
            keeping: keeping_pools(svc, table),
            problem: None,
        };
        demand.requested_pool = demand.check_requested_pool(svc, table, &mut problems);
        demand.requested = demand.check_requested_ips(svc, table, reserved, &mut problems);
        demand.problem = problems.into_iter().next();
        demand
    }

    /// The demand of each of `services`, in their order.
    pub(super) fn all(
        services: &[&ServiceRequest],
        table: &PoolTable<'_>,
        reserved: &Reservations,
    ) -> Vec<Demand> {
        services
            .iter()
            .map(|s| Demand::new(s, table, reserved))
            .collect()
    }

    /// Whether the Service wants an address of `family`.
    pub(super) fn wants(&self, family: IpFamily) -> bool {
        self.families.contains(&family)
    }

    /// Preference position of pool `rank` if its `allocation` serves the Service.
    pub(super) fn position(&self, rank: usize) -> Option<usize> {
        self.position.get(rank).copied().flatten()
    }

    /// Whether pool `rank` serves the Service and satisfies an explicitly requested pool.
    pub(super) fn accepts(&self, rank: usize) -> bool {
        self.position(rank).is_some() && self.requested_pool.is_none_or(|rp| rp == rank)
    }

    /// Whether pool `rank` has an invalid selector but lets the Service keep what it holds.
    pub(super) fn keeps_in(&self, rank: usize) -> bool {
        self.keeping.contains(&rank)
    }

    /// Whether the Service may hold an address of pool `rank` (new or kept), given any
    /// explicitly requested pool.
    pub(super) fn may_hold(&self, rank: usize) -> bool {
        (self.position(rank).is_some() || self.keeps_in(rank))
            && self.requested_pool.is_none_or(|rp| rp == rank)
    }

    /// Pools to try for a new automatic allocation, most preferred first.
    pub(super) fn candidates(&self) -> Vec<usize> {
        match self.requested_pool {
            Some(rank) => vec![rank],
            None => self.serving.clone(),
        }
    }

    fn check_requested_pool(
        &self,
        svc: &ServiceRequest,
        table: &PoolTable<'_>,
        problems: &mut Vec<Problem>,
    ) -> Option<usize> {
        let name = svc.requested_pool.as_deref()?;
        let refused = |message| Problem::new(FailureReason::RequestRefused, message);
        let Some(rank) = table.rank_of(name) else {
            problems.push(refused(format!(
                "annotation {POOL_ANNOTATION} names pool {name:?}, which does not exist; create \
                 that VIPPool or correct the annotation"
            )));
            return None;
        };
        if let Some(pool) = table.pools.get(rank)
            && pool.pool.edge != svc.edge
        {
            problems.push(refused(mode_mismatch(svc, name)));
            return None;
        }
        if self.position(rank).is_none() && !self.keeps_in(rank) {
            problems.push(refused(format!(
                "pool {name:?} (annotation {POOL_ANNOTATION}) does not serve Service {}: its \
                 serviceAllocation does not select this namespace or these labels; widen the \
                 pool's serviceAllocation or request another pool",
                svc.key
            )));
            return None;
        }
        Some(rank)
    }

    fn check_requested_ips(
        &self,
        svc: &ServiceRequest,
        table: &PoolTable<'_>,
        reserved: &Reservations,
        problems: &mut Vec<Problem>,
    ) -> [Option<u128>; 2] {
        let mut requested = [None, None];
        for family in IpFamily::ALL {
            let mut asked: Vec<IpAddr> = svc
                .requested_ips
                .iter()
                .copied()
                .filter(|ip| IpFamily::of(*ip) == family)
                .collect();
            asked.sort_unstable();
            asked.dedup();
            match asked.as_slice() {
                [] => {}
                [ip] => match self.check_requested_ip(svc, table, reserved, *ip) {
                    Ok(value) => requested[family.index()] = Some(value),
                    Err(problem) => problems.push(problem),
                },
                many => {
                    let list: Vec<String> = many.iter().map(IpAddr::to_string).collect();
                    problems.push(Problem::new(
                        FailureReason::InvalidRequest,
                        format!(
                            "the requested addresses ({IPS_ANNOTATION} / spec.loadBalancerIP) hold \
                             {} {family} addresses ({}); a Service gets at most one address per \
                             family: keep one",
                            many.len(),
                            list.join(", ")
                        ),
                    ));
                }
            }
        }
        requested
    }

    fn check_requested_ip(
        &self,
        svc: &ServiceRequest,
        table: &PoolTable<'_>,
        reserved: &Reservations,
        ip: IpAddr,
    ) -> Result<u128, Problem> {
        let family = IpFamily::of(ip);
        let refused = |message| Problem::new(FailureReason::RequestRefused, message);
        if !self.wants(family) {
            let wanted: Vec<&str> = self.families.iter().map(|f| f.as_str()).collect();
            return Err(refused(format!(
                "requested address {ip} is {family} but Service {} only gets {} (spec.ipFamilies / \
                 spec.ipFamilyPolicy); request a {} address or make the Service dual-stack",
                svc.key,
                wanted.join(" and "),
                wanted.join(" or ")
            )));
        }
        if let Some(problem) = reserved.refusal(ip) {
            return Err(problem);
        }
        let value = ip_to_value(ip);
        let covering = table.covering(family, value);
        let name = |rank: &usize| table.pools.get(*rank).map_or("?", |p| p.pool.name.as_str());
        // A pool with an invalid selector refuses it later, unless the Service already holds it.
        if covering.iter().any(|&rank| self.may_hold(rank)) {
            return Ok(value);
        }
        let Some(first) = covering.first() else {
            return Err(refused(format!(
                "requested address {ip} is in no VIPPool; request an address inside a pool that \
                 serves Service {}, or add {ip} to such a pool",
                svc.key
            )));
        };
        if let Some(other) = covering
            .iter()
            .filter_map(|rank| table.pools.get(*rank))
            .find(|info| info.pool.edge != svc.edge)
        {
            return Err(refused(format!(
                "requested address {ip}: {}",
                mode_mismatch(svc, &other.pool.name)
            )));
        }
        if let Some(rp) = self
            .requested_pool
            .filter(|_| covering.iter().any(|&r| self.position(r).is_some()))
        {
            return Err(refused(format!(
                "requested address {ip} is not in pool {:?} named by annotation {POOL_ANNOTATION} \
                 (it is in pool {:?}); request an address of {:?} or drop one of the two requests",
                name(&rp),
                name(first),
                name(&rp)
            )));
        }
        Err(refused(format!(
            "requested address {ip} is in pool {:?}, whose serviceAllocation does not select \
             Service {}; request an address from a pool that serves it, or widen that pool's \
             serviceAllocation",
            name(first),
            svc.key
        )))
    }
}

/// Why pool `pool` cannot serve `svc`: one of them is in edge mode and the other is not.
fn mode_mismatch(svc: &ServiceRequest, pool: &str) -> String {
    use ferrolb_api::names::{ANN_MODE, LABEL_MODE, MODE_EDGE};
    if svc.edge {
        format!(
            "Service {} is served by the edge (annotation {ANN_MODE}: {MODE_EDGE}) but pool \
             {pool:?} is not an edge pool; request a pool labelled {LABEL_MODE}={MODE_EDGE}, or \
             remove the annotation",
            svc.key
        )
    } else {
        format!(
            "pool {pool:?} is an edge pool (label {LABEL_MODE}={MODE_EDGE}) and Service {} is not \
             served by the edge; add annotation {ANN_MODE}: {MODE_EDGE} to the Service, or request \
             another pool",
            svc.key
        )
    }
}

/// Families the Service wants, primary first; records problems with the family spec.
fn wanted_families(svc: &ServiceRequest, problems: &mut Vec<Problem>) -> Vec<IpFamily> {
    let mut distinct: Vec<IpFamily> = Vec::new();
    for family in &svc.families {
        if !distinct.contains(family) {
            distinct.push(*family);
        }
    }
    if distinct.is_empty() {
        problems.push(Problem::new(
            FailureReason::InvalidRequest,
            format!(
                "Service {} has no spec.ipFamilies; set spec.ipFamilies (for example [IPv4])",
                svc.key
            ),
        ));
        // Lenient: current addresses of either family may be kept while this is fixed.
        return IpFamily::ALL.to_vec();
    }
    if distinct.len() != svc.families.len() {
        problems.push(Problem::new(
            FailureReason::InvalidRequest,
            format!(
                "spec.ipFamilies of Service {} lists a family twice; list each family once",
                svc.key
            ),
        ));
    }
    match svc.family_policy {
        FamilyPolicy::SingleStack => distinct.truncate(1),
        FamilyPolicy::PreferDualStack => {}
        FamilyPolicy::RequireDualStack => {
            if let [only] = distinct.as_slice() {
                problems.push(Problem::new(
                    FailureReason::DualStackImpossible,
                    format!(
                        "Service {} has ipFamilyPolicy RequireDualStack but spec.ipFamilies lists \
                         only {only}; add the other family to spec.ipFamilies or use PreferDualStack",
                        svc.key
                    ),
                ));
            }
        }
    }
    distinct
}

/// Ranks of pools whose `allocation` serves `svc`, most preferred first: matching pools with an
/// allocation by priority (lower first, none last), then pools without allocation; ties by age
/// and name (the rank). Pools whose allocation does not match are left out.
fn serving_pools(svc: &ServiceRequest, table: &PoolTable<'_>) -> Vec<usize> {
    let mut keyed: Vec<((u8, u8, i32), usize)> = Vec::new();
    for (rank, info) in table.pools.iter().enumerate() {
        if info.pool.edge != svc.edge {
            continue;
        }
        let key = match &info.pool.allocation {
            None => (1, 0, 0),
            Some(alloc)
                if alloc.matches(&svc.key.namespace, &svc.namespace_labels, &svc.labels) =>
            {
                match alloc.priority {
                    Some(priority) => (0, 0, priority),
                    None => (0, 1, 0),
                }
            }
            Some(_) => continue,
        };
        keyed.push((key, rank));
    }
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, rank)| rank).collect()
}
