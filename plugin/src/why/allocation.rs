//! Step 1, ownership and allocation: class, type, the controller's `Allocated` condition and
//! Warning events, the pool (exists, selects the Service, disabled, exhausted), requested
//! addresses, sharing key, IP families, and the controller's leader Lease.

use std::net::IpAddr;

use ferrolb_adapter::ingress::ingress_ip_list;
use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::requested::{Honour, Requested};
use ferrolb_api::names::{ANN_ALLOCATED_FROM, LOAD_BALANCER_CLASS};
use ferrolb_controller::inputs::ipam_request;
use ferrolb_controller::ipam::Pool;
use ferrolb_controller::ipam::outcome::FailureReason;
use ferrolb_core::names::{CONDITION_ALLOCATED, REASON_ALLOCATED};
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use super::{STEP_ALLOCATION, Snapshot, Step};

/// Runs step 1.
pub fn check(snap: &Snapshot, now: jiff::Timestamp) -> Step {
    let svc = &snap.service;
    let spec = svc.spec.clone().unwrap_or_default();
    let mut ev = Vec::new();
    let type_ = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    if type_ != "LoadBalancer" {
        let has_external = spec.external_ips.as_ref().is_some_and(|v| !v.is_empty());
        return if has_external {
            Step::skipped(
                STEP_ALLOCATION,
                vec![format!(
                    "type {type_}: no allocation; its externalIPs are checked next"
                )],
            )
        } else {
            Step::failed(
                STEP_ALLOCATION,
                vec![format!("type {type_}, no externalIPs")],
                "set spec.type: LoadBalancer (or list spec.externalIPs allowed by an ExternalIPPolicy)",
            )
        };
    }
    match spec.load_balancer_class.as_deref() {
        Some(LOAD_BALANCER_CLASS) => ev.push(format!("class {LOAD_BALANCER_CLASS}")),
        Some(other) => {
            return Step::failed(
                STEP_ALLOCATION,
                vec![format!("loadBalancerClass {other}: another load balancer's")],
                format!(
                    "loadBalancerClass is immutable: recreate the Service with loadBalancerClass {LOAD_BALANCER_CLASS}"
                ),
            );
        }
        None => ev.push("no loadBalancerClass: ferrolb's only when the controller runs as the default class (controller.defaultClass)".to_string()),
    }
    ev.push(format!("ipFamilies {}", families(svc)));
    let lease = lease_fresh(snap, now);
    ev.push(lease.as_ref().map_or_else(|e| e.clone(), |s| s.clone()));
    match &snap.webhook {
        Some(Ok(())) => ev.push("webhook reachable (it refused the apiserver's dry-run probe)".into()),
        Some(Err(e)) => ev.push(format!(
            "webhook NOT reachable: {e}: Services' externalIPs and requests are not checked at admission (the controller still polices them); check the ferrolb-controller Pods and Service ferrolb-webhook"
        )),
        None => {}
    }
    warnings(snap, &mut ev);

    let condition = allocated_condition(svc);
    let ingress = ingress_ip_list(svc);
    if let Some((status, reason, message)) = &condition {
        ev.push(format!(
            "condition {CONDITION_ALLOCATED}={status} reason {reason}: {message}"
        ));
        if status == "True" && reason == REASON_ALLOCATED && !ingress.is_empty() {
            let pool = svc.annotations().get(ANN_ALLOCATED_FROM).cloned();
            ev.push(format!(
                "allocated {} from pool {}",
                list(&ingress),
                pool.as_deref().unwrap_or("(unknown)")
            ));
            return Step::passed(STEP_ALLOCATION, ev);
        }
    } else {
        ev.push(format!("no condition {CONDITION_ALLOCATED} yet"));
    }
    not_allocated(snap, ev, condition.map(|c| c.1), lease.err())
}

/// Why nothing (or not everything) is allocated: the first cause found, with its fix.
fn not_allocated(
    snap: &Snapshot,
    mut ev: Vec<String>,
    reason: Option<String>,
    lease_problem: Option<String>,
) -> Step {
    let svc = &snap.service;
    let namespace = svc.namespace().unwrap_or_default();
    let requested = Requested::of(svc.annotations(), Honour::MetalLb);
    let pools: Vec<(Pool, Vec<String>)> =
        snap.pools.iter().map(|p| ipam_request::pool(p)).collect();
    let views = Pools::new(&snap.pools);
    let selects = |p: &Pool| {
        p.allocation
            .as_ref()
            .is_none_or(|a| a.matches(&namespace, &snap.namespace_labels, svc.labels()))
    };
    if let Some(key) = requested.sharing_key {
        ev.push(format!("sharing key {} ({})", key.value.trim(), key.name));
    }
    // Requested addresses must lie in some pool.
    if let Some(ips) = requested.ips {
        for text in ips
            .value
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let Ok(ip) = text.parse::<IpAddr>() else {
                return Step::failed(
                    STEP_ALLOCATION,
                    ev,
                    format!(
                        "{} lists {text:?}, not an IP address: correct the annotation",
                        ips.name
                    ),
                );
            };
            let holders = views.containing(ip);
            if holders.is_empty() {
                ev.push(format!("requested {ip} ({})", ips.name));
                return Step::failed(
                    STEP_ALLOCATION,
                    ev,
                    format!(
                        "requested address {ip} is outside every VIPPool: add it to a VIPPool's spec.addresses or request an address of a pool"
                    ),
                );
            }
            ev.push(format!(
                "requested {ip} lies in pool {}",
                holders.join(", ")
            ));
        }
    }
    // The pools that may serve the Service.
    let eligible: Vec<&Pool> = match requested.pool {
        Some(named) => {
            let name = named.value.trim();
            let Some((pool, _)) = pools.iter().find(|(p, _)| p.name == name) else {
                return Step::failed(
                    STEP_ALLOCATION,
                    ev,
                    format!(
                        "pool {name} ({}) does not exist: create VIPPool {name} or correct the annotation",
                        named.name
                    ),
                );
            };
            if !selects(pool) {
                return Step::failed(
                    STEP_ALLOCATION,
                    ev,
                    format!(
                        "pool {name} does not select Service {}: widen VIPPool {name}'s spec.serviceAllocation (namespaces, namespaceSelector, serviceSelector)",
                        ferrolb_adapter::service::key(svc)
                    ),
                );
            }
            vec![pool]
        }
        None => pools
            .iter()
            .map(|(p, _)| p)
            .filter(|p| p.auto_assign && selects(p))
            .collect(),
    };
    if eligible.is_empty() {
        return Step::failed(
            STEP_ALLOCATION,
            ev,
            format!(
                "no VIPPool selects namespace {namespace} (or this Service): add {namespace} to a VIPPool's spec.serviceAllocation.namespaces (or its selectors), or create a VIPPool for it"
            ),
        );
    }
    ev.push(format!(
        "eligible pools: {}",
        eligible
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let enabled: Vec<&&Pool> = eligible.iter().filter(|p| !p.disabled).collect();
    if enabled.is_empty() {
        let names: Vec<&str> = eligible.iter().map(|p| p.name.as_str()).collect();
        return Step::failed(
            STEP_ALLOCATION,
            ev,
            format!(
                "pool {} is disabled: set spec.disabled: false on VIPPool {}",
                names.join(", "),
                names.join(", ")
            ),
        );
    }
    let exhausted: Vec<String> = enabled
        .iter()
        .filter_map(|p| exhaustion(snap, &p.name))
        .collect();
    if exhausted.len() == enabled.len()
        || reason.as_deref() == Some(FailureReason::PoolExhausted.as_str())
    {
        let first = exhausted
            .first()
            .cloned()
            .unwrap_or_else(|| "the eligible pools are exhausted".into());
        let name = enabled.first().map(|p| p.name.as_str()).unwrap_or_default();
        return Step::failed(
            STEP_ALLOCATION,
            ev,
            format!("{first}: add addresses to VIPPool {name} or delete unused Services"),
        );
    }
    if reason.as_deref() == Some(FailureReason::SharingConflict.as_str()) {
        return Step::failed(
            STEP_ALLOCATION,
            ev,
            "sharing key conflict: the Services with this key must have the same pool, compatible ports (no port used twice) and the same requested addresses; change the key or align the Services",
        );
    }
    if let Some(problem) = lease_problem {
        return Step::failed(
            STEP_ALLOCATION,
            ev,
            format!(
                "{problem}: check the ferrolb-controller Pods (kubectl -n ferrolb-system get pods,lease)"
            ),
        );
    }
    Step::failed(
        STEP_ALLOCATION,
        ev,
        match reason {
            Some(r) => format!("the controller does not allocate ({r}): its condition message and events above say why"),
            None => "the controller has not judged this Service: check that ferrolb-controller runs and owns it (class)".into(),
        },
    )
}

/// `pool X is exhausted (used/total addresses in use)` when a family of pool `name` has none
/// available, from its status.
fn exhaustion(snap: &Snapshot, name: &str) -> Option<String> {
    let pool = snap.pools.iter().find(|p| p.name_any() == name)?;
    let status = pool.status.as_ref()?;
    let counts: Vec<_> = [status.ipv4.as_ref(), status.ipv6.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    if counts.is_empty() || counts.iter().any(|c| c.available != "0") {
        return None;
    }
    let c = counts.first()?;
    Some(format!(
        "pool {name} is exhausted ({}/{} addresses in use)",
        c.used, c.total
    ))
}

/// The controller's Lease: `Ok(evidence)` when fresh, `Err(problem)` otherwise.
fn lease_fresh(snap: &Snapshot, now: jiff::Timestamp) -> Result<String, String> {
    crate::leader::fresh(snap.lease.as_ref(), now)
}

/// The last three Warning events.
fn warnings(snap: &Snapshot, ev: &mut Vec<String>) {
    let mut warn: Vec<_> = snap
        .events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    warn.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
    for e in warn.iter().rev().take(3) {
        ev.push(format!(
            "event Warning {}: {}",
            e.reason.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("")
        ));
    }
}

fn allocated_condition(svc: &Service) -> Option<(String, String, String)> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == CONDITION_ALLOCATED)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn families(svc: &Service) -> String {
    let spec = svc.spec.as_ref();
    let fams = spec.and_then(|s| s.ip_families.clone()).unwrap_or_default();
    let policy = spec
        .and_then(|s| s.ip_family_policy.clone())
        .unwrap_or_else(|| "SingleStack".into());
    format!(
        "{} ({policy})",
        if fams.is_empty() {
            "unset".into()
        } else {
            fams.join(",")
        }
    )
}

pub(crate) fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
