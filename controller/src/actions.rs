//! One snapshot in, the writes out. Pure: the loop hands it the objects it watches and the
//! addresses it wrote but has not seen back yet; it returns every write and event to make.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::{ExternalIPPolicy, IPPool, IPPoolStatus};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::desired::{self, CondState, Decision, Owned};
use crate::facts;
use crate::ipam::{self, Labels, Plan, ServiceOutcome};
use crate::observed::{self, Observed};
use crate::poolstatus::{self, PoolFacts};
use crate::snapshot;

/// Everything the controller watches.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Every Service.
    pub services: Vec<Arc<Service>>,
    /// Every IPPool.
    pub pools: Vec<Arc<IPPool>>,
    /// Every Namespace.
    pub namespaces: Vec<Arc<Namespace>>,
    /// Every Node.
    pub nodes: Vec<Arc<Node>>,
    /// Every ExternalIPPolicy.
    pub policies: Vec<Arc<ExternalIPPolicy>>,
    /// Every ServiceCIDR (the cluster's ClusterIP ranges).
    pub service_cidrs: Vec<Arc<ServiceCIDR>>,
}

impl World {
    /// The ClusterIP ranges: every ServiceCIDR's CIDRs plus `extra` (from a flag).
    pub fn cluster_ip_ranges(&self, extra: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self
            .service_cidrs
            .iter()
            .filter_map(|c| c.spec.as_ref()?.cidrs.clone())
            .flatten()
            .chain(extra.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
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
    pub decision: Decision,
    /// Failure reason to count in metrics (when the Service newly failed).
    pub failure: Option<String>,
}

/// A write to one pool's status.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolWrite {
    /// The pool's name.
    pub name: String,
    /// Its new status.
    pub status: IPPoolStatus,
}

/// The result of one pass.
#[derive(Debug, Clone)]
pub struct Actions {
    /// Service writes, oldest Service first.
    pub services: Vec<ServiceWrite>,
    /// Pool status writes.
    pub pools: Vec<PoolWrite>,
    /// The plan (for metrics and /debug).
    pub plan: Plan,
}

/// Plans `world` and compares the result with what is observed. `pending` holds the fields
/// the controller wrote (by Service uid) that the watch may not show yet; they win over the
/// watched object.
pub fn compute(
    world: &World,
    pending: &HashMap<String, Observed>,
    settings: &Settings,
    now: &Time,
) -> Actions {
    let default_class = settings.default_class;
    let ns_labels: HashMap<String, Labels> = world
        .namespaces
        .iter()
        .map(|n| (n.name_any(), n.labels().clone()))
        .collect();
    let mut pools = Vec::new();
    let mut pool_problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &world.pools {
        let (pool, problems) = snapshot::pool(p);
        pool_problems.insert(pool.name.clone(), problems);
        pools.push(pool);
    }
    let reserved = snapshot::node_addresses(&world.nodes);

    let policies = facts::policies(&world.policies);
    let cluster = facts::cluster(
        world,
        &world.cluster_ip_ranges(&settings.service_cidrs),
        ("", ""),
    );
    let empty = Labels::new();
    let key = settings.stamp_key();
    let external_ips = |svc: &Service| {
        let labels = ns_labels
            .get(&svc.namespace().unwrap_or_default())
            .unwrap_or(&empty);
        external_ips_condition(svc, labels, &policies, &cluster, key.as_deref())
    };

    let mut owned = Vec::new();
    let mut others = Vec::new();
    for svc in &world.services {
        let uid = svc.uid().unwrap_or_default();
        let seen = pending
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| observed::observe(svc));
        let eip = external_ips(svc);
        if snapshot::owned(svc, default_class) {
            owned.push((svc.clone(), seen, eip));
        } else if observed::touched(&seen) || eip.is_some() {
            others.push((svc.clone(), seen, eip));
        }
    }
    let parsed: Vec<snapshot::Parsed> = owned
        .iter()
        .map(|(svc, seen, _)| {
            let labels = ns_labels
                .get(&svc.namespace().unwrap_or_default())
                .unwrap_or(&empty);
            snapshot::service_request(svc, labels, seen.owned.ips.clone(), seen.owned.pool.clone())
        })
        .collect();
    let requests: Vec<ipam::ServiceRequest> = parsed.iter().map(|p| p.request.clone()).collect();
    let plan = ipam::plan_with(&pools, &requests, &reserved_map(&reserved));

    let mut services = Vec::new();
    let new = ipam::Change::New;
    for ((svc, seen, eip), parsed) in owned.iter().zip(&parsed) {
        let Some(outcome) = plan.services.get(&parsed.request.key) else {
            continue;
        };
        let mut want = desired::for_outcome(outcome, parsed.problem.as_deref(), &seen.owned);
        want.external_ips = eip.clone();
        let change = match outcome {
            ServiceOutcome::Allocated { change, .. } => Some(change),
            ServiceOutcome::Failed { .. } => None,
        };
        let decision = desired::compare(&want, &seen.owned, change.or(Some(&new)));
        push(&mut services, svc, seen, want, decision, now);
    }
    for (svc, seen, eip) in others {
        let want = Owned {
            external_ips: eip,
            ..Owned::default()
        };
        let decision = desired::compare(&want, &seen.owned, None);
        push(&mut services, &svc, &seen, want, decision, now);
    }

    let pools_out = world
        .pools
        .iter()
        .filter_map(|p| {
            let name = p.name_any();
            let usage = plan.pools.get(&name);
            let in_pool: Vec<IpAddr> = usage.map(|u| u.reserved.clone()).unwrap_or_default();
            let problems = pool_problems.get(&name).cloned().unwrap_or_default();
            let mut problems = problems;
            problems.extend(
                usage
                    .map(|u| u.selector_problems.clone())
                    .unwrap_or_default(),
            );
            let facts = PoolFacts {
                usage,
                reserved: &in_pool,
                problems: &problems,
                disabled: p.spec.disabled,
                generation: p.metadata.generation,
            };
            let status = poolstatus::desired(&facts, p.status.as_ref(), now);
            (p.status.as_ref() != Some(&status)).then_some(PoolWrite { name, status })
        })
        .collect();
    Actions {
        services,
        pools: pools_out,
        plan,
    }
}

fn push(
    out: &mut Vec<ServiceWrite>,
    svc: &Arc<Service>,
    seen: &Observed,
    want: Owned,
    decision: Decision,
    now: &Time,
) {
    if !decision.write_status && !decision.write_annotation {
        return;
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
        .filter(|c| !c.status && decision.events.iter().any(|e| e.reason == c.reason))
        .map(|c| c.reason.clone());
    out.push(ServiceWrite {
        service: svc.clone(),
        want: Observed {
            owned: want,
            since,
            external_ips_since,
            foreign_ips: Vec::new(),
        },
        decision,
        failure,
    });
}

fn reserved_map(nodes: &BTreeMap<IpAddr, String>) -> ipam::Reserved {
    nodes
        .iter()
        .map(|(ip, node)| (*ip, format!("address of node {node}")))
        .collect()
}

/// `namespace/name` of a Service, for logs.
pub fn describe(svc: &Service) -> String {
    format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any())
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

/// What the controller needs besides the watched objects.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Own Services without a class.
    pub default_class: bool,
    /// ClusterIP ranges given by flag (added to the ServiceCIDR objects').
    pub service_cidrs: Vec<String>,
    /// The key of admission stamps ([`crate::admitted`]); set once the webhook loaded it.
    pub stamp_key: Arc<std::sync::RwLock<Option<Vec<u8>>>>,
}

impl Settings {
    /// The current stamp key.
    pub fn stamp_key(&self) -> Option<Vec<u8>> {
        self.stamp_key.read().ok().and_then(|k| k.clone())
    }
}

/// The externalIPs condition of a Service (`None` without externalIPs). The requester is the
/// one of a verified admission stamp ([`crate::admitted`]); without one, user-limited
/// policies do not count (fail closed).
pub fn external_ips_condition(
    svc: &Service,
    namespace_labels: &Labels,
    policies: &[crate::externalips::Policy],
    cluster: &crate::externalips::ClusterFacts,
    stamp_key: Option<&[u8]>,
) -> Option<CondState> {
    let service = facts::service_ref(svc, namespace_labels);
    if service.external_ips.is_empty() {
        return None;
    }
    let requester = stamp_key.and_then(|key| {
        let value = svc.annotations().get(crate::admitted::ANN_ADMITTED)?;
        crate::admitted::verify(
            key,
            &service.namespace,
            &service.name,
            &service.external_ips,
            value,
        )
    });
    let review = crate::externalips::review(&service, requester.as_ref(), policies, cluster);
    Some(if review.allowed() {
        CondState {
            status: true,
            reason: "Allowed".into(),
            message: format!(
                "every externalIP is allowed by policy: {}",
                service.external_ips.join(", ")
            ),
        }
    } else {
        CondState {
            status: false,
            reason: "ExternalIPRefused".into(),
            message: review.message().unwrap_or_else(|| "refused".into())
                + "; refused addresses are never announced or programmed",
        }
    })
}
