//! The allocation plan one decision keeps for the next ([`super::DecisionMemo`]), and how the
//! next one plans from it (issue 21):
//! - the pools, the blocked addresses and every request the same, in the same order: the
//!   same plan (a resync, or a change to what the planner does not read);
//! - the pools and the blocked addresses the same, the requests those of a plan that settled
//!   at once ([`ipam::Base`]) plus newer Services: those are planned on it alone
//!   ([`ipam::plan_newest`]), so one more Service among 10,000 costs what that Service costs.
//!   Of the Services planned so, those that settled too join the base: the Service that got
//!   its address in one decision is, once its status shows it, part of the base the next
//!   Service is planned on. A whole plan leaves a base too: all of it, or its older Services
//!   when only Services newer than them, which held nothing, got addresses (the plan after a
//!   Service was created among settled ones);
//! - anything else (a Service of the base changed or gone, a pool changed): the whole plan.
//!
//! Either way the plan equals the whole plan of the same inputs (`ipam/tests_newest.rs` for
//! the planner, `tests/memo.rs` for the decision).

use std::collections::HashMap;
use std::sync::Arc;

use crate::inputs::ipam_request::Parsed;
use crate::ipam::{self, Plan, Pool, Reserved, ServiceRequest};
use ferrolb_core::ServiceKey;

/// A plan and what it was made from.
#[derive(Debug)]
pub(super) struct KeptPlan {
    pools: Vec<Pool>,
    blocked: Reserved,
    /// Every request planned, in the decision's order.
    requests: Vec<Arc<Parsed>>,
    plan: Arc<Plan>,
    /// The part of the plan that settled at once, when one did.
    base: Option<KeptBase>,
}

/// The requests of a plan that settled at once, and the Services planned on it since.
#[derive(Debug)]
struct KeptBase {
    base: ipam::Base,
    /// The base's requests by Service (clients choose the keys: std's keyed hasher).
    members: HashMap<ServiceKey, Arc<Parsed>>,
    /// Services planned on the base (their outcomes are in the plan, the base's too).
    on_top: Vec<ServiceKey>,
}

/// [`ipam::plan_over`] of `pools`, the requests of `parsed` and `blocked`, from what `kept`
/// holds where it can; `kept` then holds this plan.
pub(super) fn plan(
    kept: &mut Option<KeptPlan>,
    pools: Vec<Pool>,
    parsed: &[Arc<Parsed>],
    blocked: Reserved,
) -> Arc<Plan> {
    if let Some(k) = kept
        && k.pools == pools
        && k.blocked == blocked
    {
        if same_requests(&k.requests, parsed) {
            return Arc::clone(&k.plan);
        }
        if k.plan_newest(parsed) {
            k.requests = parsed.to_vec();
            return Arc::clone(&k.plan);
        }
    }
    let requests: Vec<&ServiceRequest> = parsed.iter().map(|p| &p.request).collect();
    let (plan, settled) = ipam::plan_with_base(&pools, &requests, &blocked);
    let base = settled.map(|settled| KeptBase {
        base: settled.base,
        members: parsed
            .iter()
            .filter(|p| !settled.newer.contains(&p.request.key))
            .map(|p| (p.request.key.clone(), Arc::clone(p)))
            .collect(),
        on_top: settled.newer,
    });
    let plan = Arc::new(plan);
    *kept = Some(KeptPlan {
        pools,
        blocked,
        requests: parsed.to_vec(),
        plan: Arc::clone(&plan),
        base,
    });
    plan
}

/// The same requests in the same order (compared by value where their objects differ).
fn same_requests(kept: &[Arc<Parsed>], parsed: &[Arc<Parsed>]) -> bool {
    kept.len() == parsed.len()
        && kept
            .iter()
            .zip(parsed)
            .all(|(a, b)| Arc::ptr_eq(a, b) || a.request == b.request)
}

impl KeptPlan {
    /// Plans `parsed` on the base when they are its requests and newer ones: true when the
    /// plan now holds their plan.
    fn plan_newest(&mut self, parsed: &[Arc<Parsed>]) -> bool {
        let Some(kept) = &mut self.base else {
            return false;
        };
        let mut members = 0;
        let mut newer: Vec<&Arc<Parsed>> = Vec::new();
        for p in parsed {
            match kept.members.get(&p.request.key) {
                Some(m) if Arc::ptr_eq(m, p) || m.request == p.request => members += 1,
                // A Service of the base changed.
                Some(_) => return false,
                None => newer.push(p),
            }
        }
        // A Service of the base is gone, or nothing is new (a Service planned on the base went).
        if members != kept.members.len() || newer.is_empty() {
            return false;
        }
        let requests: Vec<&ServiceRequest> = newer.iter().map(|p| &p.request).collect();
        let Some(planned) = ipam::plan_newest(&self.pools, &self.blocked, &kept.base, &requests)
        else {
            return false;
        };
        let plan = Arc::make_mut(&mut self.plan);
        for key in &kept.on_top {
            plan.services.remove(key);
        }
        plan.services.extend(planned.services);
        plan.pools = planned.pools;
        kept.on_top = requests.iter().map(|r| r.key.clone()).collect();
        // What settled joins the base: all of them, or else all but the newest (the Service
        // whose address was just given; the others' statuses show theirs).
        let joining = match planned.base {
            Some(base) => Some((newer, base)),
            None if newer.len() > 1 => {
                let mut older = newer;
                older.sort_by(|a, b| a.request.planning_order().cmp(&b.request.planning_order()));
                older.pop();
                let requests: Vec<&ServiceRequest> = older.iter().map(|p| &p.request).collect();
                ipam::plan_newest(&self.pools, &self.blocked, &kept.base, &requests)
                    .and_then(|p| p.base)
                    .map(|base| (older, base))
            }
            None => None,
        };
        if let Some((joined, base)) = joining {
            for p in joined {
                kept.on_top.retain(|k| k != &p.request.key);
                kept.members.insert(p.request.key.clone(), Arc::clone(p));
            }
            kept.base = base;
        }
        true
    }
}
