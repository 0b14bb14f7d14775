//! One planning pass: first rebuild who holds what from current addresses (oldest Service
//! first, see `rebuild`), then allocate what is missing, Service by Service in the same order.

use std::net::IpAddr;

use super::addrset::AddrSet;
use super::demand::{Demand, Problem};
use super::model::ServiceRequest;
use super::outcome::{FailureReason, MissingFamily};
use super::pool::PoolTable;
use super::reserved::Reservations;
use super::sharing::Holders;
use ferrolb_core::FamilyPolicy;
use ferrolb_core::{IpFamily, value_to_ip};

/// Everything a pass needs that does not change between passes.
pub(super) struct Context<'a> {
    /// Compiled pools.
    pub(super) table: PoolTable<'a>,
    /// The snapshot's Services.
    pub(super) services: &'a [&'a ServiceRequest],
    /// One demand per Service (same index).
    pub(super) demands: Vec<Demand>,
    /// Indices of the Services to plan, oldest first (duplicate keys left out).
    pub(super) order: Vec<usize>,
    /// Addresses never allocated.
    pub(super) reserved: Reservations,
}

/// An address held by a Service during a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    /// Numeric address.
    pub(super) value: u128,
    /// Rank of the pool it is attributed to.
    pub(super) rank: usize,
    /// Valid, but the Service now explicitly asks for another address or pool.
    pub(super) superseded: bool,
}

/// Final state of one Service after a pass; addresses as (family, value, pool rank).
#[derive(Debug, Clone)]
pub(super) enum Resolved {
    Allocated {
        addrs: Vec<(IpFamily, u128, usize)>,
        missing: Vec<MissingFamily>,
    },
    Failed {
        problem: Problem,
        keep: Vec<(IpFamily, u128, usize)>,
    },
}

/// What a pass produced.
pub(super) struct PassResult {
    /// Per Service index; `None` for left-out duplicates.
    pub(super) resolved: Vec<Option<Resolved>>,
    /// Per Service index: current addresses given up in this pass, with the reason.
    pub(super) dropped: Vec<Vec<(IpAddr, String)>>,
    /// Held addresses per family index.
    pub(super) used: [AddrSet; 2],
}

impl PassResult {
    /// Addresses each Service holds after the pass, sorted.
    pub(super) fn held(&self) -> Vec<Vec<IpAddr>> {
        let to_ips = |addrs: &[(IpFamily, u128, usize)]| -> Vec<IpAddr> {
            let mut ips: Vec<IpAddr> = addrs.iter().map(|a| value_to_ip(a.0, a.1)).collect();
            ips.sort_unstable();
            ips
        };
        self.resolved
            .iter()
            .map(|r| match r {
                Some(Resolved::Allocated { addrs, .. }) => to_ips(addrs),
                Some(Resolved::Failed { keep, .. }) => to_ips(keep),
                None => Vec::new(),
            })
            .collect()
    }
}

/// Mutable state of a pass.
pub(super) struct State<'c, 'a> {
    pub(super) ctx: &'c Context<'a>,
    /// Held addresses per family index.
    pub(super) used: [AddrSet; 2],
    /// Held or reserved addresses per family index: what a free-address search skips.
    pub(super) blocked: [AddrSet; 2],
    pub(super) holders: Holders,
    pub(super) slots: Vec<[Option<Held>; 2]>,
    pub(super) dropped: Vec<Vec<(IpAddr, String)>>,
    /// Services whose allocation step is done (their holdings are final for the pass).
    pub(super) processed: Vec<bool>,
}

/// Runs one pass over `currents` (per Service index). `others` holds addresses per family
/// index that Services outside the context hold for good (none in a whole plan; a settled
/// plan's in [`super::newest`]): nobody here is given one, and the pass's `used` counts them.
pub(super) fn run_pass(
    ctx: &Context<'_>,
    currents: &[Vec<IpAddr>],
    others: &[AddrSet; 2],
) -> PassResult {
    let n = ctx.services.len();
    let mut blocked = others.clone();
    ctx.reserved.block(&mut blocked);
    let mut state = State {
        ctx,
        used: others.clone(),
        blocked,
        holders: Holders::with_capacity(n),
        slots: vec![[None, None]; n],
        dropped: vec![Vec::new(); n],
        processed: vec![false; n],
    };
    for &i in &ctx.order {
        state.rebuild(i, currents.get(i).map_or(&[], Vec::as_slice));
    }
    let mut resolved = vec![None; n];
    for &i in &ctx.order {
        let outcome = state.allocate(i);
        state.processed[i] = true;
        if let Some(slot) = resolved.get_mut(i) {
            *slot = Some(outcome);
        }
    }
    PassResult {
        resolved,
        dropped: state.dropped,
        used: state.used,
    }
}

impl State<'_, '_> {
    pub(super) fn demand(&self, i: usize) -> &Demand {
        &self.ctx.demands[i]
    }

    pub(super) fn service(&self, i: usize) -> &ServiceRequest {
        self.ctx.services[i]
    }

    /// Whether `addr` has a holder that will certainly still hold it at the end of the pass:
    /// one already processed, or one whose address is neither superseded by a request nor half
    /// of an incomplete RequireDualStack pair. Only such addresses may be joined as-is.
    pub(super) fn settled(&self, family: IpFamily, value: u128) -> bool {
        self.holders.members((family, value)).iter().any(|&m| {
            let slots = self.slots[m];
            let require = self.service(m).family_policy == FamilyPolicy::RequireDualStack;
            self.processed[m]
                || (slots[family.index()].is_some_and(|h| !h.superseded)
                    && !(require && slots.iter().any(Option::is_none)))
        })
    }

    pub(super) fn drop_current(&mut self, i: usize, ip: IpAddr, reason: String) {
        if let Some(list) = self.dropped.get_mut(i) {
            list.push((ip, reason));
        }
    }

    /// Takes `value` for Service `i` (callers checked that it may).
    pub(super) fn take(&mut self, i: usize, family: IpFamily, value: u128) {
        self.used[family.index()].insert(value);
        self.blocked[family.index()].insert(value);
        self.holders.add((family, value), i, self.ctx.services);
    }

    /// Gives up a held address of Service `i`, recording why.
    fn release(&mut self, i: usize, family: IpFamily, reason: String) {
        let Some(held) = self.slots[i][family.index()].take() else {
            return;
        };
        if self
            .holders
            .remove((family, held.value), i, self.ctx.services)
        {
            self.used[family.index()].remove(held.value);
            if !self.ctx.reserved.contains(family, held.value) {
                self.blocked[family.index()].remove(held.value);
            }
        }
        self.drop_current(i, value_to_ip(family, held.value), reason);
    }

    /// Allocation step for Service `i`: fills missing families as its policy demands.
    fn allocate(&mut self, i: usize) -> Resolved {
        let demand = self.demand(i);
        if let Some(problem) = demand.problem.clone() {
            return self.fail(i, problem);
        }
        let families = demand.families.len();
        let mut wins: Vec<(IpFamily, u128, usize)> = Vec::new();
        let mut losses: Vec<(IpFamily, Problem)> = Vec::new();
        for k in 0..families {
            let family = self.demand(i).families[k];
            if self.slots[i][family.index()].is_some_and(|h| !h.superseded) {
                continue;
            }
            match self.acquire(i, family) {
                Ok((value, rank)) => wins.push((family, value, rank)),
                Err(problem) => losses.push((family, problem)),
            }
        }
        let policy = self.service(i).family_policy;
        if let Some((_, problem)) = losses
            .iter()
            .find(|(f, _)| self.slots[i][f.index()].is_some())
        {
            // A requested move that cannot happen yet: stay where we are.
            return self.fail(i, problem.clone());
        }
        let has_some = !wins.is_empty() || self.slots[i].iter().any(Option::is_some);
        match (losses.first(), policy) {
            (None, _) => {}
            (Some((_, problem)), FamilyPolicy::RequireDualStack) => {
                let problem = require_dual_stack(problem);
                return self.fail(i, problem);
            }
            (Some((_, problem)), FamilyPolicy::SingleStack) => {
                return self.fail(i, problem.clone());
            }
            (Some((_, problem)), FamilyPolicy::PreferDualStack) if !has_some => {
                return self.fail(i, problem.clone());
            }
            (Some(_), FamilyPolicy::PreferDualStack) => {}
        }
        for (family, value, rank) in wins {
            if self.slots[i][family.index()].is_some() {
                let why = format!("moved to {} as requested", value_to_ip(family, value));
                self.release(i, family, why);
            }
            self.take(i, family, value);
            self.slots[i][family.index()] = Some(Held {
                value,
                rank,
                superseded: false,
            });
        }
        let missing = losses
            .into_iter()
            .map(|(family, p)| MissingFamily {
                family,
                reason: p.reason,
                message: p.message,
            })
            .collect();
        Resolved::Allocated {
            addrs: self.held_addrs(i),
            missing,
        }
    }

    /// Fails Service `i`: it keeps what it holds, except that RequireDualStack keeps both
    /// families or nothing.
    fn fail(&mut self, i: usize, problem: Problem) -> Resolved {
        let slots = self.slots[i];
        let complete = self.service(i).family_policy != FamilyPolicy::RequireDualStack
            || slots.iter().all(Option::is_some);
        if !complete {
            for family in IpFamily::ALL {
                let why = format!(
                    "ipFamilyPolicy RequireDualStack gets both families or none ({})",
                    problem.message
                );
                self.release(i, family, why);
            }
        }
        Resolved::Failed {
            keep: self.held_addrs(i),
            problem,
        }
    }

    /// Held addresses of Service `i`, in its family order.
    fn held_addrs(&self, i: usize) -> Vec<(IpFamily, u128, usize)> {
        let slots = self.slots[i];
        let wanted = &self.demand(i).families;
        let rest = IpFamily::ALL.into_iter().filter(|f| !wanted.contains(f));
        wanted
            .iter()
            .copied()
            .chain(rest)
            .filter_map(|f| slots[f.index()].map(|h| (f, h.value, h.rank)))
            .collect()
    }
}

/// Rewords a per-family failure of a RequireDualStack Service.
fn require_dual_stack(problem: &Problem) -> Problem {
    let reason = match problem.reason {
        FailureReason::NoEligiblePool => FailureReason::DualStackImpossible,
        other => other,
    };
    let message = format!(
        "ipFamilyPolicy RequireDualStack needs both IPv4 and IPv6, so the Service gets neither: {}",
        problem.message
    );
    Problem::new(reason, message)
}
