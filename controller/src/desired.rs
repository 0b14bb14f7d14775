//! What a Service's status should say, and which events tell the change. Pure.
//!
//! The controller owns three things on a Service: `status.loadBalancer.ingress`, the condition
//! [`CONDITION_ALLOCATED`] in `status.conditions`, and the annotation
//! `ferrolb.io/allocated-from`. [`for_outcome`] turns a plan's outcome into those;
//! [`compare`] says what to write and which events to publish. Events are only published when
//! something visible changes, so a resync or a new leader publishes nothing.

use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::ipam::{Change, ServiceOutcome};

pub use ferrolb_core::names::{CONDITION_ALLOCATED, CONDITION_EXTERNAL_IPS};

/// The state of one Service's controller-owned fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owned {
    /// `status.loadBalancer.ingress` addresses, in order.
    pub ips: Vec<IpAddr>,
    /// The `ferrolb.io/allocated-from` annotation: the pools of the addresses, comma-separated.
    pub pool: Option<String>,
    /// The [`CONDITION_ALLOCATED`] condition as (status, reason, message).
    pub condition: Option<CondState>,
    /// The [`CONDITION_EXTERNAL_IPS`] condition (Services with `spec.externalIPs`).
    pub external_ips: Option<CondState>,
}

impl Owned {
    /// The LoadBalancer part is empty (nothing allocated, no allocation condition).
    pub fn no_allocation(&self) -> bool {
        self.ips.is_empty() && self.pool.is_none() && self.condition.is_none()
    }
}

/// A condition without its timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondState {
    /// "True" or "False".
    pub status: bool,
    /// CamelCase reason.
    pub reason: String,
    /// What happened, and what to change when it failed.
    pub message: String,
}

impl CondState {
    /// Reads a Kubernetes condition.
    pub fn from_condition(c: &Condition) -> CondState {
        CondState {
            status: c.status == "True",
            reason: c.reason.clone(),
            message: c.message.clone(),
        }
    }
}

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

/// The controller-owned fields an outcome asks for. `problem` is a request error found before
/// planning (it overrides the outcome: the Service keeps its current addresses). A failed
/// Service that keeps addresses keeps its current annotation too, so speakers go on
/// announcing them.
pub fn for_outcome(outcome: &ServiceOutcome, problem: Option<&str>, current: &Owned) -> Owned {
    if let Some(problem) = problem {
        return failed(
            "InvalidRequest",
            problem,
            &current.ips,
            current.pool.clone(),
        );
    }
    match outcome {
        ServiceOutcome::Allocated {
            ips,
            pools,
            missing,
            ..
        } => {
            let mut unique: Vec<&str> = Vec::new();
            for p in pools {
                if !unique.contains(&p.as_str()) {
                    unique.push(p);
                }
            }
            let mut message = describe(ips, pools);
            let mut reason = "Allocated";
            if !missing.is_empty() {
                reason = "PartiallyAllocated";
                for m in missing {
                    message.push_str(&format!("; {:?} missing: {}", m.family, m.message));
                }
            }
            Owned {
                ips: ips.clone(),
                pool: Some(unique.join(",")),
                condition: Some(CondState {
                    status: true,
                    reason: reason.to_string(),
                    message,
                }),
                external_ips: None,
            }
        }
        ServiceOutcome::Failed {
            reason,
            message,
            keep,
        } => failed(reason.as_str(), message, keep, current.pool.clone()),
    }
}

fn failed(reason: &str, message: &str, keep: &[IpAddr], pool: Option<String>) -> Owned {
    let mut message = message.to_string();
    if !keep.is_empty() {
        message.push_str(&format!(" (keeping {} meanwhile)", join(keep)));
    }
    Owned {
        ips: keep.to_vec(),
        pool: pool.filter(|_| !keep.is_empty()),
        condition: Some(CondState {
            status: false,
            reason: reason.to_string(),
            message,
        }),
        external_ips: None,
    }
}

/// What to do about one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Write the status (ingress and condition).
    pub write_status: bool,
    /// Write the annotation.
    pub write_annotation: bool,
    /// Events to publish once the writes succeeded.
    pub events: Vec<EventSpec>,
}

/// Compares what should be with what is. `change` is the planner's account of an address
/// change (for the event text); `None` when the Service is not (or no longer) owned.
pub fn compare(want: &Owned, have: &Owned, change: Option<&Change>) -> Decision {
    let write_status = want.ips != have.ips
        || want.condition != have.condition
        || want.external_ips != have.external_ips;
    let write_annotation = want.pool != have.pool;
    let mut events = Vec::new();
    // A release is worth an event even when the apiserver already cleared the addresses
    // (it does when the type changes away from LoadBalancer).
    let releasing = change.is_none() && want.no_allocation() && !have.no_allocation();
    if want.ips != have.ips || releasing {
        events.push(address_event(want, have, change));
    }
    if want.condition != have.condition
        && let Some(c) = want.condition.as_ref()
        && (!c.status || c.reason != "Allocated")
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
    Decision {
        write_status,
        write_annotation,
        events,
    }
}

fn address_event(want: &Owned, have: &Owned, change: Option<&Change>) -> EventSpec {
    let pool = want.pool.as_deref().unwrap_or("-");
    if want.ips.is_empty() {
        let why = match change {
            None => "the Service is no longer a LoadBalancer Service of this controller",
            Some(_) => "its addresses could not be kept",
        };
        let what = if have.ips.is_empty() {
            "its addresses".to_string()
        } else {
            join(&have.ips)
        };
        return EventSpec {
            warning: change.is_some(),
            reason: "IPReleased".into(),
            note: format!("released {what}: {why}"),
        };
    }
    match change {
        Some(Change::Moved { from, to, reason }) => EventSpec {
            warning: true,
            reason: "IPChanged".into(),
            note: format!(
                "moved from {} to {} (pool {pool}): {reason}",
                join(from),
                if to.is_empty() {
                    "nothing new".to_string()
                } else {
                    join(to)
                }
            ),
        },
        Some(Change::AddedFamily { added }) => EventSpec {
            warning: false,
            reason: "IPAllocated".into(),
            note: format!("added {} (pool {pool})", join(added)),
        },
        _ if have.ips.is_empty() => EventSpec {
            warning: false,
            reason: "IPAllocated".into(),
            note: format!("allocated {} (pool {pool})", join(&want.ips)),
        },
        _ => EventSpec {
            warning: true,
            reason: "IPChanged".into(),
            note: format!(
                "status corrected from {} to {} (pool {pool})",
                join(&have.ips),
                join(&want.ips)
            ),
        },
    }
}

fn describe(ips: &[IpAddr], pools: &[String]) -> String {
    ips.iter()
        .zip(pools)
        .map(|(ip, pool)| format!("{ip} from pool {pool}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
