//! The planner entry point: builds the context, runs passes until the held addresses are a
//! fixed point, and reports outcomes relative to the Services' current status.

use std::collections::{BTreeMap, HashSet};

use foldhash::fast::RandomState;
use std::net::IpAddr;

use super::addrset::AddrSet;
use super::demand::Demand;
use super::model::{CreationOrder, Pool, Reserved, ServiceRequest};
use super::newest::{Base, SettledPart};
use super::outcome::{Change, Plan, ServiceOutcome};
use super::pass::{Context, PassResult, Resolved, run_pass};
use super::pool::PoolTable;
use super::reserved::Reservations;
use super::usage::pool_usage;
use ferrolb_core::{IpFamily, ServiceKey, ip_to_value, value_to_ip};

/// Upper bound on passes. A pass that releases addresses (a requested move, a RequireDualStack
/// Service giving up half) is followed by another so that Services processed before the release
/// can use what was freed; in practice two passes suffice, one when nothing changes.
const MAX_PASSES: usize = 8;

/// Plans addresses for every Service of the snapshot.
///
/// Current addresses that are still valid are kept (oldest Service first when two claim one),
/// then missing addresses are allocated oldest Service first. The same snapshot always gives
/// the same plan, and feeding the plan's addresses back as `current` gives the same addresses
/// with every change `Unchanged`. Service keys must be unique: of duplicates only the oldest
/// is planned. Nothing is reserved: see [`plan_with`].
pub fn plan(pools: &[Pool], services: &[ServiceRequest]) -> Plan {
    plan_with(pools, services, &Reserved::new())
}

/// [`plan`] with reserved addresses (typically Node addresses), which pools may cover but
/// which are never allocated:
/// - a Service holding a reserved address gives it up ([`Change::Moved`], the reason says why
///   the address is reserved) and gets another one the normal way;
/// - an explicit request for a reserved address is refused
///   ([`super::FailureReason::RequestRefused`]);
/// - each pool's [`super::PoolUsage::reserved`] lists the reserved addresses it covers, which
///   count neither as used nor as available.
pub fn plan_with(pools: &[Pool], services: &[ServiceRequest], reserved: &Reserved) -> Plan {
    let services: Vec<&ServiceRequest> = services.iter().collect();
    plan_over(pools, &services, reserved)
}

/// [`plan_with`] over borrowed requests (the decision keeps its requests between passes and
/// lends them).
pub fn plan_over(pools: &[Pool], services: &[&ServiceRequest], reserved: &Reserved) -> Plan {
    plan_with_base(pools, services, reserved).0
}

/// [`plan_over`], and the [`Base`] newer Services can be planned on ([`super::plan_newest`]):
/// of the whole plan when it settled at once (every Service held what it gets and got all it
/// asks for), else of its oldest Services when they did and every newer one held nothing
/// ([`SettledPart::newer`] names those).
pub fn plan_with_base(
    pools: &[Pool],
    services: &[&ServiceRequest],
    reserved: &Reserved,
) -> (Plan, Option<SettledPart>) {
    let table = PoolTable::new(pools);
    let reserved = Reservations::new(reserved);
    let demands = Demand::all(services, &table, &reserved);
    let mut order: Vec<usize> = (0..services.len()).collect();
    order.sort_by(|&a, &b| {
        services[a]
            .planning_order()
            .cmp(&services[b].planning_order())
    });
    let mut seen: HashSet<_, RandomState> = HashSet::default();
    order.retain(|&i| seen.insert(&services[i].key));
    // Left-out duplicates start (and stay) empty, so they never block the fixed point.
    let mut original: Vec<Vec<IpAddr>> = vec![Vec::new(); services.len()];
    for &i in &order {
        original[i] = dedup(&services[i].current);
    }
    let ctx = Context {
        table,
        services,
        demands,
        order,
        reserved,
    };
    let (plan, used) = plan_passes(&ctx, &original, &Default::default());
    let settled = match used {
        Some(used) => Some(SettledPart {
            base: Base {
                used,
                newest: newest_of(&ctx, &ctx.order),
            },
            newer: Vec::new(),
        }),
        None => settled_part(&ctx, &original, &plan),
    };
    (plan, settled)
}

/// The planner's order of the newest of `order`.
fn newest_of(ctx: &Context<'_>, order: &[usize]) -> Option<(CreationOrder, ServiceKey)> {
    order.last().map(|&i| {
        let s = ctx.services[i];
        (s.creation_order.clone(), s.key.clone())
    })
}

/// The oldest Services of a plan that did not settle at once, as a [`Base`], when each of them
/// holds what it held and got all it asks for, and every newer one held nothing. Those newer
/// ones take nothing before the older ones are rebuilt and, allocating nothing, stay as they
/// are, so every pass treats the older ones as a plan of them alone would: which settles at
/// once, holding their addresses.
fn settled_part(ctx: &Context<'_>, original: &[Vec<IpAddr>], plan: &Plan) -> Option<SettledPart> {
    // With duplicate keys left out, outcomes by key are not per request.
    if ctx.order.len() != ctx.services.len() {
        return None;
    }
    let settled = |i: usize| {
        matches!(
            plan.services.get(&ctx.services[i].key),
            Some(ServiceOutcome::Allocated { change: Change::Unchanged, missing, .. })
                if missing.is_empty()
        )
    };
    let split = ctx.order.iter().position(|&i| !settled(i))?;
    let (older, newer) = ctx.order.split_at(split);
    if newer.iter().any(|&i| !original[i].is_empty()) {
        return None;
    }
    let mut used = [AddrSet::default(), AddrSet::default()];
    for &i in older {
        for ip in plan.held_ips(&ctx.services[i].key) {
            used[IpFamily::of(*ip).index()].insert(ip_to_value(*ip));
        }
    }
    Some(SettledPart {
        base: Base {
            used,
            newest: newest_of(ctx, older),
        },
        newer: newer.iter().map(|&i| ctx.services[i].key.clone()).collect(),
    })
}

/// Runs passes over `ctx` from the `original` addresses (per Service index) until the held
/// addresses are a fixed point, beside the addresses `others` hold ([`run_pass`]); the plan,
/// and the addresses held (`others`' included) when it settled at once: the first pass was
/// that fixed point, and every Service got all it asks for.
pub(super) fn plan_passes(
    ctx: &Context<'_>,
    original: &[Vec<IpAddr>],
    others: &[AddrSet; 2],
) -> (Plan, Option<[AddrSet; 2]>) {
    let mut reasons: Vec<BTreeMap<IpAddr, String>> = vec![BTreeMap::new(); ctx.services.len()];
    let mut passes = 0;
    let mut currents: Option<Vec<Vec<IpAddr>>> = None;
    let (result, at_once) = loop {
        let result = run_pass(ctx, currents.as_deref().unwrap_or(original), others);
        passes += 1;
        for (i, dropped) in result.dropped.iter().enumerate() {
            for (ip, why) in dropped {
                reasons[i].entry(*ip).or_insert_with(|| why.clone());
            }
        }
        let held = result.held();
        let fixed = same_sets(&held, currents.as_deref().unwrap_or(original));
        if fixed || passes >= MAX_PASSES {
            break (result, fixed && passes == 1);
        }
        currents = Some(held);
    };
    let plan = assemble(ctx, &result, original, &reasons);
    // A Service that failed or misses a family tries again in every pass, and what it is told
    // depends on what the others hold by then: such a plan is no base.
    let complete = plan
        .services
        .values()
        .all(|o| matches!(o, ServiceOutcome::Allocated { missing, .. } if missing.is_empty()));
    (plan, (at_once && complete).then_some(result.used))
}

pub(super) fn dedup(ips: &[IpAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::with_capacity(ips.len());
    for ip in ips {
        if !out.contains(ip) {
            out.push(*ip);
        }
    }
    out
}

/// Whether each Service's held addresses (sorted, without duplicates) are the set of its
/// currents.
fn same_sets(held: &[Vec<IpAddr>], currents: &[Vec<IpAddr>]) -> bool {
    held.len() == currents.len()
        && held.iter().zip(currents).all(|(h, c)| {
            // Most hold one address: compared without a sorted copy.
            match (h.as_slice(), c.as_slice()) {
                ([], []) => true,
                ([a], [b]) => a == b,
                _ => {
                    let mut c = c.clone();
                    c.sort_unstable();
                    c.dedup();
                    *h == c
                }
            }
        })
}

fn assemble(
    ctx: &Context<'_>,
    result: &PassResult,
    original: &[Vec<IpAddr>],
    reasons: &[BTreeMap<IpAddr, String>],
) -> Plan {
    let pool_name = |rank: usize| {
        ctx.table
            .pools
            .get(rank)
            .map(|p| p.pool.name.clone())
            .unwrap_or_default()
    };
    let mut services = BTreeMap::new();
    for &i in &ctx.order {
        let Some(resolved) = result.resolved.get(i).and_then(Option::as_ref) else {
            continue;
        };
        let outcome = match resolved {
            Resolved::Allocated { addrs, missing } => {
                let ips: Vec<IpAddr> = addrs.iter().map(|a| value_to_ip(a.0, a.1)).collect();
                let pools: Vec<String> = addrs.iter().map(|a| pool_name(a.2)).collect();
                let change = change(&original[i], &ips, &reasons[i]);
                ServiceOutcome::Allocated {
                    pool: pools.first().cloned().unwrap_or_default(),
                    ips,
                    pools,
                    change,
                    missing: missing.clone(),
                }
            }
            Resolved::Failed { problem, keep } => ServiceOutcome::Failed {
                reason: problem.reason,
                message: problem.message.clone(),
                keep: keep.iter().map(|a| value_to_ip(a.0, a.1)).collect(),
            },
        };
        services.insert(ctx.services[i].key.clone(), outcome);
    }
    Plan {
        services,
        pools: pool_usage(&ctx.table, &result.used, &ctx.reserved),
    }
}

fn change(original: &[IpAddr], ips: &[IpAddr], reasons: &BTreeMap<IpAddr, String>) -> Change {
    if original.is_empty() {
        return Change::New;
    }
    let from: Vec<IpAddr> = original
        .iter()
        .copied()
        .filter(|ip| !ips.contains(ip))
        .collect();
    let to: Vec<IpAddr> = ips
        .iter()
        .copied()
        .filter(|ip| !original.contains(ip))
        .collect();
    match (from.is_empty(), to.is_empty()) {
        (true, true) => Change::Unchanged,
        (true, false) => Change::AddedFamily { added: to },
        (false, _) => {
            let reason = from
                .iter()
                .map(|ip| {
                    format!(
                        "{ip}: {}",
                        reasons.get(ip).map_or("no longer valid", String::as_str)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            Change::Moved { from, to, reason }
        }
    }
}
