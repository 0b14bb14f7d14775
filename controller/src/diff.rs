//! The difference between what a Service's or pool's fields should say and what the cluster
//! shows: which writes to make and which events to publish. Pure.
//!
//! Events are only published when something visible changes, so a resync or a new leader
//! publishes nothing.

use std::sync::Arc;

use ferrolb_api::{VIPPool, VIPPoolStatus};
use ferrolb_core::names::REASON_ALLOCATED;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::inputs::current_fields::Observed;
use crate::ipam::Change;
use crate::owned_fields::{CondState, OwnedFields, join_ips};

/// An event to publish on the Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// Warning (something to fix) or Normal.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: String,
    /// What happened.
    pub note: String,
}

/// What happens to the load-balancer cleanup finalizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizerWrite {
    /// Added before the status is written (so no address is published without it).
    Add,
    /// Removed once everything else was written (the release is complete).
    Remove,
}

/// What differs on one Service: what to write and which events to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDiff {
    /// Write the status (ingress and condition).
    pub write_status: bool,
    /// Write the annotation.
    pub write_annotation: bool,
    /// Add or remove the finalizer.
    pub finalizer: Option<FinalizerWrite>,
    /// Events to publish once the writes succeeded.
    pub events: Vec<EventSpec>,
}

impl ServiceDiff {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        !self.write_status && !self.write_annotation && self.finalizer.is_none()
    }
}

/// Why a Service's fields are what they should be: the planner's account for a Service the
/// controller serves, or why it releases one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account<'a> {
    /// An owned Service: the planner's account of an address change.
    Planned(&'a Change),
    /// No longer a LoadBalancer Service of this controller (type or class changed).
    NotOurs,
    /// An owned Service being deleted (`metadata.deletionTimestamp` set).
    Deleted,
}

impl<'a> Account<'a> {
    /// The planner's account, for a Service the controller serves.
    fn change(self) -> Option<&'a Change> {
        match self {
            Account::Planned(change) => Some(change),
            Account::NotOurs | Account::Deleted => None,
        }
    }
}

/// Compares what should be with what is. `account` says why (for the event text).
pub fn compare(want: &OwnedFields, have: &OwnedFields, account: Account<'_>) -> ServiceDiff {
    let write_status = want.ips != have.ips
        || want.condition != have.condition
        || want.external_ips != have.external_ips;
    let write_annotation = want.pool != have.pool
        || want.proof != have.proof
        || want.external_ips_proof != have.external_ips_proof;
    let finalizer = match (want.finalizer, have.finalizer) {
        (true, false) => Some(FinalizerWrite::Add),
        (false, true) => Some(FinalizerWrite::Remove),
        _ => None,
    };
    let mut events = Vec::new();
    // A release is worth an event even when the apiserver already cleared the addresses
    // (it does when the type changes away from LoadBalancer).
    let releasing = account.change().is_none() && want.no_allocation() && !have.no_allocation();
    if want.ips != have.ips || releasing {
        events.push(address_event(want, have, account));
    }
    if want.condition != have.condition
        && let Some(c) = want.condition.as_ref()
        && (!c.status || c.reason != REASON_ALLOCATED)
    {
        events.push(EventSpec {
            warning: true,
            reason: c.reason.clone(),
            note: c.message.clone(),
        });
    }
    if want.external_ips != have.external_ips
        && let Some(c) = want.external_ips.as_ref()
    {
        let was_refused = have.external_ips.as_ref().is_some_and(|h| !h.status);
        if !c.status || was_refused {
            events.push(EventSpec {
                warning: !c.status,
                reason: c.reason.clone(),
                note: c.message.clone(),
            });
        }
    }
    ServiceDiff {
        write_status,
        write_annotation,
        finalizer,
        events,
    }
}

fn address_event(want: &OwnedFields, have: &OwnedFields, account: Account<'_>) -> EventSpec {
    let pool = want.pool.as_deref().unwrap_or("-");
    if want.ips.is_empty() {
        let why = match account {
            Account::NotOurs => {
                "the Service is no longer a LoadBalancer Service of this controller"
            }
            Account::Deleted => "the Service is being deleted",
            Account::Planned(_) => "its addresses could not be kept",
        };
        let what = if have.ips.is_empty() {
            "its addresses".to_string()
        } else {
            join_ips(&have.ips)
        };
        return EventSpec {
            warning: matches!(account, Account::Planned(_)),
            reason: "IPReleased".into(),
            note: format!("released {what}: {why}"),
        };
    }
    match account.change() {
        Some(Change::Moved { from, to, reason }) => EventSpec {
            warning: true,
            reason: "IPChanged".into(),
            note: format!(
                "moved from {} to {} (pool {pool}): {reason}",
                join_ips(from),
                if to.is_empty() {
                    "nothing new".to_string()
                } else {
                    join_ips(to)
                }
            ),
        },
        Some(Change::AddedFamily { added }) => EventSpec {
            warning: false,
            reason: "IPAllocated".into(),
            note: format!("added {} (pool {pool})", join_ips(added)),
        },
        _ if have.ips.is_empty() => EventSpec {
            warning: false,
            reason: "IPAllocated".into(),
            note: format!("allocated {} (pool {pool})", join_ips(&want.ips)),
        },
        _ => EventSpec {
            warning: true,
            reason: "IPChanged".into(),
            note: format!(
                "status corrected from {} to {} (pool {pool})",
                join_ips(&have.ips),
                join_ips(&want.ips)
            ),
        },
    }
}

/// A write to one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceWrite {
    /// The Service.
    pub service: Arc<Service>,
    /// Its fields after the write.
    pub want: Observed,
    /// What to write and which events to publish.
    pub diff: ServiceDiff,
    /// Failure reason to count in metrics (when the Service newly failed).
    pub failure: Option<String>,
}

/// A write to one pool's status.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolWrite {
    /// The pool's name.
    pub name: String,
    /// Its new status.
    pub status: VIPPoolStatus,
}

/// The write that brings `svc` from `seen` to `want`; `None` when `diff` writes nothing.
/// Conditions keep their `lastTransitionTime` while their status stays the same.
pub fn service_write(
    svc: &Arc<Service>,
    seen: &Observed,
    want: OwnedFields,
    diff: ServiceDiff,
    now: &Time,
) -> Option<ServiceWrite> {
    if diff.is_empty() {
        return None;
    }
    let since = transition(&want.condition, &seen.owned.condition, &seen.since, now);
    let external_ips_since = transition(
        &want.external_ips,
        &seen.owned.external_ips,
        &seen.external_ips_since,
        now,
    );
    let failure = want
        .condition
        .as_ref()
        .filter(|c| !c.status && diff.events.iter().any(|e| e.reason == c.reason))
        .map(|c| c.reason.clone());
    Some(ServiceWrite {
        service: svc.clone(),
        want: Observed {
            owned: want,
            since,
            external_ips_since,
            foreign_ips: Vec::new(),
        },
        diff,
        failure,
    })
}

/// `lastTransitionTime` of a condition: kept while its status stays the same.
fn transition(
    want: &Option<CondState>,
    have: &Option<CondState>,
    since: &Option<Time>,
    now: &Time,
) -> Option<Time> {
    match (want, have, since) {
        (Some(w), Some(h), Some(t)) if w.status == h.status => Some(t.clone()),
        (Some(_), _, _) => Some(now.clone()),
        (None, _, _) => None,
    }
}

/// The write of `pool`'s status; `None` when the pool already shows `status`.
pub fn pool_write(pool: &VIPPool, status: VIPPoolStatus) -> Option<PoolWrite> {
    (pool.status.as_ref() != Some(&status)).then(|| PoolWrite {
        name: pool.name_any(),
        status,
    })
}

#[cfg(test)]
mod tests;
