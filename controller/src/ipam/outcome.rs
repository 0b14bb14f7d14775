//! Output types of the planner: what each Service gets and how each pool is used.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ferrolb_core::ServiceKey;
use ferrolb_core::{AddrRange, AddressError, IpFamily};

/// The result of [`super::plan`] / [`super::plan_with`]: one outcome per Service in the snapshot and usage per pool.
/// Services absent from the snapshot do not appear; releasing them is the shell's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Outcome per Service.
    pub services: BTreeMap<ServiceKey, ServiceOutcome>,
    /// Usage, conflicts and invalid entries per pool name.
    pub pools: BTreeMap<String, PoolUsage>,
}

impl Plan {
    /// Every overlap conflict of every pool, in pool-name order.
    pub fn conflicts(&self) -> impl Iterator<Item = &PoolConflict> {
        self.pools.values().flat_map(|usage| usage.conflicts.iter())
    }

    /// The addresses a Service holds after the plan (see [`ServiceOutcome::held_ips`]).
    pub fn held_ips(&self, key: &ServiceKey) -> &[IpAddr] {
        self.services
            .get(key)
            .map(ServiceOutcome::held_ips)
            .unwrap_or(&[])
    }
}

/// What a Service gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// The Service has addresses as its request and policy demand.
    Allocated {
        /// One address per family, primary family first.
        ips: Vec<IpAddr>,
        /// Pool of the first address.
        pool: String,
        /// Pool of each address, same order as `ips`.
        pools: Vec<String>,
        /// How this differs from the Service's current status.
        change: Change,
        /// PreferDualStack only: families that could not be had yet, and why.
        missing: Vec<MissingFamily>,
    },
    /// The Service could not get what it asks for.
    Failed {
        /// Machine-readable reason (also usable as an Event / condition reason).
        reason: FailureReason,
        /// What is wrong and what to change.
        message: String,
        /// Current addresses the Service keeps meanwhile (leave them in its status).
        /// RequireDualStack Services keep both families or nothing.
        keep: Vec<IpAddr>,
    },
}

impl ServiceOutcome {
    /// The addresses held after the plan: `ips` when allocated, `keep` when failed.
    pub fn held_ips(&self) -> &[IpAddr] {
        match self {
            ServiceOutcome::Allocated { ips, .. } => ips,
            ServiceOutcome::Failed { keep, .. } => keep,
        }
    }
}

/// How an allocated Service's addresses differ from its current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Same addresses as in the status.
    Unchanged,
    /// The status had no address; these are new.
    New,
    /// Every current address is kept and addresses of a missing family were added.
    AddedFamily {
        /// The added addresses.
        added: Vec<IpAddr>,
    },
    /// Some current addresses were given up (and possibly replaced).
    Moved {
        /// Current addresses given up.
        from: Vec<IpAddr>,
        /// Addresses newly taken (may be empty, e.g. when a family is no longer wanted).
        to: Vec<IpAddr>,
        /// Why each given-up address had to go.
        reason: String,
    },
}

/// Why a Service (or one family of it) got no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureReason {
    /// Eligible pools exist but have no free address.
    PoolExhausted,
    /// No pool may give this Service an address of the family.
    NoEligiblePool,
    /// An explicitly requested address or pool cannot be granted.
    RequestRefused,
    /// The Service's sharing key names a group it cannot join.
    SharingConflict,
    /// RequireDualStack cannot be satisfied.
    DualStackImpossible,
    /// The request itself is contradictory or malformed.
    InvalidRequest,
}

impl FailureReason {
    /// CamelCase name, usable as a Kubernetes Event or condition reason.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::PoolExhausted => "PoolExhausted",
            FailureReason::NoEligiblePool => "NoEligiblePool",
            FailureReason::RequestRefused => "RequestRefused",
            FailureReason::SharingConflict => "SharingConflict",
            FailureReason::DualStackImpossible => "DualStackImpossible",
            FailureReason::InvalidRequest => "InvalidRequest",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A family a PreferDualStack Service wants but could not get in this plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingFamily {
    /// The missing family.
    pub family: IpFamily,
    /// Why it is missing.
    pub reason: FailureReason,
    /// What to change.
    pub message: String,
}

/// Usage of one pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// IPv4 figures.
    pub ipv4: FamilyUsage,
    /// IPv6 figures.
    pub ipv6: FamilyUsage,
    /// Older pools this pool overlaps; the overlapping addresses are never allocated from it.
    pub conflicts: Vec<PoolConflict>,
    /// Entries that could not be parsed; the pool still serves its valid entries.
    pub invalid_entries: Vec<InvalidEntry>,
    /// Reserved addresses inside the pool's valid entries, ascending: never allocated, counted
    /// neither as used nor as available.
    pub reserved: Vec<IpAddr>,
    /// Invalid `serviceAllocation` selectors, one message each naming the field (see
    /// [`super::ServiceAllocation::selector_problems`]); while any is listed the pool makes no
    /// new allocation (`available` is 0), but Services keep the addresses they hold from it.
    pub selector_problems: Vec<String>,
}

impl PoolUsage {
    /// The figures of `family`.
    pub fn family(&self, family: IpFamily) -> &FamilyUsage {
        match family {
            IpFamily::V4 => &self.ipv4,
            IpFamily::V6 => &self.ipv6,
        }
    }
}

/// Address counts of one family in one pool. Counts saturate at `u128::MAX`
/// (only `::/0`, with 2^128 addresses, exceeds it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FamilyUsage {
    /// Addresses covered by the pool's valid entries.
    pub total: u128,
    /// Addresses inside the pool held by some Service (including ones owned by an older
    /// overlapping pool).
    pub used: u128,
    /// Addresses the pool could still hand out: 0 when disabled or when a `serviceAllocation`
    /// selector is invalid; excludes addresses owned by
    /// older overlapping pools, reserved addresses and, with `avoid_buggy_ips`, IPv4
    /// `.0`/`.255` addresses.
    pub available: u128,
}

/// Two pools share addresses; the younger one (`pool`) never allocates the shared ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConflict {
    /// The younger pool (by creation order, then name).
    pub pool: String,
    /// The older pool that owns the shared addresses.
    pub overlaps_with: String,
    /// The first shared stretch of addresses.
    pub overlap: AddrRange,
}

impl fmt::Display for PoolConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool {} overlaps older pool {} (first shared addresses: {}); the shared addresses are \
             only allocated from {}: remove them from one of the pools",
            self.pool, self.overlaps_with, self.overlap, self.overlaps_with
        )
    }
}

/// An address entry of a pool that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEntry {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub error: AddressError,
}
