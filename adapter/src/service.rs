//! The one reading of a Kubernetes `Service` into the domain model: every setting ferrolb
//! uses is converted here, once, for the controller, the speakers and the edge
//! ([`ServiceView::of`]). A new Service setting is added here and nowhere else.

use std::collections::BTreeMap;

use ferrolb_core::sourceranges::ParsedSourceRanges;
use ferrolb_core::{
    FamilyPolicy, IpFamily, Protocol, ServiceKey, SourceRanges, TargetPort, TrafficPolicy,
};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// kube-proxy's default ClientIP affinity timeout (3 hours).
pub const DEFAULT_AFFINITY_SECONDS: u32 = 10_800;

/// One usable Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    /// Port name (`None` when unnamed or empty).
    pub name: Option<String>,
    /// Transport protocol (TCP when unset).
    pub protocol: Protocol,
    /// The Service port.
    pub port: u16,
    /// The allocated nodePort (`None` when absent, 0 or out of range).
    pub node_port: Option<u16>,
    /// Where traffic goes on the endpoints (the port itself when unset).
    pub target: TargetPort,
}

impl PortView {
    /// How the port is named in messages: `name (port)` or the number.
    pub fn label(&self) -> String {
        self.name
            .as_deref()
            .map_or_else(|| self.port.to_string(), |n| format!("{n} ({})", self.port))
    }
}

/// A Service as ferrolb reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    /// Namespace and name.
    pub key: ServiceKey,
    /// `spec.ipFamilies` that are known, primary first (IPv4 when none is).
    pub families: Vec<IpFamily>,
    /// `spec.ipFamilyPolicy` (SingleStack when unset or unknown).
    pub family_policy: FamilyPolicy,
    /// `spec.externalTrafficPolicy` (Cluster when unset or unknown).
    pub external_traffic_policy: TrafficPolicy,
    /// `spec.healthCheckNodePort` (`None` when absent, 0 or out of range).
    pub health_check_node_port: Option<u16>,
    /// `spec.loadBalancerSourceRanges`, fail-safe (see [`SourceRanges::parse`]).
    pub source_ranges: ParsedSourceRanges,
    /// `ClientIP` session affinity timeout in seconds (`None`: no affinity).
    pub affinity: Option<u32>,
    /// The usable ports.
    pub ports: Vec<PortView>,
    /// Ports that cannot be used, each with why ("port 80: protocol ... is not known ...").
    pub skipped_ports: Vec<String>,
    /// The pod selector.
    pub selector: BTreeMap<String, String>,
}

impl ServiceView {
    /// Reads `svc`.
    pub fn of(svc: &Service) -> ServiceView {
        ServiceView::keyed(svc, key(svc))
    }

    /// Reads `svc`, whose key the caller has as `key` (shared, not copied).
    pub fn keyed(svc: &Service, key: ServiceKey) -> ServiceView {
        let spec = svc.spec.as_ref();
        let mut ports = Vec::new();
        let mut skipped_ports = Vec::new();
        for p in spec.and_then(|s| s.ports.as_ref()).into_iter().flatten() {
            match port(p) {
                Ok(view) => ports.push(view),
                Err(why) => skipped_ports.push(why),
            }
        }
        let families: Vec<IpFamily> = spec
            .and_then(|s| s.ip_families.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|f| f.parse().ok())
            .collect();
        ServiceView {
            key,
            families: if families.is_empty() {
                vec![IpFamily::V4]
            } else {
                families
            },
            family_policy: spec
                .and_then(|s| s.ip_family_policy.as_deref()?.parse().ok())
                .unwrap_or_default(),
            external_traffic_policy: traffic_policy(svc),
            health_check_node_port: spec
                .and_then(|s| s.health_check_node_port)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0),
            source_ranges: source_ranges(svc),
            affinity: affinity(svc),
            ports,
            skipped_ports,
            selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
        }
    }
}

/// The key of `svc`.
pub fn key(svc: &Service) -> ServiceKey {
    let (namespace, name) = key_parts(svc);
    ServiceKey::new(namespace, name)
}

/// The namespace and name of `svc`, borrowed: its [`key`] without copying (the name is
/// `generateName` when unset, as `name_any` reads it).
pub fn key_parts(svc: &Service) -> (&str, &str) {
    let meta = &svc.metadata;
    let name = meta.name.as_deref().or(meta.generate_name.as_deref());
    (
        meta.namespace.as_deref().unwrap_or_default(),
        name.unwrap_or_default(),
    )
}

/// `spec.externalTrafficPolicy` (Cluster when unset or unknown).
pub fn traffic_policy(svc: &Service) -> TrafficPolicy {
    svc.spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref()?.parse().ok())
        .unwrap_or_default()
}

/// `spec.loadBalancerSourceRanges`, fail-safe: bad entries are dropped and returned, and when
/// entries were given but none is valid nobody is allowed.
pub fn source_ranges(svc: &Service) -> ParsedSourceRanges {
    let entries = svc
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_source_ranges.as_deref())
        .unwrap_or_default();
    SourceRanges::parse(entries)
}

/// `ClientIP` session affinity: the timeout (kube-proxy's default when unset).
pub fn affinity(svc: &Service) -> Option<u32> {
    let spec = svc.spec.as_ref()?;
    (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(DEFAULT_AFFINITY_SECONDS)
    })
}

/// A port's protocol (TCP when unset).
pub fn protocol(p: &ServicePort) -> Result<Protocol, String> {
    p.protocol
        .as_deref()
        .unwrap_or("TCP")
        .parse()
        .map_err(|e| format!("port {}: {e}", p.port))
}

fn port(p: &ServicePort) -> Result<PortView, String> {
    let protocol = protocol(p)?;
    let number = u16::try_from(p.port)
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| format!("port {}: not a valid port number (1-65535)", p.port))?;
    let target = match &p.target_port {
        None => TargetPort::Number(number),
        Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).unwrap_or(0)),
        Some(IntOrString::String(name)) => TargetPort::Named(name.clone()),
    };
    Ok(PortView {
        name: p.name.clone().filter(|n| !n.is_empty()),
        protocol,
        port: number,
        node_port: p
            .node_port
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0),
        target,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn service(spec: Value) -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn defaults_of_a_bare_service() {
        let v = ServiceView::of(&service(json!({})));
        assert_eq!(v.key, ServiceKey::new("shop", "web"));
        assert_eq!(v.families, [IpFamily::V4]);
        assert_eq!(v.family_policy, FamilyPolicy::SingleStack);
        assert_eq!(v.external_traffic_policy, TrafficPolicy::Cluster);
        assert_eq!(v.health_check_node_port, None);
        assert_eq!(v.source_ranges.ranges, SourceRanges::Any);
        assert_eq!(v.affinity, None);
        assert!(v.ports.is_empty() && v.skipped_ports.is_empty());
    }

    #[test]
    fn every_setting_is_read() {
        let v = ServiceView::of(&service(json!({
            "ipFamilies": ["IPv6", "IPv4"],
            "ipFamilyPolicy": "RequireDualStack",
            "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 32000,
            "loadBalancerSourceRanges": ["203.0.113.0/24", "office"],
            "sessionAffinity": "ClientIP",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080},
                {"port": 53, "protocol": "UDP", "targetPort": 5353},
                {"port": 9, "protocol": "SCTP", "nodePort": 0},
                {"port": 1, "protocol": "QUIC"},
                {"port": 70000},
            ],
        })));
        assert_eq!(v.families, [IpFamily::V6, IpFamily::V4]);
        assert_eq!(v.family_policy, FamilyPolicy::RequireDualStack);
        assert_eq!(v.external_traffic_policy, TrafficPolicy::Local);
        assert_eq!(v.health_check_node_port, Some(32000));
        assert_eq!(v.source_ranges.rejected.len(), 1);
        assert!(v.source_ranges.ranges.restricts());
        assert_eq!(v.affinity, Some(DEFAULT_AFFINITY_SECONDS));
        assert_eq!(v.selector.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            v.ports,
            [
                PortView {
                    name: Some("http".into()),
                    protocol: Protocol::Tcp,
                    port: 80,
                    node_port: Some(30080),
                    target: TargetPort::Named("web".into()),
                },
                PortView {
                    name: None,
                    protocol: Protocol::Udp,
                    port: 53,
                    node_port: None,
                    target: TargetPort::Number(5353),
                },
                PortView {
                    name: None,
                    protocol: Protocol::Sctp,
                    port: 9,
                    node_port: None,
                    target: TargetPort::Number(9),
                },
            ]
        );
        assert_eq!(v.ports[0].label(), "http (80)");
        assert_eq!(
            v.skipped_ports,
            [
                "port 1: protocol \"QUIC\" is not known; use one of TCP, UDP, SCTP",
                "port 70000: not a valid port number (1-65535)",
            ]
        );
    }
}
