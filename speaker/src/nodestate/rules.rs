//! A Service → the rule builder's [`ServiceInput`].
//!
//! Every node programs every address it may serve (valid LoadBalancer IPs and allowed
//! externalIPs), announced here or not, like kube-proxy: after a failover the new winner
//! already forwards, clients with a stale ARP/NDP cache still reach the Service, and the node's
//! own traffic to a VIP is delivered locally. `externalTrafficPolicy: Local` stays correct on
//! nodes without a local endpoint because the builder only uses local endpoints there (and
//! drops otherwise). NodePorts are served for ferrolb's LoadBalancer Services only.

use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::election::{ServiceKey, TrafficPolicy};
use crate::ruleset::{self, Endpoint, ExternalTrafficPolicy, PortInput, ServiceInput, TargetPort};

use super::endpoints::protocol;
use super::vips::ServiceVips;

/// kube-proxy's default ClientIP affinity timeout (3 hours).
const DEFAULT_AFFINITY_SECONDS: u32 = 10_800;

/// `spec.externalTrafficPolicy` (`Local`, else `Cluster`).
pub fn traffic_policy(svc: &Service) -> TrafficPolicy {
    match svc
        .spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
    {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    }
}

/// The rule builder's input for one Service; problems found on the way are pushed to
/// `warnings`.
pub fn service_input(
    key: &ServiceKey,
    svc: &Service,
    vips: &ServiceVips,
    endpoints: &[Endpoint],
    warnings: &mut Vec<String>,
) -> ServiceInput {
    let spec = svc.spec.clone().unwrap_or_default();
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| port(key, p, vips.ferrolb_lb, warnings))
        .collect();
    let mut programmed: Vec<IpAddr> = vips.programmed();
    let source_ranges = match source_ranges(spec.load_balancer_source_ranges.as_deref()) {
        Ok(ranges) => ranges,
        Err(bad) => {
            if !programmed.is_empty() {
                warnings.push(format!(
                    "{key}: loadBalancerSourceRanges entry {bad:?} is not a CIDR; its addresses are not programmed (fail closed)"
                ));
            }
            programmed.clear();
            Vec::new()
        }
    };
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(DEFAULT_AFFINITY_SECONDS)
    });
    ServiceInput {
        key: ruleset::ServiceKey::new(&key.namespace, &key.name),
        vips: programmed,
        ports,
        etp: match traffic_policy(svc) {
            TrafficPolicy::Local => ExternalTrafficPolicy::Local,
            TrafficPolicy::Cluster => ExternalTrafficPolicy::Cluster,
        },
        source_ranges,
        affinity,
        endpoints: endpoints.to_vec(),
    }
}

fn port(
    key: &ServiceKey,
    p: &ServicePort,
    with_node_port: bool,
    warnings: &mut Vec<String>,
) -> Option<PortInput> {
    let Some(protocol) = protocol(p.protocol.as_deref()) else {
        warnings.push(format!(
            "{key}: port {} has unsupported protocol {:?}; skipped",
            p.port, p.protocol
        ));
        return None;
    };
    let Ok(number) = u16::try_from(p.port) else {
        warnings.push(format!("{key}: port {} is out of range; skipped", p.port));
        return None;
    };
    let target = match &p.target_port {
        None => TargetPort::Number(number),
        Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).unwrap_or(0)),
        Some(IntOrString::String(name)) => TargetPort::Named(name.clone()),
    };
    let node_port = p
        .node_port
        .filter(|_| with_node_port)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n != 0);
    Some(PortInput {
        name: p.name.clone().filter(|n| !n.is_empty()),
        protocol,
        port: number,
        node_port,
        target,
    })
}

/// Parses `loadBalancerSourceRanges` (a bare address counts as a host route). `Err` carries
/// the first entry that is neither.
fn source_ranges(ranges: Option<&[String]>) -> Result<Vec<IpNet>, String> {
    ranges
        .unwrap_or_default()
        .iter()
        .map(|text| {
            let t = text.trim();
            t.parse::<IpNet>()
                .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| text.clone())
        })
        .collect()
}
