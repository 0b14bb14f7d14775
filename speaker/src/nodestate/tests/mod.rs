//! Behaviour of [`desired`](super::desired) on snapshots built from JSON literals.

mod addresses;
mod eligibility;
mod external_ips;
pub(super) mod fixtures;
mod golden;
mod memo;
mod probes;
mod rules;
