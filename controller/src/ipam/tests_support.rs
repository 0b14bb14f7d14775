//! Builders and checks shared by the planner tests.

use ferrolb_adapter::selector::Labels;
use ferrolb_core::{FamilyPolicy, IpFamily, Protocol, ServiceKey};
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::sharing::pair_conflict;
use super::*;

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A pool created at `created`.
pub(super) fn pool(name: &str, created: i64, addrs: &[&str]) -> Pool {
    let mut p = Pool::new(name, addrs);
    p.creation_order = (created, name.to_string());
    p
}

/// A single-stack IPv4 Service created at `created`, serving TCP/80.
pub(super) fn svc(ns: &str, name: &str, created: i64) -> ServiceRequest {
    let mut s = ServiceRequest::new(ns, name);
    s.creation_order = (created, format!("uid-{ns}-{name}"));
    s.ports = vec![(Protocol::Tcp, 80)];
    s
}

pub(super) fn dual(mut s: ServiceRequest, policy: FamilyPolicy) -> ServiceRequest {
    s.families = vec![IpFamily::V4, IpFamily::V6];
    s.family_policy = policy;
    s
}

pub(super) fn key(ns: &str, name: &str) -> ServiceKey {
    ServiceKey::new(ns, name)
}

pub(super) fn outcome<'p>(plan: &'p Plan, ns: &str, name: &str) -> &'p ServiceOutcome {
    plan.services
        .get(&key(ns, name))
        .unwrap_or_else(|| panic!("no outcome for {ns}/{name}"))
}

/// Addresses of an allocated Service (panics with the outcome otherwise).
pub(super) fn ips(plan: &Plan, ns: &str, name: &str) -> Vec<IpAddr> {
    match outcome(plan, ns, name) {
        ServiceOutcome::Allocated { ips, .. } => ips.clone(),
        other => panic!("{ns}/{name} not allocated: {other:?}"),
    }
}

pub(super) fn change(plan: &Plan, ns: &str, name: &str) -> Change {
    match outcome(plan, ns, name) {
        ServiceOutcome::Allocated { change, .. } => change.clone(),
        other => panic!("{ns}/{name} not allocated: {other:?}"),
    }
}

/// Reason, message and kept addresses of a failed Service (panics otherwise).
pub(super) fn failure(plan: &Plan, ns: &str, name: &str) -> (FailureReason, String, Vec<IpAddr>) {
    match outcome(plan, ns, name) {
        ServiceOutcome::Failed {
            reason,
            message,
            keep,
        } => (*reason, message.clone(), keep.clone()),
        other => panic!("{ns}/{name} did not fail: {other:?}"),
    }
}

/// The Services with their status set to what `plan` gave them (as the shell would write it).
pub(super) fn feed_back(services: &[ServiceRequest], plan: &Plan) -> Vec<ServiceRequest> {
    services
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.current = plan.held_ips(&s.key).to_vec();
            s.current_pool = match plan.services.get(&s.key) {
                Some(ServiceOutcome::Allocated { pool, .. }) => Some(pool.clone()),
                _ => s.current_pool.clone(),
            };
            s
        })
        .collect()
}

/// Panics if an address is held by two Services that may not share it.
pub(super) fn assert_no_incompatible_sharing(plan: &Plan, services: &[ServiceRequest]) {
    let by_key: BTreeMap<&ServiceKey, &ServiceRequest> =
        services.iter().map(|s| (&s.key, s)).collect();
    let mut holders: BTreeMap<IpAddr, Vec<&ServiceRequest>> = BTreeMap::new();
    for (k, outcome) in &plan.services {
        for ip in outcome.held_ips() {
            holders.entry(*ip).or_default().push(by_key[k]);
        }
    }
    for (ip, list) in holders {
        for (i, a) in list.iter().enumerate() {
            for b in list.iter().skip(i + 1) {
                assert!(
                    pair_conflict((0, a), b).is_none(),
                    "{ip} held by incompatible {} and {}",
                    a.key,
                    b.key
                );
            }
        }
    }
}
