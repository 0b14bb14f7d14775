//! Representative inputs shared by the snapshot, nft and behaviour tests.

use std::net::IpAddr;

use super::super::input::{Endpoint, EndpointPort, NodeInput, PortInput, ServiceInput};
use ferrolb_core::{Protocol, ServiceKey, TargetPort, TrafficPolicy};

pub const NODE: &str = "node-a";

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub fn port(protocol: Protocol, number: u16, target: u16) -> PortInput {
    PortInput {
        name: None,
        protocol,
        port: number,
        node_port: None,
        target: TargetPort::Number(target),
    }
}

pub fn tcp(number: u16, target: u16) -> PortInput {
    port(Protocol::Tcp, number, target)
}

/// Ready endpoint on `node`.
pub fn ready(address: &str, node: &str) -> Endpoint {
    Endpoint::ready(ip(address), node)
}

/// Terminating endpoint still serving.
pub fn terminating(address: &str, node: &str) -> Endpoint {
    Endpoint {
        ready: false,
        serving: true,
        terminating: true,
        ..ready(address, node)
    }
}

pub fn service(
    name: &str,
    vips: &[&str],
    ports: Vec<PortInput>,
    endpoints: Vec<Endpoint>,
) -> ServiceInput {
    ServiceInput::new(
        ServiceKey::new("default", name),
        vips.iter().map(|text| ip(text)).collect(),
        ports,
        endpoints,
    )
}

pub fn node(services: Vec<ServiceInput>) -> NodeInput {
    NodeInput {
        node_name: NODE.to_string(),
        node_ips: Vec::new(),
        services: services.into_iter().map(std::sync::Arc::new).collect(),
    }
}

fn three_ready() -> Vec<Endpoint> {
    vec![
        ready("10.244.1.5", NODE),
        ready("10.244.2.7", "node-b"),
        ready("10.244.3.9", "node-c"),
    ]
}

pub fn cluster_tcp() -> NodeInput {
    node(vec![service(
        "web",
        &["192.0.2.10"],
        vec![tcp(80, 8080)],
        three_ready(),
    )])
}

pub fn local_policy() -> NodeInput {
    let mut web = service("web", &["192.0.2.10"], vec![tcp(80, 8080)], three_ready());
    web.etp = TrafficPolicy::Local;
    node(vec![web])
}

pub fn local_without_local_endpoints() -> NodeInput {
    let mut web = service(
        "web",
        &["192.0.2.10"],
        vec![tcp(80, 8080)],
        vec![ready("10.244.2.7", "node-b")],
    );
    web.etp = TrafficPolicy::Local;
    node(vec![web])
}

pub fn named_port() -> NodeInput {
    let mut http = tcp(80, 0);
    http.name = Some("http".to_string());
    http.target = TargetPort::Named("web".to_string());
    let mut first = ready("10.244.1.5", NODE);
    first.ports = vec![EndpointPort {
        name: Some("web".to_string()),
        protocol: Protocol::Tcp,
        port: 8080,
    }];
    let mut second = ready("10.244.2.7", "node-b");
    second.ports = vec![EndpointPort {
        name: Some("web".to_string()),
        protocol: Protocol::Tcp,
        port: 9090,
    }];
    // Lacks the named port: skipped.
    let third = ready("10.244.3.9", "node-c");
    node(vec![service(
        "web",
        &["192.0.2.10"],
        vec![http],
        vec![first, second, third],
    )])
}

pub fn udp() -> NodeInput {
    node(vec![service(
        "dns",
        &["192.0.2.53"],
        vec![port(Protocol::Udp, 53, 5353)],
        vec![ready("10.244.1.5", NODE), ready("10.244.2.7", "node-b")],
    )])
}

pub fn sctp() -> NodeInput {
    node(vec![service(
        "signalling",
        &["192.0.2.20"],
        vec![port(Protocol::Sctp, 3868, 3868)],
        vec![ready("10.244.1.5", NODE)],
    )])
}

pub fn source_ranges() -> NodeInput {
    let mut web = service(
        "web",
        &["192.0.2.10", "2001:db8::10"],
        vec![tcp(443, 8443)],
        vec![ready("10.244.1.5", NODE), ready("fd00:244::5", NODE)],
    );
    web.source_ranges = ferrolb_core::SourceRanges::Only(vec![
        "203.0.113.0/24".parse().unwrap(),
        "203.0.113.128/25".parse().unwrap(),
        "198.51.100.7/32".parse().unwrap(),
    ]);
    node(vec![web])
}

pub fn affinity() -> NodeInput {
    let mut web = service("web", &["192.0.2.10"], vec![tcp(80, 8080)], three_ready());
    web.affinity = Some(10_800);
    node(vec![web])
}

pub fn terminating_fallback() -> NodeInput {
    let mut gone = terminating("10.244.3.9", "node-c");
    gone.serving = false;
    node(vec![service(
        "web",
        &["192.0.2.10"],
        vec![tcp(80, 8080)],
        vec![
            terminating("10.244.1.5", NODE),
            terminating("10.244.2.7", "node-b"),
            gone,
        ],
    )])
}

pub fn no_endpoints() -> NodeInput {
    let mut web = tcp(80, 8080);
    web.node_port = Some(30080);
    node(vec![service("web", &["192.0.2.10"], vec![web], Vec::new())])
}

pub fn dual_stack() -> NodeInput {
    node(vec![service(
        "web",
        &["192.0.2.10", "2001:db8::10"],
        vec![tcp(80, 8080)],
        vec![
            ready("10.244.1.5", NODE),
            ready("fd00:244::5", NODE),
            ready("fd00:244::7", "node-b"),
        ],
    )])
}

pub fn node_port() -> NodeInput {
    let mut web = tcp(80, 8080);
    web.node_port = Some(30080);
    let cluster = service("web", &[], vec![web.clone()], three_ready());
    web.node_port = Some(30081);
    let mut local = service("web-local", &[], vec![web], three_ready());
    local.etp = TrafficPolicy::Local;
    let mut input = node(vec![cluster, local]);
    input.node_ips = vec![ip("10.0.0.1"), ip("2001:db8:1::1"), ip("10.0.0.2")];
    input
}

pub fn node_port_any_local_address() -> NodeInput {
    let mut web = tcp(80, 8080);
    web.node_port = Some(30080);
    node(vec![service(
        "web",
        &[],
        vec![web],
        vec![ready("10.244.1.5", NODE)],
    )])
}

/// Every scenario by name (the snapshot file name).
pub fn scenarios() -> Vec<(&'static str, NodeInput)> {
    vec![
        ("cluster_tcp", cluster_tcp()),
        ("local_policy", local_policy()),
        (
            "local_without_local_endpoints",
            local_without_local_endpoints(),
        ),
        ("named_port", named_port()),
        ("udp", udp()),
        ("sctp", sctp()),
        ("source_ranges", source_ranges()),
        ("affinity", affinity()),
        ("terminating_fallback", terminating_fallback()),
        ("no_endpoints", no_endpoints()),
        ("dual_stack", dual_stack()),
        ("node_port", node_port()),
        ("node_port_any_local_address", node_port_any_local_address()),
    ]
}
