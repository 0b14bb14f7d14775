//! The namespaces, the link between them and the tools run in `b`.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ferrolb_speaker::packets::Mac;

pub const MAC_A: Mac = [0x02, 0, 0, 0, 0x0a, 0x01];
pub const MAC_B: Mac = [0x02, 0, 0, 0, 0x0b, 0x01];
pub const IFACE: &str = "veth0";
pub const WAIT: Duration = Duration::from_secs(5);
pub const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2);

/// Runs a command line (words separated by spaces).
fn run(cmdline: &str) -> Output {
    let argv: Vec<&str> = cmdline.split_whitespace().collect();
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("spawn")
}

/// Runs a command line that must succeed; returns its stdout.
pub fn ok(cmdline: &str) -> String {
    let out = run(cmdline);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmdline}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn mac_str(mac: Mac) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Namespaces `a` and `b`, a veth pair `veth0`—`veth0` between them, addresses .1/::1 in `a`
/// and .2/::2 in `b`. Removed on drop. Needs root (`ip netns add` says so otherwise).
pub struct Lab {
    pub a: String,
    pub b: String,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let base = format!("flbt-ann{}{tag}{n}", std::process::id());
        let lab = Lab {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
        };
        for ns in [&lab.a, &lab.b] {
            ok(&format!("ip netns add {ns}"));
            ok(&format!("ip -n {ns} link set lo up"));
        }
        lab.link(IFACE, MAC_A, IFACE, MAC_B);
        for (ns, n) in [(&lab.a, 1), (&lab.b, 2)] {
            ok(&format!(
                "ip -n {ns} addr add 198.51.100.{n}/24 dev {IFACE}"
            ));
            ok(&format!(
                "ip -n {ns} addr add 2001:db8:100::{n}/64 dev {IFACE} nodad"
            ));
        }
        lab
    }

    /// A veth pair, `dev_a` in `a` and `dev_b` in `b`, both up and running.
    pub fn link(&self, dev_a: &str, mac_a: Mac, dev_b: &str, mac_b: Mac) {
        let (a, b) = (&self.a, &self.b);
        ok(&format!(
            "ip -n {a} link add {dev_a} type veth peer name {dev_b} netns {b}"
        ));
        for (ns, dev, mac) in [(a, dev_a, mac_a), (b, dev_b, mac_b)] {
            ok(&format!(
                "ip -n {ns} link set {dev} address {} up",
                mac_str(mac)
            ));
        }
        // Until the kernel has seen the carrier (operstate UP), frames sent are dropped.
        for (ns, dev) in [(a, dev_a), (b, dev_b)] {
            wait_until("the veth running", || {
                ok(&format!("ip -n {ns} link show dev {dev}")).contains("state UP")
            });
        }
    }

    /// `arping -c count` from `b`'s `dev` for `ip`: its output (lowercase) if answered.
    pub fn arping(&self, dev: &str, ip: Ipv4Addr, count: u32) -> Option<String> {
        let b = &self.b;
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
        let b = &self.b;
        let out = run(&format!(
            "ip netns exec {b} ndisc6 -1 -q -r 3 -w 700 {ip} {IFACE}"
        ));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_lowercase();
        out.status.success().then_some(text)
    }

    /// Whether `dev` in `a` is in the Ethernet multicast group `mac`.
    pub fn a_in_group(&self, dev: &str, mac: Mac) -> bool {
        ok(&format!("ip -n {} maddr show dev {dev}", self.a)).contains(&mac_str(mac))
    }

    /// The neighbour entry `b` has for `ip` on `veth0`.
    pub fn b_neighbour(&self, ip: &str) -> String {
        ok(&format!("ip -n {} neigh show {ip} dev {IFACE}", self.b))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = run(&format!("ip netns del {ns}"));
        }
    }
}

/// Runs `f` on a new thread inside namespace `ns`, on a current-thread tokio runtime there.
pub fn spawn_in_netns<F, Fut>(ns: &str, f: F) -> JoinHandle<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f());
    })
}

/// Polls `cond` until it holds or `WAIT` passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}
