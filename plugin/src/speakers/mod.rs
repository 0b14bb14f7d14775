//! ferrolb's speaker Pods as the plugin finds and judges them (shared by `why` and `status`).

use k8s_openapi::api::core::v1::Pod;

/// The label selector of the speakers' Pods (deploy/'s and the chart's labels).
pub const SELECTOR: &str = "app.kubernetes.io/name=ferrolb,app.kubernetes.io/component=speaker";

/// Whether a speaker Pod's Ready condition is True (the plugin's view of a live speaker).
pub fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub mod answers;
pub mod client;

/// The speakers' private port (`--metrics-addr`, container port `metrics`) when the Pod does
/// not name one.
pub const PRIVATE_PORT: u16 = 7473;

/// The node a speaker Pod runs on.
pub fn node(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

/// Where a speaker Pod's private endpoints listen: its (host-network) Pod IP and its container
/// port named `metrics`.
pub fn private_addr(pod: &Pod) -> Option<std::net::SocketAddr> {
    let ip: std::net::IpAddr = pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()?;
    let port = pod
        .spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("metrics"))
        .and_then(|p| u16::try_from(p.container_port).ok())
        .unwrap_or(PRIVATE_PORT);
    Some(std::net::SocketAddr::new(ip, port))
}
