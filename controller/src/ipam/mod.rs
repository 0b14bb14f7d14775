//! LoadBalancer IP allocation from VIPPools: a pure planner.
//!
//! The I/O shell builds a snapshot (every [`Pool`] and every owned `type: LoadBalancer`
//! [`ServiceRequest`], plus the [`Reserved`] addresses such as Node addresses) and calls
//! [`plan_with`] (or [`plan`] when nothing is reserved), which returns a [`Plan`]: per Service
//! either the addresses it holds ([`ServiceOutcome::Allocated`]) or why it has none
//! ([`ServiceOutcome::Failed`]), and per pool its usage, overlap conflicts, invalid entries,
//! reserved addresses and invalid selectors.
//!
//! # Rules in brief
//! - **Stability.** Each current address that is still valid (inside a pool that serves the
//!   Service and covers it — a disabled pool still counts —, a wanted family, not disputed by
//!   an older incompatible Service) is kept. Only then are missing addresses allocated, oldest
//!   Service first (`creation_order`, then key). The plan of a snapshot whose statuses hold
//!   a plan's addresses has the same addresses, every change `Unchanged`.
//! - **Pool choice.** Pools whose `serviceAllocation` matches come first by priority (lower
//!   first, none last), then pools without one; ties by age then name. A pool whose allocation
//!   does not match is never used. `autoAssign: false` pools serve explicit requests only;
//!   disabled pools make no new allocations; `avoidBuggyIPs` skips IPv4 `.0`/`.255`.
//!   A current address outside every pool that serves the Service is still kept when such a
//!   pool has an invalid entry (the bad entry may have covered it) — fix the entry to settle it.
//!   A `serviceAllocation` selector that is invalid matches nothing (fail closed): the pool
//!   makes no new allocation at all (not even for explicit requests, which are refused) and
//!   reports it in [`PoolUsage::selector_problems`], but a bad pool never drops existing
//!   allocations: a Service keeps its current address inside it while the pool's valid
//!   criteria (namespaces, any valid selector) still select it.
//! - **Reserved addresses** are never allocated: a Service holding one moves off it, an
//!   explicit request for one is refused; pools covering them list them in
//!   [`PoolUsage::reserved`].
//! - **Overlaps.** Addresses covered by several pools are only allocated from the oldest one;
//!   the younger pools report a [`PoolConflict`].
//! - **Requests.** A requested address (at most one per family) or pool must be eligible;
//!   otherwise the Service fails with `RequestRefused` and keeps its current addresses.
//! - **Sharing.** Same namespace, same sharing key, no common `(protocol, port)`, and both
//!   Cluster or both Local with identical pod selectors. A Service with a sharing key joins its
//!   group's address when the group has one (even in a lower-priority, disabled or manual pool,
//!   as long as the pool serves it); a conflict fails the later Service.
//! - **Dual-stack.** SingleStack: the primary family; PreferDualStack: what can be had, the rest
//!   added later; RequireDualStack: both or nothing.
//!
//! Large pools (a /64, even `::/0`) cost memory independent of their size: free addresses are
//! found by skipping runs of held addresses, and counts saturate at `u128::MAX`.

mod acquire;
mod addrset;
mod demand;
mod invalid_selector;
pub mod model;
mod newest;
pub mod outcome;
mod pass;
mod planner;
mod pool;
mod rebuild;
mod reserved;
mod sharing;
mod usage;

#[cfg(test)]
mod tests_newest;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_props_reserved;
#[cfg(test)]
mod tests_requests;
#[cfg(test)]
mod tests_reserved;
#[cfg(test)]
mod tests_rules;
#[cfg(test)]
mod tests_selector_keep;
#[cfg(test)]
mod tests_selectors;
#[cfg(test)]
mod tests_stability;
#[cfg(test)]
mod tests_support;

pub use model::{CreationOrder, Pool, Reserved, ServiceAllocation, ServiceRequest};
pub use newest::{Base, Newest, SettledPart, plan_newest};
pub use outcome::{
    Change, FailureReason, FamilyUsage, InvalidEntry, MissingFamily, Plan, PoolConflict, PoolUsage,
    ServiceOutcome,
};
pub use planner::{plan, plan_over, plan_with, plan_with_base};
