//! What the webhook decides: Services' externalIPs and VIPPool changes, judged against the
//! watched objects. The decisions are pure functions of the request and a snapshot.

use std::net::IpAddr;

use ferrolb_api::VIPPool;
use ferrolb_api::names::ANN_FORCE;
use k8s_openapi::api::authentication::v1::UserInfo as K8sUser;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};

use super::pool_review::{InUse, OtherPool, PoolChange, review_pool};
use crate::admission_stamp::{self, ANN_ADMITTED, StampKey};
use crate::externalips::{self, UserInfo};
use crate::inputs::{Watched, ipam_request, review_facts};

/// The webhook's answer before it is wrapped into an AdmissionResponse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Admit?
    pub allowed: bool,
    /// Why not (shown to the user).
    pub message: Option<String>,
    /// Admission warnings (shown by kubectl).
    pub warnings: Vec<String>,
}

impl Verdict {
    fn allow() -> Verdict {
        Verdict {
            allowed: true,
            ..Verdict::default()
        }
    }

    /// Turns the verdict into the response to `req`.
    pub fn respond<T: kube::Resource>(self, req: &AdmissionRequest<T>) -> AdmissionResponse {
        let mut resp = AdmissionResponse::from(req);
        if !self.allowed {
            resp = resp.deny(self.message.unwrap_or_else(|| "refused".into()));
            resp.result.code = 403;
            resp.result.reason = "Forbidden".into();
        }
        if !self.warnings.is_empty() {
            resp.warnings = Some(self.warnings);
        }
        resp
    }
}

fn user(u: &K8sUser) -> UserInfo {
    UserInfo {
        username: u.username.clone().unwrap_or_default(),
        groups: u.groups.clone().unwrap_or_default(),
    }
}

/// The webhook's refusal of the reachability probe.
pub const PROBE_ANSWER: &str = "ferrolb webhook reachability probe: reached";

/// Reviews a Service create or update: only `spec.externalIPs` is judged. `service_cidrs`
/// are the ClusterIP ranges given by flag.
pub fn service(
    req: &AdmissionRequest<Service>,
    watched: &Watched,
    service_cidrs: &[String],
) -> Verdict {
    let Some(new) = req.object.as_ref() else {
        return Verdict::allow();
    };
    if new
        .annotations()
        .contains_key(ferrolb_api::names::ANN_WEBHOOK_PROBE)
    {
        return Verdict {
            allowed: false,
            message: Some(PROBE_ANSWER.into()),
            warnings: Vec::new(),
        };
    }
    let namespace = req.namespace.clone().unwrap_or_default();
    let mut labels = watched
        .namespaces
        .iter()
        .find(|n| n.name_any() == namespace)
        .map(|n| n.labels().clone())
        .unwrap_or_default();
    labels
        .entry("kubernetes.io/metadata.name".into())
        .or_insert_with(|| namespace.clone());
    let service = review_facts::service_ref(new, &labels);
    if service.external_ips.is_empty() {
        return Verdict::allow();
    }
    let cluster = review_facts::cluster(
        watched,
        &watched.cluster_ip_ranges(service_cidrs),
        (&namespace, &req.name),
    );
    let policies = review_facts::policies(&watched.policies);
    let requester = user(&req.user_info);
    match (&req.operation, req.old_object.as_ref()) {
        (Operation::Update, Some(old)) => {
            let r = externalips::review_update(
                &review_facts::external_ips(old),
                &service,
                Some(&requester),
                &policies,
                &cluster,
            );
            Verdict {
                allowed: r.allowed(),
                message: r.message(),
                warnings: r.warnings(),
            }
        }
        _ => {
            let r = externalips::review(&service, Some(&requester), &policies, &cluster);
            Verdict {
                allowed: r.allowed(),
                message: r.message(),
                warnings: Vec::new(),
            }
        }
    }
}

/// Reviews a VIPPool create, update or delete against the other pools, the addresses in
/// use and the Nodes' addresses.
pub fn vippool(req: &AdmissionRequest<VIPPool>, watched: &Watched) -> Verdict {
    let new = req
        .object
        .as_ref()
        .filter(|_| req.operation != Operation::Delete);
    let old = req.old_object.as_ref();
    let name = new
        .or(old)
        .map(|p| p.name_any())
        .unwrap_or_else(|| req.name.clone());
    let force = new
        .or(old)
        .and_then(|p| p.annotations().get(ANN_FORCE).cloned())
        .is_some_and(|v| v == "true");
    let others: Vec<&VIPPool> = watched
        .pools
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| p.name_any() != name)
        .collect();
    let other_pools: Vec<OtherPool<'_>> = others
        .iter()
        .map(|p| OtherPool {
            name: p.metadata.name.as_deref().unwrap_or_default(),
            addresses: &p.spec.addresses,
        })
        .collect();
    let in_use: Vec<InUse> = watched
        .services
        .iter()
        .flat_map(|s| {
            let who = format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any());
            ipam_request::status_ips(s)
                .into_iter()
                .map(move |ip| InUse {
                    service: who.clone(),
                    ip,
                })
        })
        .collect();
    let nodes: Vec<(String, IpAddr)> = ipam_request::node_addresses(&watched.nodes)
        .into_iter()
        .map(|(ip, node)| (node, ip))
        .collect();
    let change = PoolChange {
        name: &name,
        old: old.map(|p| p.spec.addresses.as_slice()),
        new: new.map(|p| p.spec.addresses.as_slice()),
        force,
    };
    let r = review_pool(&change, &other_pools, &in_use, &nodes);
    Verdict {
        allowed: r.allowed,
        message: r.message,
        warnings: r.warnings,
    }
}

/// The JSON patch stamping a Service with its externalIPs' requester (`None`: nothing to do).
/// An update that leaves the externalIPs as they were (the same list: the stamp covers its
/// order) keeps the stamp of whoever admitted them
/// (the old object's): the controller writing its proof annotation, or a user changing a label,
/// did not admit them.
pub fn stamp_patch(req: &AdmissionRequest<Service>, key: &StampKey) -> Option<json_patch::Patch> {
    use json_patch::{AddOperation, Patch, PatchOperation};
    let svc = req.object.as_ref()?;
    let ips = review_facts::external_ips(svc);
    if ips.is_empty() {
        return None;
    }
    let unchanged_from = req
        .old_object
        .as_ref()
        .filter(|_| req.operation == Operation::Update)
        .filter(|old| review_facts::external_ips(old) == ips);
    let value = match unchanged_from {
        Some(old) => old.annotations().get(ANN_ADMITTED)?.clone(),
        None => {
            let namespace = req.namespace.clone().unwrap_or_default();
            let name = if req.name.is_empty() {
                svc.name_any()
            } else {
                req.name.clone()
            };
            admission_stamp::stamp(key, &namespace, &name, &user(&req.user_info), &ips)
        }
    };
    if svc.annotations().get(ANN_ADMITTED) == Some(&value) {
        return None;
    }
    let mut ops = Vec::new();
    if svc.metadata.annotations.is_none() {
        ops.push(PatchOperation::Add(AddOperation {
            path: "/metadata/annotations".parse().ok()?,
            value: serde_json::json!({}),
        }));
    }
    let path = format!("/metadata/annotations/{}", ANN_ADMITTED.replace('/', "~1"));
    ops.push(PatchOperation::Add(AddOperation {
        path: path.parse().ok()?,
        value: serde_json::Value::String(value),
    }));
    Some(Patch(ops))
}

#[cfg(test)]
#[path = "stamp_tests.rs"]
mod stamp_tests;
