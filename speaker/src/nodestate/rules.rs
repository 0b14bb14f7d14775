//! A Service → the rule builder's [`ServiceInput`].
//!
//! Every node programs every address it may serve (valid LoadBalancer IPs and allowed
//! externalIPs), announced here or not, like kube-proxy: after a failover the new winner
//! already forwards, clients with a stale ARP/NDP cache still reach the Service, and the node's
//! own traffic to a VIP is delivered locally. `externalTrafficPolicy: Local` stays correct on
//! nodes without a local endpoint because the builder only uses local endpoints there (and
//! drops otherwise). NodePorts are served for ferrolb's LoadBalancer Services only.

use std::net::IpAddr;

use ferrolb_adapter::service::{PortView, ServiceView};

use crate::ruleset::{Endpoint, PortInput, ServiceInput};

use super::vips::ServiceVips;

/// The rule builder's input for one Service; problems found on the way are pushed to
/// `warnings`. A bad `loadBalancerSourceRanges` entry is dropped and reported; when entries
/// were given but none is valid, nobody may reach the addresses (fail closed).
pub fn service_input(
    view: &ServiceView,
    vips: &ServiceVips,
    endpoints: &[Endpoint],
    warnings: &mut Vec<String>,
) -> ServiceInput {
    let key = &view.key;
    warnings.extend(
        view.skipped_ports
            .iter()
            .map(|why| format!("{key}: {why}; skipped")),
    );
    let ports = view
        .ports
        .iter()
        .map(|p| port(p, vips.ferrolb_lb))
        .collect();
    let programmed: Vec<IpAddr> = vips.programmed();
    if !programmed.is_empty() {
        warnings.extend(
            view.source_ranges
                .rejected
                .iter()
                .map(|bad| format!("{key}: {bad}")),
        );
    }
    ServiceInput {
        key: key.clone(),
        vips: programmed,
        ports,
        etp: view.external_traffic_policy,
        source_ranges: view.source_ranges.ranges.clone(),
        affinity: view.affinity,
        endpoints: endpoints.to_vec(),
    }
}

/// The rule builder's view of one Service port (its nodePort only `with_node_port`).
pub fn port(p: &PortView, with_node_port: bool) -> PortInput {
    PortInput {
        name: p.name.clone(),
        protocol: p.protocol,
        port: p.port,
        node_port: p.node_port.filter(|_| with_node_port),
        target: p.target.clone(),
    }
}
