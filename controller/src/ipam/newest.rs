//! Planning the newest Services on top of a plan that settled at once, without planning the
//! others again (issue 21: one more Service among 10,000 costs what that Service costs).
//!
//! A plan settled at once when its first pass was already the fixed point and every Service
//! got all it asks for: each kept exactly what it held, and none failed or misses a family
//! ([`Base`]). Take Services newer than all of its Services, none with a sharing key, none
//! holding or requesting an address the base's Services hold. In the whole plan they come
//! last in every pass: each pass rebuilds the base's Services as before (nothing of the newest
//! is held yet when they are rebuilt), allocates nothing for them (they hold all they ask
//! for; one that failed would try again in every pass and be told of what the newest took)
//! and only then gets to the newest. Those see of the base only the addresses it holds:
//! without a sharing key, and asking for no address it holds, nothing else about a holder is
//! asked. So the base's outcomes stay as they were, and the newest get what passes over them
//! alone give them beside the base's held addresses, pass for pass.
//! [`plan_newest`] computes that; `tests_newest.rs` holds it equal to the whole plan.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::addrset::AddrSet;
use super::demand::Demand;
use super::model::{CreationOrder, Pool, Reserved, ServiceRequest};
use super::outcome::{PoolUsage, ServiceOutcome};
use super::pass::Context;
use super::planner::{dedup, plan_passes};
use super::pool::PoolTable;
use super::reserved::Reservations;
use ferrolb_core::{IpFamily, ServiceKey, ip_to_value};

/// What a plan that settled at once (every Service kept what it held and got all it asks for)
/// leaves for planning newer Services on it: the addresses its Services hold, and its newest
/// Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Held addresses per family index.
    pub(super) used: [AddrSet; 2],
    /// The newest Service planned (creation order, then key, as the planner orders them).
    pub(super) newest: Option<(CreationOrder, ServiceKey)>,
}

/// The part of a plan that settled at once ([`super::plan_with_base`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledPart {
    /// Its Services' addresses and newest.
    pub base: Base,
    /// The Services of the plan newer than the base's (none when all of it settled at once).
    pub newer: Vec<ServiceKey>,
}

/// The newest Services planned on a [`Base`].
#[derive(Debug, Clone)]
pub struct Newest {
    /// The outcome of each of the newest Services.
    pub services: BTreeMap<ServiceKey, ServiceOutcome>,
    /// Every pool's usage, the base's addresses and the newest's counted.
    pub pools: BTreeMap<String, PoolUsage>,
    /// The base with the newest Services, when they settled at once too.
    pub base: Option<Base>,
}

/// The outcomes of `newest` and the pools' usage that [`super::plan_over`] gives for the
/// base's Services and `newest` together (the base's own outcomes do not change), given
/// `pools` and `reserved` as the base was planned with and keys that no Service of the base
/// has. `None` when that shortcut does not hold: a Service of `newest` is not newer than the
/// base's newest, has a sharing key, holds or requests an address the base holds, or shares
/// its key with another of `newest`; then plan them all.
pub fn plan_newest(
    pools: &[Pool],
    reserved: &Reserved,
    base: &Base,
    newest: &[&ServiceRequest],
) -> Option<Newest> {
    let mut services: Vec<&ServiceRequest> = newest.to_vec();
    services.sort_by(|a, b| a.planning_order().cmp(&b.planning_order()));
    let oldest = services.first()?;
    if base
        .newest
        .as_ref()
        .is_some_and(|(order, key)| (order, key) >= oldest.planning_order())
    {
        return None;
    }
    // Sorted by key: two Services of one key created at different times are not neighbours
    // in the planner's order.
    let mut keys: Vec<&ServiceKey> = services.iter().map(|s| &s.key).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    let held_by_base =
        |ip: &IpAddr| base.used[IpFamily::of(*ip).index()].contains(ip_to_value(*ip));
    if services.iter().any(|s| {
        s.sharing_key.is_some()
            || s.requested_ips.iter().any(held_by_base)
            || s.current.iter().any(held_by_base)
    }) {
        return None;
    }
    let table = PoolTable::new(pools);
    let reserved = Reservations::new(reserved);
    let demands = Demand::all(&services, &table, &reserved);
    let original: Vec<Vec<IpAddr>> = services.iter().map(|s| dedup(&s.current)).collect();
    let ctx = Context {
        table,
        services: &services,
        demands,
        order: (0..services.len()).collect(),
        reserved,
    };
    let (plan, used) = plan_passes(&ctx, &original, &base.used);
    let newest = services
        .last()
        .map(|s| (s.creation_order.clone(), s.key.clone()));
    Some(Newest {
        services: plan.services,
        pools: plan.pools,
        base: used.map(|used| Base { used, newest }),
    })
}
