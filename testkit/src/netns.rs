//! Network namespaces, veths, addresses and routes, through iproute2.

use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Error, run, task_in, thread_in};

/// Start of every [`Netns`] name.
pub const PREFIX: &str = "flbt-";
/// How long [`veth`] waits for both ends to be up (carrier seen).
const LINK_UP: Duration = Duration::from_secs(5);

/// Where iproute2 keeps named namespaces.
const RUN_NETNS: &str = "/run/netns";

/// Runs `ip -n <ns> ARGS...`; its stdout.
pub fn ip(ns: &str, args: &[&str]) -> Result<String, Error> {
    let mut argv = vec!["ip", "-n", ns];
    argv.extend_from_slice(args);
    run(&argv)
}

/// Runs a command inside namespace `ns` (`ip netns exec`); its stdout.
pub fn exec(ns: &str, argv: &[&str]) -> Result<String, Error> {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(argv);
    run(&full)
}

/// Whether a named network namespace exists.
pub fn exists(ns: &str) -> bool {
    Path::new(RUN_NETNS).join(ns).exists()
}

/// Every named network namespace whose name starts with `prefix`, sorted.
pub fn list(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(RUN_NETNS) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Kernel settings of a new namespace (besides `lo` up, which every namespace gets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sysctls {
    /// Static IPv6: duplicate address detection off (addresses work at once) and router
    /// advertisements ignored.
    pub static_ipv6: bool,
    /// Reverse-path filtering off (a host with several paths).
    pub loose_rp_filter: bool,
    /// IPv4 and IPv6 forwarding set to this, if given.
    pub forwarding: Option<bool>,
}

impl Sysctls {
    /// A lab host: static IPv6, loose reverse-path filtering, forwarding as given.
    pub const fn host(forwarding: bool) -> Sysctls {
        Sysctls {
            static_ipv6: true,
            loose_rp_filter: true,
            forwarding: Some(forwarding),
        }
    }

    fn settings(&self) -> Vec<String> {
        let mut kv = Vec::new();
        if self.static_ipv6 {
            kv.extend(
                [
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.default.accept_ra=0",
                ]
                .map(String::from),
            );
        }
        if self.loose_rp_filter {
            kv.extend(
                [
                    "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0",
                ]
                .map(String::from),
            );
        }
        if let Some(on) = self.forwarding {
            let v = u8::from(on);
            kv.push(format!("net.ipv4.ip_forward={v}"));
            kv.push(format!("net.ipv6.conf.all.forwarding={v}"));
        }
        kv
    }
}

/// Creates namespace `ns` (if missing) with `lo` up and `sysctls` applied.
pub fn create(ns: &str, sysctls: Sysctls) -> Result<(), Error> {
    if exists(ns) {
        return Ok(());
    }
    run(&["ip", "netns", "add", ns])?;
    for kv in sysctls.settings() {
        exec(ns, &["sysctl", "-qw", &kv])?;
    }
    ip(ns, &["link", "set", "lo", "up"])?;
    Ok(())
}

/// Deletes a namespace (its devices go with it); a missing one is fine.
pub fn delete(ns: &str) -> Result<(), Error> {
    if !exists(ns) {
        return Ok(());
    }
    run(&["ip", "netns", "del", ns]).map(|_| ())
}

/// Whether interface `dev` exists in `ns`.
pub fn has_link(ns: &str, dev: &str) -> bool {
    ip(ns, &["link", "show", "dev", dev]).is_ok()
}

/// One end of a veth pair: its namespace, its name and, if given, its MAC.
#[derive(Debug, Clone, Copy)]
pub struct VethEnd<'a> {
    /// The namespace it lives in.
    pub netns: &'a str,
    /// The interface name.
    pub dev: &'a str,
    /// Its MAC (`02:00:...`), else the kernel's random one.
    pub mac: Option<&'a str>,
}

impl<'a> VethEnd<'a> {
    /// `dev` in `netns` with a random MAC.
    pub const fn new(netns: &'a str, dev: &'a str) -> VethEnd<'a> {
        VethEnd {
            netns,
            dev,
            mac: None,
        }
    }

    /// The same end with `mac`.
    pub const fn mac(self, mac: &'a str) -> VethEnd<'a> {
        VethEnd {
            mac: Some(mac),
            ..self
        }
    }
}

/// A veth pair between two namespaces (unless `a` exists already), both ends up and running
/// (the kernel drops frames sent before it has seen the carrier, so this waits for it).
pub fn veth(a: VethEnd<'_>, b: VethEnd<'_>) -> Result<(), Error> {
    if !has_link(a.netns, a.dev) {
        ip(
            a.netns,
            &[
                "link", "add", a.dev, "type", "veth", "peer", "name", b.dev, "netns", b.netns,
            ],
        )?;
    }
    for end in [a, b] {
        let mut args = vec!["link", "set", end.dev];
        if let Some(mac) = end.mac {
            args.extend(["address", mac]);
        }
        args.push("up");
        ip(end.netns, &args)?;
    }
    for end in [a, b] {
        wait_up(end)?;
    }
    Ok(())
}

/// [`veth`] without chosen MACs: `a` in `ns_a`, `b` in `ns_b`.
pub fn veth_between(ns_a: &str, a: &str, ns_b: &str, b: &str) -> Result<(), Error> {
    veth(VethEnd::new(ns_a, a), VethEnd::new(ns_b, b))
}

fn wait_up(end: VethEnd<'_>) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        let shown = ip(end.netns, &["link", "show", "dev", end.dev])?;
        // Until the kernel has seen the carrier (operstate UP), frames sent are dropped.
        if shown.contains("state UP") {
            return Ok(());
        }
        if start.elapsed() > LINK_UP {
            return Err(Error::NotUp {
                netns: end.netns.to_string(),
                dev: end.dev.to_string(),
                secs: LINK_UP.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A bridge `name` in `ns`, up, without multicast snooping (so NDP's solicited-node multicast
/// reaches every port); kept if it exists.
pub fn bridge(ns: &str, name: &str) -> Result<(), Error> {
    if !has_link(ns, name) {
        ip(ns, &["link", "add", name, "type", "bridge"])?;
    }
    ip(
        ns,
        &["link", "set", name, "type", "bridge", "mcast_snooping", "0"],
    )?;
    ip(ns, &["link", "set", name, "up"]).map(|_| ())
}

/// Plugs `host`'s interface `dev` into bridge `bridge` of namespace `lan`: a veth pair whose
/// `port` end is a port of the bridge.
pub fn bridge_port(
    lan: &str,
    bridge: &str,
    port: &str,
    host: &str,
    dev: &str,
) -> Result<(), Error> {
    veth_between(lan, port, host, dev)?;
    ip(lan, &["link", "set", port, "master", bridge]).map(|_| ())
}

/// Adds (or keeps) address `cidr` (`addr/prefix`) on `dev`; IPv6 without DAD.
pub fn addr(ns: &str, dev: &str, cidr: &str) -> Result<(), Error> {
    let mut args = vec!["addr", "replace", cidr, "dev", dev];
    if cidr.contains(':') {
        args.push("nodad");
    }
    ip(ns, &args).map(|_| ())
}

/// Adds or replaces a route (`ip route replace ARGS...`), IPv4 or IPv6 by its addresses.
pub fn route(ns: &str, args: &[&str]) -> Result<(), Error> {
    let v6 = args.iter().any(|a| a.contains(':'));
    let mut argv = vec![if v6 { "-6" } else { "-4" }, "route", "replace"];
    argv.extend_from_slice(args);
    ip(ns, &argv).map(|_| ())
}

/// A network namespace of this process, named `flbt-<pid>-<n>-<tag>` (unique per process, so
/// concurrent test runs never clash), with `lo` up; deleted on drop, also when a test fails.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace with `lo` up and no other settings.
    pub fn new(tag: &str) -> Result<Netns, Error> {
        Netns::with(tag, Sysctls::default())
    }

    /// A new namespace with `sysctls` applied.
    pub fn with(tag: &str, sysctls: Sysctls) -> Result<Netns, Error> {
        static REAPED: Once = Once::new();
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        REAPED.call_once(reap_stale);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{tag}", std::process::id());
        run(&["ip", "netns", "add", &name])?;
        // From here on the namespace is ours: dropped (deleted) if the setup fails.
        let netns = Netns { name };
        for kv in sysctls.settings() {
            netns.exec(&["sysctl", "-qw", &kv])?;
        }
        netns.ip(&["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <name> ARGS...`; its stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String, Error> {
        ip(&self.name, args)
    }

    /// `ip -n <name>` with `line` split at whitespace (`"addr add 192.0.2.1/24 dev eth0"`).
    pub fn ip_line(&self, line: &str) -> Result<String, Error> {
        self.ip(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// Runs a command inside; its stdout.
    pub fn exec(&self, argv: &[&str]) -> Result<String, Error> {
        exec(&self.name, argv)
    }

    /// Adds address `cidr` on `dev` (see [`addr`]).
    pub fn addr(&self, dev: &str, cidr: &str) -> Result<(), Error> {
        addr(&self.name, dev, cidr)
    }

    /// Adds or replaces a route (see [`route`]).
    pub fn route(&self, args: &[&str]) -> Result<(), Error> {
        route(&self.name, args)
    }

    /// A veth pair, `dev` here and `peer_dev` in `peer`, both up (see [`veth`]).
    pub fn veth_to(&self, dev: &str, peer: &Netns, peer_dev: &str) -> Result<(), Error> {
        veth_between(&self.name, dev, &peer.name, peer_dev)
    }

    /// Runs `f` on a new thread inside this namespace (see [`thread_in`]).
    pub fn thread<T, F>(&self, f: F) -> JoinHandle<Result<T, Error>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        thread_in(&self.name, f)
    }

    /// Runs the future `f` makes on a new thread inside this namespace, on a current-thread
    /// tokio runtime there (see [`task_in`]).
    pub fn task<T, F, Fut>(&self, f: F) -> JoinHandle<Result<T, Error>>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        task_in(&self.name, f)
    }

    /// [`Netns::task`], waited for: its value; a panic inside is raised here.
    pub fn block_on<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        match self.task(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = delete(&self.name);
    }
}

/// The pid in `flbt-<pid>-<n>-<tag>`.
fn owner(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Deletes `flbt-` namespaces whose process is gone (a killed test run).
fn reap_stale() {
    for name in list(PREFIX) {
        if let Some(pid) = owner(&name)
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = delete(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_the_pid_in_the_name() {
        assert_eq!(owner("flbt-4242-0-dp"), Some(4242));
        assert_eq!(owner("flbt-dp4242u0"), None);
        assert_eq!(owner("flb-lab-node-a"), None);
    }

    #[test]
    fn sysctls_say_what_is_asked() {
        assert!(Sysctls::default().settings().is_empty());
        let host = Sysctls::host(true).settings();
        assert!(host.contains(&"net.ipv4.ip_forward=1".to_string()));
        assert!(host.contains(&"net.ipv6.conf.all.accept_dad=0".to_string()));
        let off = Sysctls::host(false).settings();
        assert!(off.contains(&"net.ipv6.conf.all.forwarding=0".to_string()));
    }
}
