//! Network namespaces, veths and addresses, through iproute2. Nothing here touches the host's
//! own interfaces, routes or firewall: every device is created inside a lab namespace (veth
//! peers are created directly in their target namespaces).

use std::path::Path;
use std::process::Command;

use crate::Error;

/// Runs a command and returns its stdout; a failure carries the command line and stderr.
pub fn run(argv: &[&str]) -> Result<String, Error> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| Error::msg("empty command"))?;
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("running {}", argv.join(" ")), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            cmd: argv.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs `ip -n <ns> ARGS...`.
pub fn ip(ns: &str, args: &[&str]) -> Result<String, Error> {
    let mut argv = vec!["ip", "-n", ns];
    argv.extend_from_slice(args);
    run(&argv)
}

/// Runs a command inside a namespace.
pub fn exec(ns: &str, args: &[&str]) -> Result<String, Error> {
    let mut argv = vec!["ip", "netns", "exec", ns];
    argv.extend_from_slice(args);
    run(&argv)
}

/// Whether a named network namespace exists.
pub fn exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

/// Every named network namespace whose name starts with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut v: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// Creates a namespace (if missing) with loopback up, IPv6 DAD off (so addresses work at once),
/// loose reverse-path filtering, and forwarding as asked.
pub fn create(ns: &str, forwarding: bool) -> Result<(), Error> {
    if exists(ns) {
        return Ok(());
    }
    run(&["ip", "netns", "add", ns])?;
    let fwd = if forwarding { "1" } else { "0" };
    for kv in [
        "net.ipv6.conf.all.accept_dad=0".to_string(),
        "net.ipv6.conf.default.accept_dad=0".to_string(),
        "net.ipv6.conf.default.accept_ra=0".to_string(),
        "net.ipv4.conf.all.rp_filter=0".to_string(),
        "net.ipv4.conf.default.rp_filter=0".to_string(),
        format!("net.ipv4.ip_forward={fwd}"),
        format!("net.ipv6.conf.all.forwarding={fwd}"),
    ] {
        exec(ns, &["sysctl", "-qw", &kv])?;
    }
    ip(ns, &["link", "set", "lo", "up"])?;
    Ok(())
}

/// Deletes a namespace; a missing one is fine.
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

/// Creates a veth pair with `a` in `ns_a` and `b` in `ns_b`, both up.
pub fn veth(ns_a: &str, a: &str, ns_b: &str, b: &str) -> Result<(), Error> {
    if !has_link(ns_a, a) {
        ip(
            ns_a,
            &[
                "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns_b,
            ],
        )?;
    }
    ip(ns_a, &["link", "set", a, "up"])?;
    ip(ns_b, &["link", "set", b, "up"])?;
    Ok(())
}

/// Adds an address (`addr/prefix`) to `dev` unless present; IPv6 without DAD.
pub fn addr(ns: &str, dev: &str, cidr: &str) -> Result<(), Error> {
    let mut args = vec!["addr", "replace", cidr, "dev", dev];
    if cidr.contains(':') {
        args.push("nodad");
    }
    ip(ns, &args).map(|_| ())
}

/// Adds or replaces a route (`ip route replace ARGS...`), IPv4 or IPv6 by the destination.
pub fn route(ns: &str, args: &[&str]) -> Result<(), Error> {
    let v6 = args.iter().any(|a| a.contains(':'));
    let mut argv = vec![if v6 { "-6" } else { "-4" }, "route", "replace"];
    argv.extend_from_slice(args);
    ip(ns, &argv).map(|_| ())
}
