//! Which interfaces of a node may answer ARP/NDP for a VIP.
//!
//! * A policy without an interface list selects the **default set**: up, broadcast-capable,
//!   not loopback, not a bridge port, not a container veth.
//! * A policy with a list selects interfaces whose name matches one of its names/globs
//!   **and** that are up.
//! * In both cases the interface must have a link-layer address: an ARP/NDP reply carries
//!   the sender's MAC, so an interface without one (tun, WireGuard…) can never answer.
//! * Several policies applying to one node select the union of their interfaces.
//! * Of the selected interfaces, those with a subnet (same family) containing the VIP are
//!   **usable**. If none contains it, every selected interface is usable: an off-subnet VIP
//!   (e.g. routed to the segment by the upstream router) is still answered on the selected links.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::glob::glob_matches;
use super::model::{InterfaceView, L2Policy};

/// Whether `iface` belongs to the default interface set (policy lists no interfaces).
pub fn in_default_set(iface: &InterfaceView) -> bool {
    iface.up && iface.broadcast && !iface.loopback && !iface.bridge_port && !iface.container_veth
}

/// Whether `policy` selects `iface` (before considering the VIP's subnet).
pub fn policy_selects(policy: &L2Policy, iface: &InterfaceView) -> bool {
    let chosen = if policy.interfaces.is_empty() {
        in_default_set(iface)
    } else {
        iface.up
            && policy
                .interfaces
                .iter()
                .any(|p| glob_matches(p, &iface.name))
    };
    chosen && iface.has_lladdr
}

/// Interfaces selected on a node by any of `policies`.
pub fn selected<'a>(
    policies: &[&L2Policy],
    interfaces: &'a [InterfaceView],
) -> Vec<&'a InterfaceView> {
    interfaces
        .iter()
        .filter(|i| policies.iter().any(|p| policy_selects(p, i)))
        .collect()
}

/// Names of the selected interfaces usable for `vip`: those with a subnet containing it, or
/// every selected interface when none does. Sorted and de-duplicated; empty only when nothing
/// is selected.
pub fn usable_for_vip(selected: &[&InterfaceView], vip: IpAddr) -> BTreeSet<String> {
    let on_subnet: BTreeSet<String> = selected
        .iter()
        .filter(|i| i.subnets.iter().any(|net| net.contains(&vip)))
        .map(|i| i.name.clone())
        .collect();
    if on_subnet.is_empty() {
        selected.iter().map(|i| i.name.clone()).collect()
    } else {
        on_subnet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::tests::fixtures::iface;

    fn policy(interfaces: &[&str]) -> L2Policy {
        L2Policy {
            interfaces: interfaces.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn default_set_rejects_each_unsuitable_kind() {
        let p = policy(&[]);
        assert!(policy_selects(&p, &iface("eth0", &[])));
        let cases: [fn(&mut InterfaceView); 6] = [
            |i| i.up = false,
            |i| i.broadcast = false,
            |i| i.loopback = true,
            |i| i.bridge_port = true,
            |i| i.container_veth = true,
            |i| i.has_lladdr = false,
        ];
        for (n, spoil) in cases.iter().enumerate() {
            let mut i = iface("eth0", &[]);
            spoil(&mut i);
            assert!(!policy_selects(&p, &i), "case {n} should be rejected");
        }
    }

    #[test]
    fn explicit_list_needs_name_match_and_up_only() {
        let p = policy(&["eth*", "bond0"]);
        let mut veth_like = iface("eth9", &[]);
        veth_like.container_veth = true;
        veth_like.broadcast = false;
        assert!(
            policy_selects(&p, &veth_like),
            "explicit list overrides default filters"
        );
        assert!(policy_selects(&p, &iface("bond0", &[])));
        assert!(!policy_selects(&p, &iface("ens3", &[])));
        let mut down = iface("eth1", &[]);
        down.up = false;
        assert!(!policy_selects(&p, &down));
        let mut no_mac = iface("eth1", &[]);
        no_mac.has_lladdr = false;
        assert!(!policy_selects(&p, &no_mac));
    }

    #[test]
    fn union_over_policies() {
        let (a, b) = (policy(&["eth0"]), policy(&["eth1"]));
        let ifaces = vec![iface("eth0", &[]), iface("eth1", &[]), iface("eth2", &[])];
        let names: Vec<_> = selected(&[&a, &b], &ifaces)
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(names, ["eth0", "eth1"]);
    }

    #[test]
    fn vip_subnet_picks_matching_interfaces_by_family() {
        let ifaces = [
            iface("eth0", &["192.0.2.10/24", "2001:db8:1::10/64"]),
            iface("eth1", &["198.51.100.10/24"]),
            iface("eth2", &["2001:db8:2::10/64"]),
        ];
        let sel: Vec<_> = ifaces.iter().collect();
        let v4 = usable_for_vip(&sel, "198.51.100.7".parse().unwrap());
        assert_eq!(v4.into_iter().collect::<Vec<_>>(), ["eth1"]);
        let v6 = usable_for_vip(&sel, "2001:db8:1::99".parse().unwrap());
        assert_eq!(v6.into_iter().collect::<Vec<_>>(), ["eth0"]);
    }

    #[test]
    fn off_subnet_vip_falls_back_to_all_selected() {
        let ifaces = [
            iface("eth1", &["198.51.100.10/24"]),
            iface("eth0", &["192.0.2.10/24"]),
        ];
        let sel: Vec<_> = ifaces.iter().collect();
        let usable = usable_for_vip(&sel, "203.0.113.5".parse().unwrap());
        assert_eq!(usable.into_iter().collect::<Vec<_>>(), ["eth0", "eth1"]);
        assert!(usable_for_vip(&[], "203.0.113.5".parse().unwrap()).is_empty());
    }
}
