//! The test's network, from the test kit: a bridge in a `lan` namespace and every host a
//! namespace plugged into it. Every device is created inside these namespaces (veth peers
//! directly in their target namespace), every address is a documentation address, and
//! dropping [`Topology`] deletes the namespaces — also when the test fails. Namespaces of
//! killed runs are removed by the test kit.

use ferrolb_testkit::{Netns, Sysctls, bridge, bridge_port};

/// The interface name inside every host namespace (unique, so nothing can hit a host link).
pub const IFACE: &str = "flbe0";
/// What the test needs besides root.
pub const TOOLS: [&str; 3] = ["ip", "ss", "sysctl"];
/// The bridge in the LAN namespace.
const BRIDGE: &str = "br0";

/// `ip -n <ns> ARGS`, which must succeed.
pub fn ip(ns: &str, args: &[&str]) -> String {
    ferrolb_testkit::ip(ns, args).unwrap()
}

/// The namespaces of one test run.
pub struct Topology {
    made: Vec<Netns>,
}

impl Topology {
    /// An empty topology; fails naming what is missing without root or the tools.
    pub fn new() -> Topology {
        ferrolb_testkit::needs(&TOOLS);
        Topology { made: Vec::new() }
    }

    /// The names of the namespaces made so far.
    pub fn names(&self) -> Vec<String> {
        self.made.iter().map(|n| n.name().to_string()).collect()
    }

    fn add_ns(&mut self, role: &str) -> String {
        let sysctls = Sysctls {
            static_ipv6: true,
            ..Sysctls::default()
        };
        let ns = Netns::with(&format!("edge-{role}"), sysctls).unwrap();
        let name = ns.name().to_string();
        self.made.push(ns);
        name
    }

    /// The LAN: a bridge in its own namespace.
    pub fn lan(&mut self) -> String {
        let lan = self.add_ns("lan");
        bridge(&lan, BRIDGE).unwrap();
        lan
    }

    /// A host on `lan` with interface [`IFACE`] and the given addresses (CIDRs).
    pub fn host(&mut self, lan: &str, role: &str, cidrs: &[&str]) -> String {
        let ns = self.add_ns(role);
        bridge_port(lan, BRIDGE, &format!("p-{role}"), &ns, IFACE).unwrap();
        for cidr in cidrs {
            ferrolb_testkit::addr(&ns, IFACE, cidr).unwrap();
        }
        ns
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        while let Some(ns) = self.made.pop() {
            drop(ns);
        }
    }
}
