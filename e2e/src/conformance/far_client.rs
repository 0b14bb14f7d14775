//! The conformance runner's source address. Upstream's externalTrafficPolicy=Local test checks
//! that the client address a backend sees lies outside the nodes' /16, as a client on the
//! Internet would; the lab's client shares the nodes' LAN (198.51.100.0/24). So while the
//! suite runs, the client namespace sends from [`FAR_CLIENT`] instead, and the nodes and the
//! control plane (and the edge host) route that address back through the client. Only the conformance lab does
//! this; 192.0.2.254 belongs to the allocation-only pools' range, which that lab never uses,
//! and kube-proxy tells cluster traffic by each node's own pod CIDR (`--detect-local-mode=
//! NodeCIDR`), so it is an outside client to kube-proxy too.

use std::net::Ipv4Addr;

use crate::lab::plan::{CLIENT, CONTROL_PLANE, EDGE, LAN_V4_PREFIX, NODES};
use crate::lab::topology::UPLINK;
use crate::{Error, Lab};

/// The address the runner's connections come from.
pub const FAR_CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

/// Makes the lab's client send from [`FAR_CLIENT`] on the LAN (ARP still asks with its LAN
/// address), and routes it back from every node and the control plane. Harmless when done.
pub fn set_up(lab: &Lab) -> Result<(), Error> {
    let client = lab.names.netns(CLIENT.role);
    let far = format!("{FAR_CLIENT}/32");
    let lan = lan_v4();
    ip(&client, &["addr", "replace", &far, "dev", "lo"])?;
    ip(
        &client,
        &[
            "route",
            "replace",
            &lan,
            "dev",
            UPLINK,
            "proto",
            "kernel",
            "scope",
            "link",
            "src",
            &FAR_CLIENT.to_string(),
        ],
    )?;
    ferrolb_testkit::exec(
        &client,
        &[
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv4.conf.{UPLINK}.arp_announce=2"),
        ],
    )
    .map_err(|e| Error::msg(format!("setting arp_announce in {client}: {e}")))?;
    let back = CLIENT.v4.to_string();
    for role in NODES
        .iter()
        .map(|n| n.host.role)
        .chain([CONTROL_PLANE.role, EDGE.role])
    {
        ip(
            &lab.names.netns(role),
            &["route", "replace", &far, "via", &back],
        )?;
    }
    Ok(())
}

fn lan_v4() -> String {
    let o = CLIENT.v4.octets();
    let net = Ipv4Addr::new(o[0], o[1], o[2], 0);
    format!("{net}/{LAN_V4_PREFIX}")
}

fn ip(ns: &str, args: &[&str]) -> Result<(), Error> {
    ferrolb_testkit::ip(ns, args)
        .map(drop)
        .map_err(|e| Error::msg(format!("ip {} in {ns}: {e}", args.join(" "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_far_client_is_outside_the_lan_and_every_pod_cidr() {
        let lan: ipnet::Ipv4Net = lan_v4().parse().unwrap();
        assert!(!lan.contains(&FAR_CLIENT));
        let nodes16: ipnet::Ipv4Net = format!("{}/16", NODES[0].host.v4).parse().unwrap();
        assert!(
            !nodes16.trunc().contains(&FAR_CLIENT),
            "the suite wants it outside the nodes' /16"
        );
        for node in NODES {
            for cidr in node.pod_cidrs() {
                let net: ipnet::IpNet = cidr.parse().unwrap();
                assert!(!net.contains(&std::net::IpAddr::V4(FAR_CLIENT)), "{cidr}");
            }
        }
    }
}
