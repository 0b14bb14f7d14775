//! The synthetic node: N TCP Services, all IPv4 so they share the measured Service's verdict map.
//!
//! Service `i` has VIP 198.51.100.(1 + i mod 250) and port 80 + i / 250 (LoadBalancer IP
//! sharing: 10,000 Services fit in one documentation /24 with 40 ports), target port 8080, and
//! 2 or 3 endpoints in 192.0.2.0/24. Service 0 (198.51.100.1:80 → 192.0.2.10, 192.0.2.11) is
//! the one the connection-rate client uses.

use std::net::{IpAddr, Ipv4Addr};

use ferrolb_core::{Protocol, ServiceKey, TargetPort, TrafficPolicy};
use ferrolb_speaker::ruleset::{Endpoint, NodeInput, PortInput, ServiceInput};

/// The node's name in the input.
pub const NODE: &str = "bench-node";
/// The measured Service's VIP and port.
pub const MEASURED_VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The measured Service's port.
pub const MEASURED_PORT: u16 = 80;
/// Where the endpoints listen.
pub const TARGET_PORT: u16 = 8080;
/// The endpoint added by the incremental change (no Service has it).
pub const ADDED_ENDPOINT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 250);
/// VIPs per port (198.51.100.1–250).
const VIPS: usize = 250;

/// VIP and port of Service `i`.
pub fn vip_port(i: usize) -> (Ipv4Addr, u16) {
    let host = u8::try_from(1 + i % VIPS).unwrap_or(u8::MAX);
    let port = u16::try_from(80 + i / VIPS).unwrap_or(u16::MAX);
    (Ipv4Addr::new(198, 51, 100, host), port)
}

/// Endpoints of Service `i`: 2 or 3 addresses in 192.0.2.10–249.
pub fn endpoints_of(i: usize) -> Vec<Ipv4Addr> {
    (0..2 + i % 2)
        .map(|k| {
            let host = u8::try_from(10 + (3 * i + k) % 240).unwrap_or(u8::MAX);
            Ipv4Addr::new(192, 0, 2, host)
        })
        .collect()
}

fn endpoint(ip: Ipv4Addr) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(ip),
        node: Some("bench-other".to_string()),
        ready: true,
        serving: true,
        terminating: false,
        ports: Vec::new(),
    }
}

/// Service `i`.
pub fn service(i: usize) -> ServiceInput {
    let (vip, port) = vip_port(i);
    ServiceInput {
        key: ServiceKey::new("bench", format!("svc-{i}")),
        vips: vec![IpAddr::V4(vip)],
        ports: vec![PortInput {
            name: None,
            protocol: Protocol::Tcp,
            port,
            node_port: None,
            target: TargetPort::Number(TARGET_PORT),
        }],
        etp: TrafficPolicy::Cluster,
        source_ranges: ferrolb_core::SourceRanges::Any,
        affinity: None,
        endpoints: endpoints_of(i).into_iter().map(endpoint).collect(),
    }
}

/// A node with Services 0..n.
pub fn node_input(n: usize) -> NodeInput {
    NodeInput {
        node_name: NODE.to_string(),
        node_ips: Vec::new(),
        services: (0..n).map(|i| std::sync::Arc::new(service(i))).collect(),
    }
}

/// `input` with `ADDED_ENDPOINT` added to the Service at position `i` (if there is one).
pub fn with_added_endpoint(input: &NodeInput, i: usize) -> NodeInput {
    let mut changed = input.clone();
    if let Some(service) = changed.services.get_mut(i) {
        std::sync::Arc::make_mut(service)
            .endpoints
            .push(endpoint(ADDED_ENDPOINT));
    }
    changed
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ferrolb_speaker::ruleset::build;

    use super::*;

    #[test]
    fn ten_thousand_services_have_distinct_vip_ports_and_two_or_three_endpoints() {
        let keys: BTreeSet<_> = (0..10_000).map(vip_port).collect();
        assert_eq!(keys.len(), 10_000);
        assert_eq!(vip_port(0), (MEASURED_VIP, MEASURED_PORT));
        assert_eq!(vip_port(9_999), (Ipv4Addr::new(198, 51, 100, 250), 119));
        for i in 0..10_000 {
            let eps = endpoints_of(i);
            assert!((2..=3).contains(&eps.len()), "{i}: {eps:?}");
            assert!(!eps.contains(&ADDED_ENDPOINT));
        }
        assert_eq!(
            endpoints_of(0),
            [Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)]
        );
    }

    #[test]
    fn every_service_is_programmed_and_dispatch_does_not_grow() {
        let small = build(&node_input(10));
        let large = build(&node_input(1_000));
        assert!(large.warnings().is_empty(), "{:?}", large.warnings());
        assert_eq!(small.stats().services, 10);
        assert_eq!(large.stats().services, 1_000);
        assert_eq!(small.dispatch_rule_count(), large.dispatch_rule_count());
    }

    #[test]
    fn the_change_adds_one_endpoint_to_one_service() {
        let input = node_input(3);
        let changed = with_added_endpoint(&input, 1);
        assert_eq!(changed.services[0], input.services[0]);
        assert_eq!(
            changed.services[1].endpoints.len(),
            input.services[1].endpoints.len() + 1
        );
        let script = build(&changed)
            .to_nft_update_script(&build(&input))
            .expect("an update");
        assert!(script.contains("192.0.2.250"), "{script}");
        assert!(
            !script.contains("svc-0"),
            "only the changed Service: {script}"
        );
    }
}
