//! The lab's Layer-2 network: one bridge in a namespace of its own, and every host (control
//! plane, nodes, client, edge) a namespace on it; pods are namespaces behind a veth on their node.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferrolb_testkit::{self as netns, Sysctls, addr, bridge, bridge_port, route};

use crate::lab::plan::{
    CLIENT, CONTROL_PLANE, EDGE, Host, IpStack, LAN_V4_PREFIX, LAN_V6_PREFIX, NODES, NodePlan,
};
use crate::{Error, Names};

/// The LAN bridge's name (inside the LAN namespace).
pub const BRIDGE: &str = "flbbr0";
/// A host's LAN interface name (inside its namespace).
pub const UPLINK: &str = "eth0";

/// Builds (or completes) the whole LAN: safe to call on a running lab. Cluster hosts (the
/// control plane, the nodes) get the addresses of `stack`; the client and the edge, outside
/// the cluster, both families.
pub fn up(names: &Names, stack: IpStack) -> Result<(), Error> {
    let lan = names.netns("lan");
    netns::create(&lan, Sysctls::host(false))?;
    // No multicast snooping: NDP's solicited-node multicast reaches every port.
    bridge(&lan, BRIDGE)?;

    attach(names, &CONTROL_PLANE, false, stack)?;
    for host in [CLIENT, EDGE] {
        attach(names, &host, false, IpStack::DualStack)?;
    }
    for node in &NODES {
        attach(names, &node.host, true, stack)?;
        let ns = names.netns(node.name());
        for other in NODES.iter().filter(|o| o.name() != node.name()) {
            routes_to_pods(&ns, other, stack)?;
        }
        // The Service ClusterIP ranges, as a node's default route would cover them: a packet a
        // node sends needs a route before kube-proxy's output hook rewrites its destination
        // (hostNetwork Pods reach the apiserver at the `kubernetes` Service's ClusterIP).
        for cidr in stack.service_cidrs().split(',') {
            route(&ns, &[cidr, "dev", UPLINK])?;
        }
    }
    // The control plane and the client reach pods through their nodes.
    for host in [CONTROL_PLANE, CLIENT, EDGE] {
        let ns = names.netns(host.role);
        for node in &NODES {
            routes_to_pods(&ns, node, stack)?;
        }
    }
    Ok(())
}

fn attach(names: &Names, host: &Host, forwarding: bool, stack: IpStack) -> Result<(), Error> {
    let ns = names.netns(host.role);
    netns::create(&ns, Sysctls::host(forwarding))?;
    let lan = names.netns("lan");
    bridge_port(&lan, BRIDGE, &format!("flb-{}", host.role), &ns, UPLINK)?;
    if stack.has_ipv4() {
        addr(&ns, UPLINK, &format!("{}/{LAN_V4_PREFIX}", host.v4))?;
    }
    addr(&ns, UPLINK, &format!("{}/{LAN_V6_PREFIX}", host.v6))?;
    Ok(())
}

fn routes_to_pods(ns: &str, via: &NodePlan, stack: IpStack) -> Result<(), Error> {
    let [v4, v6] = via.pod_cidrs();
    if stack.has_ipv4() {
        route(ns, &[&v4, "via", &via.host.v4.to_string()])?;
    }
    route(ns, &[&v6, "via", &via.host.v6.to_string()])?;
    Ok(())
}

/// A pod's network: its namespace, its node-side veth and its addresses.
#[derive(Debug, Clone)]
pub struct PodNet {
    /// The pod's namespace.
    pub netns: String,
    /// The node-side veth's name.
    pub host_veth: String,
    /// Pod IPv4 address.
    pub v4: Ipv4Addr,
    /// Pod IPv6 address.
    pub v6: Ipv6Addr,
}

/// Creates a pod's namespace behind a veth on `node`, with address number `n` of its pod CIDRs.
/// `id` is short and unique per pod (it names the namespace and the veth).
/// Without IPv4 in `stack`, the pod has its IPv6 address only.
pub fn pod_up(
    names: &Names,
    node: &NodePlan,
    id: &str,
    n: u8,
    stack: IpStack,
) -> Result<PodNet, Error> {
    let node_ns = names.netns(node.name());
    let pod = PodNet {
        netns: names.netns(&format!("pod-{id}")),
        host_veth: format!("flbp{id}"),
        v4: node.pod_addr(n).0,
        v6: node.pod_addr(n).1,
    };
    let (gw4, gw6) = node.gateway();
    netns::create(&pod.netns, Sysctls::host(false))?;
    netns::veth_between(&node_ns, &pod.host_veth, &pod.netns, UPLINK)?;
    // Node side: the gateway address (the same on every pod veth) and a host route to the pod.
    // Pod side: its own addresses, the gateway on-link, default via the gateway.
    let v4 = stack
        .has_ipv4()
        .then_some((pod.v4.to_string(), gw4.to_string(), 32));
    let v6 = Some((pod.v6.to_string(), gw6.to_string(), 128));
    for (ip, gw, bits) in [v4, v6].into_iter().flatten() {
        addr(&node_ns, &pod.host_veth, &format!("{gw}/{bits}"))?;
        route(&node_ns, &[&format!("{ip}/{bits}"), "dev", &pod.host_veth])?;
        addr(&pod.netns, UPLINK, &format!("{ip}/{bits}"))?;
        route(&pod.netns, &[&format!("{gw}/{bits}"), "dev", UPLINK])?;
        route(&pod.netns, &["default", "via", &gw, "dev", UPLINK])?;
    }
    Ok(pod)
}

/// Removes a pod's namespace (its veth goes with it).
pub fn pod_down(names: &Names, id: &str) -> Result<(), Error> {
    let ns = names.netns(&format!("pod-{id}"));
    remove_netns_etc(&ns);
    Ok(netns::delete(&ns)?)
}

/// Where `ip netns exec` finds files it mounts over /etc in namespace `ns` (the nodes'
/// `lab-kubelet` writes a hosts file there for exec).
fn netns_etc(ns: &str) -> std::path::PathBuf {
    std::path::Path::new("/etc/netns").join(ns)
}

/// Removes `/etc/netns/<ns>` if the lab wrote one.
fn remove_netns_etc(ns: &str) {
    let dir = netns_etc(ns);
    if dir.is_dir() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The names of the labs that have network namespaces (`flb-<lab>-<role>`).
pub fn labs_with_namespaces() -> Vec<String> {
    let mut names: Vec<String> = netns::list("flb-")
        .iter()
        .filter_map(|n| {
            n.strip_prefix("flb-")
                .and_then(|r| r.split('-').next())
                .map(String::from)
        })
        .collect();
    names.dedup();
    names
}

/// Removes every namespace of the lab.
pub fn down(names: &Names) -> Result<(), Error> {
    let mut first_err = None;
    for ns in netns::list(&names.netns("")) {
        remove_netns_etc(&ns);
        if let Err(e) = netns::delete(&ns) {
            first_err.get_or_insert(Error::from(e));
        }
    }
    first_err.map_or(Ok(()), Err)
}
