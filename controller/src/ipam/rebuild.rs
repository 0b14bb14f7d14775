//! The rebuild step of a pass: which current addresses a Service keeps, and which pool each
//! kept address counts against.

use std::net::IpAddr;

use super::pass::{Held, State};
use ferrolb_core::{IpFamily, ip_to_value, value_to_ip};

impl State<'_, '_> {
    /// Pool rank a current address of Service `i` counts against: the requested pool if it
    /// covers it (or has invalid entries, one of which may have covered it), else the owner if
    /// it serves `i`, else the most preferred covering pool that serves `i`, else the oldest
    /// covering pool with an invalid selector that `i` may keep from; failing all that, the
    /// most preferred such pool with invalid entries. `None`: no pool may hold it.
    fn attribute(&self, i: usize, family: IpFamily, value: u128) -> Option<usize> {
        let demand = self.demand(i);
        let with_invalid = |r: &usize| {
            self.ctx
                .table
                .pools
                .get(*r)
                .is_some_and(|p| !p.invalid.is_empty())
        };
        let requested_keeping = demand
            .requested_pool
            .and_then(|rp| self.keeping_cover(i, family, value).filter(|&r| r == rp));
        self.accepting_cover(i, family, value)
            .or(requested_keeping)
            .or_else(|| demand.requested_pool.filter(with_invalid))
            .or_else(|| self.serving_cover(i, family, value))
            .or_else(|| self.keeping_cover(i, family, value))
            .or_else(|| demand.serving.iter().copied().find(with_invalid))
            .or_else(|| demand.keeping.iter().copied().find(with_invalid))
    }

    /// The pool `value` counts against for `i`, ignoring any requested pool.
    pub(super) fn serving_cover(&self, i: usize, family: IpFamily, value: u128) -> Option<usize> {
        let demand = self.demand(i);
        let covering = self.ctx.table.covering(family, value);
        match covering.first() {
            Some(&owner) if demand.position(owner).is_some() => Some(owner),
            _ => covering
                .iter()
                .copied()
                .filter(|&r| demand.position(r).is_some())
                .min_by_key(|&r| demand.position(r)),
        }
    }

    /// Like [`Self::serving_cover`] but only a pool that satisfies a requested pool (and never
    /// one with an invalid selector, even if requested: such a pool gives nothing new).
    pub(super) fn accepting_cover(&self, i: usize, family: IpFamily, value: u128) -> Option<usize> {
        let demand = self.demand(i);
        match demand.requested_pool {
            Some(rp) => (demand.position(rp).is_some()
                && self.ctx.table.covering(family, value).contains(&rp))
            .then_some(rp),
            None => self.serving_cover(i, family, value),
        }
    }

    /// Rebuild step: keeps each current address that is still valid for Service `i`.
    pub(super) fn rebuild(&mut self, i: usize, currents: &[IpAddr]) {
        let mut list: Vec<IpAddr> = currents.to_vec();
        let requested = self.demand(i).requested;
        list.sort_by_key(|ip| requested[IpFamily::of(*ip).index()] != Some(ip_to_value(*ip)));
        for ip in list {
            let (family, value) = (IpFamily::of(ip), ip_to_value(ip));
            if let Some(why) = self.ctx.reserved.drop_reason(family, value) {
                self.drop_current(i, ip, why);
                continue;
            }
            let demand = self.demand(i);
            if !demand.wants(family) {
                let why = format!(
                    "the Service no longer asks for an {family} address (spec.ipFamilies / spec.ipFamilyPolicy)"
                );
                self.drop_current(i, ip, why);
                continue;
            }
            if let Some(kept) = self.slots[i][family.index()] {
                let why = format!(
                    "a Service gets one {family} address and {} is kept",
                    value_to_ip(family, kept.value)
                );
                self.drop_current(i, ip, why);
                continue;
            }
            let Some(rank) = self.attribute(i, family, value) else {
                let why = "no VIPPool that serves this Service contains it any more".to_string();
                self.drop_current(i, ip, why);
                continue;
            };
            if let Err(conflict) = self.holders.check((family, value), i, self.ctx.services) {
                let why = format!(
                    "{}; the older Service keeps it",
                    conflict.describe(self.ctx.services, i, (family, value))
                );
                self.drop_current(i, ip, why);
                continue;
            }
            let superseded = demand.requested[family.index()].is_some_and(|r| r != value)
                || demand.requested_pool.is_some_and(|rp| rp != rank);
            self.take(i, family, value);
            self.slots[i][family.index()] = Some(Held {
                value,
                rank,
                superseded,
            });
        }
    }
}
