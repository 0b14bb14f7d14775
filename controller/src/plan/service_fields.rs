//! What an owned Service's fields should say, from the allocation plan's outcome. Pure.
//!
//! [`for_outcome`] turns the planner's [`ServiceOutcome`] into the addresses, the
//! `ferrolb.io/allocated-from` annotation and the [`ferrolb_core::names::CONDITION_ALLOCATED`]
//! condition.

use std::net::IpAddr;

use ferrolb_core::names::{REASON_ALLOCATED, REASON_PARTIALLY_ALLOCATED};

use crate::ipam::ServiceOutcome;
use crate::owned_fields::{CondState, OwnedFields, join_ips};

/// The controller-owned fields an outcome asks for. `problem` is a request error found before
/// planning (it overrides the outcome: the Service keeps its current addresses). A failed
/// Service that keeps addresses keeps its current annotation too, so speakers go on
/// announcing them. An owned Service carries the load-balancer cleanup finalizer whatever the
/// outcome, as the upstream service controller adds it before it provisions anything.
pub fn for_outcome(
    outcome: &ServiceOutcome,
    problem: Option<&str>,
    current: &OwnedFields,
) -> OwnedFields {
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
            let mut reason = REASON_ALLOCATED;
            if !missing.is_empty() {
                reason = REASON_PARTIALLY_ALLOCATED;
                for m in missing {
                    message.push_str(&format!("; {:?} missing: {}", m.family, m.message));
                }
            }
            OwnedFields {
                ips: ips.clone(),
                pool: Some(unique.join(",")),
                proof: None,
                condition: Some(CondState {
                    status: true,
                    reason: reason.to_string(),
                    message,
                }),
                external_ips: None,
                external_ips_proof: None,
                finalizer: true,
            }
        }
        ServiceOutcome::Failed {
            reason,
            message,
            keep,
        } => failed(reason.as_str(), message, keep, current.pool.clone()),
    }
}

fn failed(reason: &str, message: &str, keep: &[IpAddr], pool: Option<String>) -> OwnedFields {
    let mut message = message.to_string();
    if !keep.is_empty() {
        message.push_str(&format!(" (keeping {} meanwhile)", join_ips(keep)));
    }
    OwnedFields {
        ips: keep.to_vec(),
        pool: pool.filter(|_| !keep.is_empty()),
        proof: None,
        condition: Some(CondState {
            status: false,
            reason: reason.to_string(),
            message,
        }),
        external_ips: None,
        external_ips_proof: None,
        finalizer: true,
    }
}

fn describe(ips: &[IpAddr], pools: &[String]) -> String {
    ips.iter()
        .zip(pools)
        .map(|(ip, pool)| format!("{ip} from pool {pool}"))
        .collect::<Vec<_>>()
        .join(", ")
}
