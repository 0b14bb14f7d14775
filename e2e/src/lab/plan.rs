//! The lab's address plan (`shared/lab-addresses.md`): documentation ranges only, and only
//! inside network namespaces the lab creates.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::Error;

/// Kubernetes release the lab builds and runs.
pub const K8S_VERSION: &str = "v1.36.3";
/// etcd release, the one `k8s.io/kubernetes` requires at [`K8S_VERSION`].
pub const ETCD_VERSION: &str = "v3.6.8";

/// LAN prefix lengths.
pub const LAN_V4_PREFIX: u8 = 24;
/// LAN IPv6 prefix length.
pub const LAN_V6_PREFIX: u8 = 64;
/// Control plane (apiserver on :6443).
pub const CONTROL_PLANE: Host = Host::new("cp", [198, 51, 100, 1], 0x1);
/// The outside client.
pub const CLIENT: Host = Host::new("client", [198, 51, 100, 100], 0x100);
/// The edge host (cloud-style load balancer outside the cluster).
pub const EDGE: Host = Host::new("edge", [198, 51, 100, 5], 0x5);
/// The apiserver's port.
pub const APISERVER_PORT: u16 = 6443;
/// Service ClusterIP ranges (allocated by the apiserver; no traffic).
pub const SERVICE_CIDRS: &str = "203.0.113.0/24,2001:db8:300::/112";
/// The IPv6 Service ClusterIP range alone (an IPv6-only lab).
pub const SERVICE_CIDR_V6: &str = "2001:db8:300::/112";

/// The IP families of a lab's cluster: its nodes', Pods' and Services' addresses. The LAN's
/// client and edge hosts, outside the cluster, keep both families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpStack {
    /// IPv4 and IPv6, IPv4 first (the default lab).
    #[default]
    DualStack,
    /// IPv6 only: no IPv4 address on any node, Pod or the control plane, IPv6 Service range.
    Ipv6Only,
}

impl IpStack {
    /// Every stack, in the order `--ip-stack` lists them.
    pub const ALL: [IpStack; 2] = [IpStack::DualStack, IpStack::Ipv6Only];

    /// Its name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            IpStack::DualStack => "dual",
            IpStack::Ipv6Only => "ipv6",
        }
    }

    /// Whether cluster hosts have IPv4 addresses.
    pub const fn has_ipv4(self) -> bool {
        matches!(self, IpStack::DualStack)
    }

    /// The apiserver's `--service-cluster-ip-range`.
    pub const fn service_cidrs(self) -> &'static str {
        match self {
            IpStack::DualStack => SERVICE_CIDRS,
            IpStack::Ipv6Only => SERVICE_CIDR_V6,
        }
    }

    /// A cluster host's addresses of this stack, the primary first.
    pub fn addresses(self, v4: Ipv4Addr, v6: Ipv6Addr) -> Vec<IpAddr> {
        match self {
            IpStack::DualStack => vec![v4.into(), v6.into()],
            IpStack::Ipv6Only => vec![v6.into()],
        }
    }

    /// A cluster host's primary address (a Node's first InternalIP, a Pod's `podIP`).
    pub fn primary(self, v4: Ipv4Addr, v6: Ipv6Addr) -> IpAddr {
        match self {
            IpStack::DualStack => v4.into(),
            IpStack::Ipv6Only => v6.into(),
        }
    }

    /// A node's pod CIDRs of this stack, the primary first.
    pub fn pod_cidrs(self, node: &NodePlan) -> Vec<String> {
        let [v4, v6] = node.pod_cidrs();
        match self {
            IpStack::DualStack => vec![v4, v6],
            IpStack::Ipv6Only => vec![v6],
        }
    }
}

impl fmt::Display for IpStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IpStack {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::msg(format!("no IP stack {s:?}: use dual or ipv6")))
    }
}

/// A host on the LAN: its namespace role and addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Role, the suffix of its network namespace name.
    pub role: &'static str,
    /// IPv4 address on the LAN.
    pub v4: Ipv4Addr,
    /// IPv6 address on the LAN (2001:db8:100::suffix).
    pub v6: Ipv6Addr,
}

impl Host {
    const fn new(role: &'static str, v4: [u8; 4], v6_suffix: u16) -> Self {
        Host {
            role,
            v4: Ipv4Addr::new(v4[0], v4[1], v4[2], v4[3]),
            v6: Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, v6_suffix),
        }
    }
}

/// A node: a LAN host with pod CIDRs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePlan {
    /// The node's LAN host (role = node name).
    pub host: Host,
    /// IPv4 pod CIDR base (a /26).
    pub pod_v4: Ipv4Addr,
    /// IPv6 pod CIDR base (a /64).
    pub pod_v6: Ipv6Addr,
}

/// IPv4 pod CIDR prefix length.
pub const POD_V4_PREFIX: u8 = 26;
/// IPv6 pod CIDR prefix length.
pub const POD_V6_PREFIX: u8 = 64;
/// Most pods one node runs (host numbers 2..=62 of its /26).
pub const MAX_PODS_PER_NODE: u8 = 61;

/// The lab's nodes.
pub const NODES: [NodePlan; 3] = [
    NodePlan {
        host: Host::new("node-a", [198, 51, 100, 11], 0x11),
        pod_v4: Ipv4Addr::new(192, 0, 2, 0),
        pod_v6: Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0xa, 0, 0, 0, 0),
    },
    NodePlan {
        host: Host::new("node-b", [198, 51, 100, 12], 0x12),
        pod_v4: Ipv4Addr::new(192, 0, 2, 64),
        pod_v6: Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0xb, 0, 0, 0, 0),
    },
    NodePlan {
        host: Host::new("node-c", [198, 51, 100, 13], 0x13),
        pod_v4: Ipv4Addr::new(192, 0, 2, 128),
        pod_v6: Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0xc, 0, 0, 0, 0),
    },
];

impl NodePlan {
    /// The node's name (`node-a`, ...).
    pub fn name(&self) -> &'static str {
        self.host.role
    }

    /// The pod CIDRs as Kubernetes writes them.
    pub fn pod_cidrs(&self) -> [String; 2] {
        [
            format!("{}/{POD_V4_PREFIX}", self.pod_v4),
            format!("{}/{POD_V6_PREFIX}", self.pod_v6),
        ]
    }

    /// Address number `n` of the pod CIDRs (1 is the node's gateway for its pods).
    pub fn pod_addr(&self, n: u8) -> (Ipv4Addr, Ipv6Addr) {
        let v4 = Ipv4Addr::from(u32::from(self.pod_v4) + u32::from(n));
        let v6 = Ipv6Addr::from(u128::from(self.pod_v6) + u128::from(n));
        (v4, v6)
    }

    /// The address number `n` of `ip` in this node's pod CIDRs (either family).
    pub fn pod_slot(&self, ip: IpAddr) -> Option<u8> {
        let n = match ip {
            IpAddr::V4(ip) => u128::from(u32::from(ip).wrapping_sub(u32::from(self.pod_v4))),
            IpAddr::V6(ip) => u128::from(ip).wrapping_sub(u128::from(self.pod_v6)),
        };
        u8::try_from(n).ok()
    }

    /// The gateway address pods of this node route through.
    pub fn gateway(&self) -> (Ipv4Addr, Ipv6Addr) {
        self.pod_addr(1)
    }
}

/// The node that forwarded a masqueraded connection, from the source address a pod saw: the
/// node's LAN address (to a pod elsewhere) or its pod gateway (to a pod of its own).
pub fn forwarded_by(seen: std::net::IpAddr) -> Option<&'static str> {
    NODES
        .iter()
        .find(|n| {
            seen == std::net::IpAddr::V4(n.host.v4) || seen == std::net::IpAddr::V4(n.gateway().0)
        })
        .map(|n| n.name())
}

/// The plan of the node called `name`.
pub fn node(name: &str) -> Option<&'static NodePlan> {
    NODES.iter().find(|n| n.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_a_documentation_address() {
        let doc4 = |a: Ipv4Addr| {
            let o = a.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            )
        };
        let doc6 = |a: Ipv6Addr| a.segments()[0] == 0x2001 && a.segments()[1] == 0xdb8;
        for h in [CONTROL_PLANE, CLIENT, EDGE]
            .iter()
            .chain(NODES.iter().map(|n| &n.host))
        {
            assert!(doc4(h.v4) && doc6(h.v6), "{h:?}");
        }
        for stack in IpStack::ALL {
            assert_eq!(stack.name().parse::<IpStack>().unwrap(), stack);
            let primary = stack.primary(CONTROL_PLANE.v4, CONTROL_PLANE.v6);
            assert_eq!(
                stack.addresses(CONTROL_PLANE.v4, CONTROL_PLANE.v6)[0],
                primary
            );
            assert!(
                stack
                    .service_cidrs()
                    .split(',')
                    .all(|c| c.starts_with("203.0.113.") || c.starts_with("2001:db8:"))
            );
        }
        assert!(
            "v4".parse::<IpStack>()
                .unwrap_err()
                .to_string()
                .contains("use dual or ipv6")
        );
        for n in NODES {
            let (v4, v6) = n.pod_addr(MAX_PODS_PER_NODE + 1);
            assert!(doc4(v4) && doc6(v6));
            assert_eq!(n.pod_slot(v4.into()), Some(MAX_PODS_PER_NODE + 1));
            assert_eq!(n.pod_slot(v6.into()), Some(MAX_PODS_PER_NODE + 1));
            assert_eq!(n.pod_slot(n.host.v4.into()), None);
            assert_eq!(
                u32::from(v4) >> 6,
                u32::from(n.pod_v4) >> 6,
                "last pod stays in the /26"
            );
        }
    }
}
