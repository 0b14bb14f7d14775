//! The test's network: namespaces `flbedge-<pid>-<role>` joined by veths to a bridge in
//! `flbedge-<pid>-lan`. Every device is created inside these namespaces (veth peers directly in
//! their target namespace), every address is a documentation address, and dropping
//! [`Topology`] deletes the namespaces — also when the test fails. Namespaces of earlier runs
//! that were killed (their pid is gone) are removed first.

use std::fs::File;
use std::process::Command;
use std::thread::{self, JoinHandle};

use nix::sched::{CloneFlags, setns};

/// Start of every namespace name of this test.
pub const PREFIX: &str = "flbedge-";
/// The interface name inside every host namespace (unique, so nothing can hit a host link).
pub const IFACE: &str = "flbe0";

/// Runs a command; `Err` carries the command and its stderr.
pub fn run(argv: &[&str]) -> Result<String, String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `ip -n <ns> ARGS`.
pub fn ip(ns: &str, args: &[&str]) -> String {
    let mut argv = vec!["ip", "-n", ns];
    argv.extend_from_slice(args);
    run(&argv).unwrap()
}

/// Our namespaces that exist now.
pub fn existing(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The namespaces of one test run.
pub struct Topology {
    prefix: String,
    made: Vec<String>,
}

impl Topology {
    /// An empty topology; removes namespaces of killed runs.
    pub fn new() -> Topology {
        for name in existing(PREFIX) {
            let pid = name
                .strip_prefix(PREFIX)
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = run(&["ip", "netns", "del", &name]);
            }
        }
        Topology {
            prefix: format!("{PREFIX}{}", std::process::id()),
            made: Vec::new(),
        }
    }

    /// The name prefix of this run's namespaces.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn add_ns(&mut self, role: &str) -> String {
        let name = format!("{}-{role}", self.prefix);
        let _ = run(&["ip", "netns", "del", &name]);
        self.made.push(name.clone());
        run(&["ip", "netns", "add", &name]).unwrap();
        for kv in [
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.default.accept_ra=0",
        ] {
            run(&["ip", "netns", "exec", &name, "sysctl", "-qw", kv]).unwrap();
        }
        ip(&name, &["link", "set", "lo", "up"]);
        name
    }

    /// The LAN: a bridge in its own namespace.
    pub fn lan(&mut self) -> String {
        let lan = self.add_ns("lan");
        ip(&lan, &["link", "add", "br0", "type", "bridge"]);
        ip(&lan, &["link", "set", "br0", "up"]);
        lan
    }

    /// A host on `lan` with interface [`IFACE`] and the given addresses (CIDRs).
    pub fn host(&mut self, lan: &str, role: &str, cidrs: &[&str]) -> String {
        let ns = self.add_ns(role);
        let port = format!("p-{role}");
        ip(
            lan,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", IFACE, "netns", &ns,
            ],
        );
        ip(lan, &["link", "set", &port, "master", "br0", "up"]);
        ip(&ns, &["link", "set", IFACE, "up"]);
        for cidr in cidrs {
            let mut args = vec!["addr", "add", *cidr, "dev", IFACE];
            if cidr.contains(':') {
                args.push("nodad");
            }
            ip(&ns, &args);
        }
        ns
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for name in self.made.iter().rev() {
            let _ = run(&["ip", "netns", "del", name]);
        }
    }
}

/// Runs `f` on a new thread inside namespace `ns` (every socket it opens belongs to `ns`).
pub fn thread_in<T, F>(ns: &str, f: F) -> JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = File::open(&path).unwrap();
        setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
}

/// A current-thread runtime (one per namespace thread).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
