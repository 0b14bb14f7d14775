//! What the nodes' side (speaker, edge) keeps of each watched object: only the fields some of
//! its code reads, applied by the reflectors before an object enters a store (issue 21: at
//! 10,000 Services the full objects were most of the speaker's memory, the Services'
//! `managedFields` alone about 5 KiB each).
//!
//! Every reader was checked when these were written; a field dropped here reads as absent.
//! - Services: everything but `managedFields` (only the edge's own entries, for
//!   [`status_fields`](crate::ownership::status_fields)), the annotations no ferrolb code
//!   reads (only `ferrolb.io/` and MetalLB's, see [`requested`](crate::requested)), the pod
//!   selector (the nodes read endpoints from EndpointSlices; only the controller compares
//!   selectors, for sharing an address), the cluster IPs, the internal traffic policy and
//!   `allocateLoadBalancerNodePorts`, the finalizers and the conditions but
//!   [`READ_CONDITIONS`]. UID, resourceVersion, labels, creation time and generation stay
//!   (events, proofs, policies).
//! - EndpointSlices are kept in a shape of their own, [`NodeSlice`](crate::slice::NodeSlice).
//! - `ServiceAnnouncement`s are kept by the speaker as a digest of their status
//!   (`ferrolb_speaker::daemon::announced`).

use k8s_openapi::api::core::v1::Service;

use ferrolb_core::names::{CONDITION_EDGE_SERVING, CONDITION_EXTERNAL_IPS, MANAGER_EDGE};

/// The Service conditions the nodes' side reads: the controller's externalIPs review (speaker)
/// and the edge's own (edge). The controller's `Allocated` condition and anyone else's are
/// dropped (each about 270 bytes with its message).
const READ_CONDITIONS: [&str; 2] = [CONDITION_EXTERNAL_IPS, CONDITION_EDGE_SERVING];

/// Prefixes of the annotations ferrolb reads on Services (its own and MetalLB's).
const READ_ANNOTATIONS: [&str; 3] = ["ferrolb.io/", "metallb.io/", "metallb.universe.tf/"];

/// A Service as the speaker and the edge keep it.
pub fn service(svc: &mut Service) {
    let meta = &mut svc.metadata;
    if let Some(entries) = meta.managed_fields.as_mut() {
        entries.retain(|e| e.manager.as_deref() == Some(MANAGER_EDGE));
        if entries.is_empty() {
            meta.managed_fields = None;
        }
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|k, _| READ_ANNOTATIONS.iter().any(|p| k.starts_with(p)));
    }
    meta.finalizers = None;
    // Lists are parsed into vectors grown 4 at a time: most hold one item.
    if let Some(spec) = svc.spec.as_mut() {
        // A map of one entry is a B-tree node of about 540 bytes.
        spec.selector = None;
        // The nodes' side programs no cluster IP (kube-proxy does), nor reads the internal
        // policy or the node port allocation switch.
        spec.cluster_ip = None;
        spec.cluster_ips = None;
        spec.internal_traffic_policy = None;
        spec.allocate_load_balancer_node_ports = None;
        shrink(&mut spec.ports);
        shrink(&mut spec.ip_families);
        shrink(&mut spec.external_ips);
    }
    if let Some(status) = svc.status.as_mut() {
        if let Some(conditions) = status.conditions.as_mut() {
            conditions.retain(|c| READ_CONDITIONS.contains(&c.type_.as_str()));
            if conditions.is_empty() {
                status.conditions = None;
            }
        }
        shrink(&mut status.conditions);
        if let Some(lb) = status.load_balancer.as_mut() {
            shrink(&mut lb.ingress);
        }
    }
}

fn shrink<T>(list: &mut Option<Vec<T>>) {
    if let Some(list) = list {
        list.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_service_keeps_what_is_read() {
        let mut svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1",
                "resourceVersion": "7", "labels": {"app": "web"},
                "annotations": {"ferrolb.io/allocation-proof": "p", "metallb.io/allow-shared-ip": "k",
                    "metallb.universe.tf/address-pool": "a",
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
                "managedFields": [{"manager": "ferrolb-controller", "subresource": "status"},
                                  {"manager": MANAGER_EDGE, "subresource": "status"},
                                  {"manager": "kubectl"}]},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "clusterIP": "10.96.0.9",
                "clusterIPs": ["10.96.0.9"], "internalTrafficPolicy": "Cluster",
                "externalTrafficPolicy": "Local"},
            "status": {"conditions": [
                {"type": "ferrolb.io/Allocated", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Allocated", "message": "allocated 192.0.2.1"},
                {"type": "ferrolb.io/ExternalIPsAllowed", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Allowed", "message": "m"},
                {"type": "example.com/Other", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "R", "message": "m"},
                {"type": "ferrolb.io/EdgeServing", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Serving", "message": "m"}]},
        }))
        .unwrap();
        svc.metadata.finalizers = Some(vec!["service.kubernetes.io/load-balancer-cleanup".into()]);
        service(&mut svc);
        let m = &svc.metadata;
        let annotations: Vec<&str> = m
            .annotations
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            annotations,
            [
                "ferrolb.io/allocation-proof",
                "metallb.io/allow-shared-ip",
                "metallb.universe.tf/address-pool"
            ]
        );
        let managers: Vec<_> = m
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|e| e.manager.as_deref())
            .collect();
        assert_eq!(managers, [MANAGER_EDGE]);
        assert_eq!(
            (m.uid.as_deref(), m.resource_version.as_deref()),
            (Some("u1"), Some("7"))
        );
        assert_eq!(m.labels.as_ref().map(|l| l.len()), Some(1));
        assert_eq!(m.finalizers, None);
        let spec = svc.spec.as_ref().unwrap();
        assert_eq!(spec.selector, None);
        assert_eq!((&spec.cluster_ip, &spec.cluster_ips), (&None, &None));
        assert_eq!(spec.internal_traffic_policy, None);
        assert_eq!(spec.external_traffic_policy.as_deref(), Some("Local"));
        let conditions: Vec<&str> = svc
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(conditions, READ_CONDITIONS);

        let mut bare: Service = serde_json::from_value(json!({
            "metadata": {"managedFields": [{"manager": "kubectl"}]},
            "status": {"conditions": [{"type": "ferrolb.io/Allocated", "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Allocated", "message": "m"}]},
        }))
        .unwrap();
        service(&mut bare);
        assert_eq!(bare.metadata.managed_fields, None);
        assert_eq!(bare.status.and_then(|s| s.conditions), None);
    }
}
