//! Getting one new address of one family for one Service: an explicitly requested address,
//! the sharing group's address, or the lowest free address of the most preferred pool.
//! Nothing is committed here; the caller decides from all families together.

use super::addrset::is_buggy_v4;
use super::demand::{POOL_ANNOTATION, Problem};
use super::invalid_selector::{no_new_allocation, pool_refusal, refusal};
use super::outcome::FailureReason;
use super::pass::State;
use ferrolb_core::{IpFamily, value_to_ip};

/// At most this many pool names are listed in a message.
const MAX_LISTED: usize = 5;

fn list_names(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", names.len() - MAX_LISTED));
    }
    text
}

impl State<'_, '_> {
    fn pool_name(&self, rank: usize) -> String {
        self.ctx
            .table
            .pools
            .get(rank)
            .map_or_else(|| "?".to_string(), |p| p.pool.name.clone())
    }

    /// Finds (without taking) an address of `family` for Service `i`, with its pool rank.
    pub(super) fn acquire(&self, i: usize, family: IpFamily) -> Result<(u128, usize), Problem> {
        if let Some(value) = self.demand(i).requested[family.index()] {
            return self.acquire_requested(i, family, value);
        }
        if let Some(found) = self.join_group(i, family) {
            return found;
        }
        self.acquire_free(i, family)
    }

    /// An explicitly requested address: joins its holders if they allow it, else allocates it
    /// if its owning pool serves the Service (with a valid selector), is enabled and does not
    /// avoid it.
    fn acquire_requested(
        &self,
        i: usize,
        family: IpFamily,
        value: u128,
    ) -> Result<(u128, usize), Problem> {
        let ip = value_to_ip(family, value);
        let refused = |message| Problem::new(FailureReason::RequestRefused, message);
        let addr = (family, value);
        if self.holders.is_held(addr) {
            if let Err(conflict) = self.holders.check(addr, i, self.ctx.services) {
                let reason = if conflict.same_group() {
                    FailureReason::SharingConflict
                } else {
                    FailureReason::RequestRefused
                };
                let why = conflict.describe(self.ctx.services, i, addr);
                return Err(Problem::new(
                    reason,
                    format!(
                        "requested address {ip} cannot be granted: {why}; request another address"
                    ),
                ));
            }
            if self.settled(family, value) {
                let rank = self.accepting_cover(i, family, value).ok_or_else(|| {
                    self.invalid_selector_refusal(i, family, value)
                        .unwrap_or_else(|| {
                            refused(format!(
                                "requested address {ip} is not in a pool that serves this Service"
                            ))
                        })
                })?;
                return Ok((value, rank));
            }
            // Its holders may give it up in this pass: grant it only as a new allocation.
        }
        let covering = self.ctx.table.covering(family, value);
        let Some(&owner) = covering.first() else {
            return Err(refused(format!(
                "requested address {ip} is in no VIPPool; request an address inside a pool"
            )));
        };
        let name = self.pool_name(owner);
        let demand = self.demand(i);
        if !demand.accepts(owner) && demand.may_hold(owner) {
            // Only its invalid selector keeps the owner from serving the Service.
            return Err(refusal(&self.ctx.table, owner, &format!("address {ip}")));
        }
        if !demand.accepts(owner) {
            return Err(refused(format!(
                "requested address {ip} is where pools overlap and only the oldest, {name:?}, \
                 allocates it, but that pool does not serve this Service (or is not the requested \
                 pool); request another address or remove the overlap"
            )));
        }
        let pool = self.ctx.table.pools.get(owner).map(|p| p.pool);
        if pool.is_some_and(|p| p.disabled) {
            return Err(refused(format!(
                "requested address {ip} is in pool {name:?}, which is disabled (no new \
                 allocations); enable the pool or request another address"
            )));
        }
        if family == IpFamily::V4 && pool.is_some_and(|p| p.avoid_buggy_ips) && is_buggy_v4(value) {
            return Err(refused(format!(
                "requested address {ip} ends in .0 or .255 and pool {name:?} sets avoidBuggyIPs; \
                 request another address or unset avoidBuggyIPs"
            )));
        }
        Ok((value, owner))
    }

    /// The sharing group's address of `family`, if the Service has a sharing key and the group
    /// already holds such an address. `None`: no group address, allocate a fresh one.
    fn join_group(&self, i: usize, family: IpFamily) -> Option<Result<(u128, usize), Problem>> {
        let svc = self.service(i);
        let key = svc.sharing_key.as_deref()?;
        let values: Vec<u128> = self
            .holders
            .group_addresses(&svc.key.namespace, key, family)
            .into_iter()
            .filter(|&v| !self.holders.holds((family, v), i) && self.settled(family, v))
            .collect();
        if values.is_empty() {
            return None;
        }
        let mut why: Option<String> = None;
        let mut candidates: Vec<(usize, u128, usize)> = Vec::new();
        for value in values {
            match self.accepting_cover(i, family, value) {
                Some(rank) => candidates.push((
                    self.demand(i).position(rank).unwrap_or(usize::MAX),
                    value,
                    rank,
                )),
                None => {
                    let ip = value_to_ip(family, value);
                    let invalid = self
                        .keeping_cover(i, family, value)
                        .and_then(|rank| self.ctx.table.pools.get(rank));
                    why.get_or_insert_with(|| match invalid {
                        Some(info) => {
                            format!("the group's address {ip}: {}", no_new_allocation(info))
                        }
                        None => format!(
                            "the group's address {ip} is in no pool that serves this Service (or \
                             not in the requested pool)"
                        ),
                    });
                }
            }
        }
        candidates.sort_unstable();
        for (_, value, rank) in candidates {
            match self.holders.check((family, value), i, self.ctx.services) {
                Ok(()) => return Some(Ok((value, rank))),
                Err(conflict) => {
                    why.get_or_insert_with(|| {
                        conflict.describe(self.ctx.services, i, (family, value))
                    });
                }
            }
        }
        let why = why.unwrap_or_default();
        Some(Err(Problem::new(
            FailureReason::SharingConflict,
            format!(
                "Service {} has sharing key {key:?} but cannot join its group's {family} address: \
                 {why}; fix the conflict or use another sharing key",
                svc.key
            ),
        )))
    }

    /// The lowest free address of the most preferred pool that may allocate for the Service.
    fn acquire_free(&self, i: usize, family: IpFamily) -> Result<(u128, usize), Problem> {
        let demand = self.demand(i);
        let mut tried: Vec<String> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        for rank in demand.candidates() {
            let Some(info) = self.ctx.table.pools.get(rank) else {
                continue;
            };
            if info.selector_invalid() && demand.requested_pool == Some(rank) {
                return Err(pool_refusal(&self.ctx.table, rank));
            }
            if !info.has_family(family) {
                continue;
            }
            let name = &info.pool.name;
            if info.pool.disabled {
                skipped.push(format!("pool {name:?} is disabled"));
                continue;
            }
            if !info.pool.auto_assign && demand.requested_pool != Some(rank) {
                skipped.push(format!(
                    "pool {name:?} has autoAssign false (name it in annotation {POOL_ANNOTATION} to use it)"
                ));
                continue;
            }
            tried.push(name.clone());
            if let Some(value) =
                self.ctx
                    .table
                    .find_free(rank, family, &self.blocked[family.index()])
            {
                return Ok((value, rank));
            }
        }
        if !tried.is_empty() {
            return Err(Problem::new(
                FailureReason::PoolExhausted,
                format!(
                    "pool {} ({family}) has no free address; add addresses to it, delete \
                     Services that no longer need one, or let this Service use another pool",
                    list_names(&tried)
                ),
            ));
        }
        Err(Problem::new(
            FailureReason::NoEligiblePool,
            self.no_pool_message(i, family, &skipped),
        ))
    }

    fn no_pool_message(&self, i: usize, family: IpFamily, skipped: &[String]) -> String {
        let svc = self.service(i);
        let demand = self.demand(i);
        let mut text = format!(
            "no VIPPool can give Service {} an {family} address",
            svc.key
        );
        if let Some(rp) = demand.requested_pool {
            let name = self.pool_name(rp);
            if !skipped.is_empty() {
                text.push_str(&format!(": {}", skipped.join("; ")));
                return text + &format!("; enable pool {name:?} or request another pool");
            }
            return text
                + &format!(
                    ": pool {name:?} named by annotation {POOL_ANNOTATION} has no {family} addresses; \
                 add some or request another pool"
                );
        }
        if !skipped.is_empty() {
            text.push_str(&format!(": {}", list_names(skipped)));
        }
        let with_family = self.ctx.table.pools.iter().enumerate();
        let (other_mode, same_mode): (Vec<_>, Vec<_>) = with_family
            .filter(|(rank, p)| p.has_family(family) && demand.position(*rank).is_none())
            .partition(|(_, p)| p.pool.edge != svc.edge);
        let (invalid, unselected): (Vec<_>, Vec<_>) = same_mode
            .into_iter()
            .partition(|(rank, _)| demand.keeps_in(*rank));
        let mut sep = if skipped.is_empty() { ": " } else { "; " };
        if !other_mode.is_empty() {
            use ferrolb_api::names::{ANN_MODE, LABEL_MODE, MODE_EDGE};
            let (mine, theirs) = if svc.edge {
                ("is served by the edge", "not edge pools")
            } else {
                ("is not served by the edge", "edge pools")
            };
            text.push_str(&format!(
                "{sep}it {mine} (annotation {ANN_MODE}: {MODE_EDGE}) and {} pool(s) with \
                 {family} addresses are {theirs} (label {LABEL_MODE}={MODE_EDGE})",
                other_mode.len()
            ));
            sep = "; ";
        }
        if !unselected.is_empty() {
            text.push_str(&format!(
                "{sep}{} pool(s) with {family} addresses do not select it in serviceAllocation",
                unselected.len()
            ));
            sep = "; ";
        }
        if !invalid.is_empty() {
            let names: Vec<String> = invalid
                .iter()
                .map(|(_, p)| format!("{:?}", p.pool.name))
                .collect();
            text.push_str(&format!(
                "{sep}pool {} has an invalid serviceAllocation selector (see the pool's status) \
                 and makes no new allocation until it is fixed",
                list_names(&names)
            ));
        }
        text + &format!(
            "; create a VIPPool with {family} addresses whose serviceAllocation selects this \
             Service, or enable or widen an existing one"
        )
    }
}
