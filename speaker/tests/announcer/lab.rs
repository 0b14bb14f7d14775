//! The namespaces, the link between them and the tools run in `b` (namespaces and veths from
//! the test kit).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use ferrolb_speaker::packets::Mac;
use ferrolb_testkit::{Netns, VethEnd, veth};

pub const MAC_A: Mac = [0x02, 0, 0, 0, 0x0a, 0x01];
pub const MAC_B: Mac = [0x02, 0, 0, 0, 0x0b, 0x01];
pub const IFACE: &str = "veth0";
pub const WAIT: Duration = Duration::from_secs(5);
pub const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2);

/// What the announcer tests need besides root.
pub const TOOLS: [&str; 3] = ["ip", "arping", "ndisc6"];

/// Runs a command line (words separated by spaces).
fn run(cmdline: &str) -> Output {
    let argv: Vec<&str> = cmdline.split_whitespace().collect();
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("spawn")
}

pub fn mac_str(mac: Mac) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Namespaces `a` and `b`, a veth pair `veth0`—`veth0` between them, addresses .1/::1 in `a`
/// and .2/::2 in `b`. Removed on drop. Fails naming what is missing without root or the tools.
pub struct Lab {
    pub a: Netns,
    pub b: Netns,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        ferrolb_testkit::needs(&TOOLS);
        let lab = Lab {
            a: Netns::new(&format!("ann{tag}-a")).expect("namespace a"),
            b: Netns::new(&format!("ann{tag}-b")).expect("namespace b"),
        };
        lab.link(IFACE, MAC_A, IFACE, MAC_B);
        for (ns, n) in [(&lab.a, 1), (&lab.b, 2)] {
            ns.addr(IFACE, &format!("198.51.100.{n}/24")).unwrap();
            ns.addr(IFACE, &format!("2001:db8:100::{n}/64")).unwrap();
        }
        lab
    }

    /// A veth pair, `dev_a` in `a` and `dev_b` in `b`, both up and running.
    pub fn link(&self, dev_a: &str, mac_a: Mac, dev_b: &str, mac_b: Mac) {
        let (mac_a, mac_b) = (mac_str(mac_a), mac_str(mac_b));
        veth(
            VethEnd::new(self.a.name(), dev_a).mac(&mac_a),
            VethEnd::new(self.b.name(), dev_b).mac(&mac_b),
        )
        .expect("veth pair");
    }

    /// `arping -c count` from `b`'s `dev` for `ip`: its output (lowercase) if answered.
    pub fn arping(&self, dev: &str, ip: Ipv4Addr, count: u32) -> Option<String> {
        let b = self.b.name();
        let out = run(&format!(
            "ip netns exec {b} arping -c {count} -w 3 -I {dev} {ip}"
        ));
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            eprintln!("arping {ip}: {text}{stderr}");
        }
        out.status.success().then_some(text)
    }

    /// `ndisc6` from `b` (multicast solicitation): the MAC that answered for `ip`, if any.
    pub fn ndisc6(&self, ip: Ipv6Addr) -> Option<String> {
        let b = self.b.name();
        let out = run(&format!(
            "ip netns exec {b} ndisc6 -1 -q -r 3 -w 700 {ip} {IFACE}"
        ));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_lowercase();
        out.status.success().then_some(text)
    }

    /// Whether `dev` in `a` is in the Ethernet multicast group `mac`.
    pub fn a_in_group(&self, dev: &str, mac: Mac) -> bool {
        self.a
            .ip(&["maddr", "show", "dev", dev])
            .unwrap()
            .contains(&mac_str(mac))
    }

    /// The neighbour entry `b` has for `ip` on `veth0`.
    pub fn b_neighbour(&self, ip: &str) -> String {
        self.b.ip(&["neigh", "show", ip, "dev", IFACE]).unwrap()
    }
}

/// Polls `cond` until it holds or `WAIT` passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}
