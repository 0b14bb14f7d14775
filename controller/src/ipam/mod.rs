//! LoadBalancer IP allocation from IPPools: a pure planner.
//!
//! The I/O shell builds a snapshot (every [`Pool`] and every owned `type: LoadBalancer`
//! [`ServiceRequest`]) and calls [`plan`], which returns a [`Plan`]: per Service either the
//! addresses it holds ([`ServiceOutcome::Allocated`]) or why it has none
//! ([`ServiceOutcome::Failed`]), and per pool its usage, overlap conflicts and invalid entries.
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
pub mod model;
pub mod outcome;
pub mod parse;
mod pass;
mod planner;
mod pool;
pub mod selector;
mod sharing;
mod usage;

#[cfg(test)]
mod tests_parse;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_requests;
#[cfg(test)]
mod tests_rules;
#[cfg(test)]
mod tests_stability;
#[cfg(test)]
mod tests_support;

pub use model::{
    CreationOrder, FamilyPolicy, Pool, Protocol, ServiceAllocation, ServiceKey, ServiceRequest,
    TrafficPolicy,
};
pub use outcome::{
    Change, FailureReason, FamilyUsage, InvalidEntry, MissingFamily, Plan, PoolConflict, PoolUsage,
    ServiceOutcome,
};
pub use parse::{AddrRange, AddressError, Family, parse_address};
pub use planner::plan;
pub use selector::{Labels, Selector, SelectorError, SelectorOperator, SelectorRequirement};
