//! Kubernetes objects → the IP planner's ([`crate::ipam`]) inputs. Pure: no client, no I/O.
//!
//! Which Services the controller owns ([`owned`]), what each one asks for
//! ([`service_request`]), what each pool offers ([`pool`]) and which addresses are Nodes' own
//! ([`node_addresses`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_adapter::classify::{self, DefaultClass, Mode, classify};
use ferrolb_adapter::requested::{Honour, Requested};
use ferrolb_adapter::selector::{Labels, Selector};
use ferrolb_adapter::service::{self, ServiceView};
use ferrolb_api::VIPPool;
use ferrolb_api::names::{LABEL_MODE, MODE_EDGE};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::ResourceExt;

use crate::ipam::{CreationOrder, Pool, ServiceAllocation, ServiceRequest};

/// Whether the controller owns `svc` ([`classify`]): `type: LoadBalancer` and class
/// `ferrolb.io/lb`, or no class when the controller is the cluster's default implementation.
pub fn owned(svc: &Service, default_class: bool) -> bool {
    classify(svc, DefaultClass::claimed(default_class)).is_some()
}

/// The LoadBalancer addresses in a Service's status, in order (unparsable entries and
/// hostnames skipped).
pub fn status_ips(svc: &Service) -> Vec<IpAddr> {
    ferrolb_adapter::ingress::ingress_ip_list(svc)
}

/// What a Service asks for, plus a problem with its request that the planner cannot see
/// (an address that does not parse). A Service with a problem is still planned, with its
/// current addresses requested so that nothing moves, and then reported as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The planner's input.
    pub request: ServiceRequest,
    /// What is wrong with the request, and how to fix it.
    pub problem: Option<String>,
}

/// Builds the planner's view of an owned Service. `current` is the status the controller
/// believes in (its own last write when the watch has not caught up yet); `honour` says
/// whether MetalLB's annotations count ([`Requested`]).
pub fn service_request(
    svc: &Service,
    namespace_labels: &Labels,
    current: Vec<IpAddr>,
    current_pool: Option<String>,
    honour: Honour,
) -> Parsed {
    let key = service::key(svc);
    let spec = svc.spec.clone().unwrap_or_default();
    let asked = Requested::of(svc.annotations(), honour);
    let mut problems = Vec::new();
    let mut requested = Vec::new();
    let mut requested_text = Vec::new();
    if let Some(list) = asked.ips {
        requested_text.extend(
            list.value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (list.name, s.to_string())),
        );
    }
    if let Some(ip) = spec.load_balancer_ip.as_deref().filter(|s| !s.is_empty()) {
        requested_text.push(("spec.loadBalancerIP", ip.trim().to_string()));
    }
    for (source, text) in requested_text {
        match text.parse::<IpAddr>() {
            Ok(ip) if !requested.contains(&ip) => requested.push(ip),
            Ok(_) => {}
            Err(_) => problems.push(format!(
                "{source}: {text:?} is not an IP address: write one IPv4 and/or one IPv6 \
                 address, comma-separated, e.g. 198.51.100.10,2001:db8::10"
            )),
        }
    }
    let view = ServiceView::of(svc);
    let ports = view.ports.iter().map(|p| (p.protocol, p.port)).collect();
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    let requested_ips = if problem.is_some() {
        current.clone()
    } else {
        requested
    };
    let request = ServiceRequest {
        uid: svc.uid().unwrap_or_default(),
        creation_order: creation_order(svc.creation_timestamp(), svc.uid()),
        key,
        namespace_labels: namespace_labels.clone(),
        labels: svc.labels().clone(),
        families: view.families,
        family_policy: view.family_policy,
        requested_ips,
        requested_pool: asked.pool.map(|p| p.value.trim().to_string()),
        sharing_key: asked.sharing_key.map(|k| k.value.trim().to_string()),
        ports,
        external_traffic_policy: view.external_traffic_policy,
        selector: view.selector,
        current,
        current_pool,
        edge: classify::mode(svc) == Mode::Edge,
    };
    Parsed { request, problem }
}

/// Builds the planner's view of a VIPPool, with the problems of selectors that could not be
/// converted (those match nothing).
pub fn pool(ipp: &VIPPool) -> (Pool, Vec<String>) {
    let spec = &ipp.spec;
    let mut problems = Vec::new();
    let mut selector = |field: &str, s: &LabelSelector| {
        Selector::try_from(s).unwrap_or_else(|e| {
            problems.push(format!(
                "spec.serviceAllocation.{field}: {e}; until it is fixed the pool makes no new allocation (Services keep the addresses they hold from it)"
            ));
            Selector::nothing()
        })
    };
    let pool = Pool {
        name: ipp.name_any(),
        addresses: spec.addresses.clone(),
        auto_assign: spec.auto_assign,
        avoid_buggy_ips: spec.avoid_buggy_ips,
        disabled: spec.disabled,
        allocation: spec.service_allocation.as_ref().map(|a| ServiceAllocation {
            priority: a.priority,
            namespaces: a.namespaces.clone(),
            namespace_selector: a
                .namespace_selector
                .as_ref()
                .map(|s| selector("namespaceSelector", s)),
            service_selector: a
                .service_selector
                .as_ref()
                .map(|s| selector("serviceSelector", s)),
        }),
        creation_order: creation_order(ipp.creation_timestamp(), ipp.uid()),
        edge: ipp.labels().get(LABEL_MODE).map(String::as_str) == Some(MODE_EDGE),
    };
    (pool, problems)
}

fn creation_order(ts: Option<Time>, uid: Option<String>) -> CreationOrder {
    (
        ts.map_or(i64::MAX, |t| t.0.as_second()),
        uid.unwrap_or_default(),
    )
}

/// Every address of every Node (`status.addresses` of type InternalIP or ExternalIP), with
/// the Node's name: these are never handed out.
pub fn node_addresses(nodes: &[impl AsRef<Node>]) -> BTreeMap<IpAddr, String> {
    let mut out = BTreeMap::new();
    for node in nodes {
        let node = node.as_ref();
        let name = node.name_any();
        for addr in node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
        {
            if let Ok(ip) = addr.address.parse::<IpAddr>() {
                out.entry(ip).or_insert_with(|| name.clone());
            }
        }
    }
    out
}
