//! Host tools the lab needs, installed from Debian's packages when missing.

use std::process::Command;

use crate::Error;

/// (command, Debian package) pairs the lab and the later scenarios use.
pub const TOOLS: [(&str, &str); 12] = [
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("arping", "iputils-arping"),
    ("ndisc6", "ndisc6"),
    ("nft", "nftables"),
    ("tcpdump", "tcpdump"),
    ("conntrack", "conntrack"),
    ("sysctl", "procps"),
    // kube-proxy --proxy-mode iptables runs iptables-restore (Debian's default is iptables-nft).
    ("iptables-restore", "iptables"),
    // e2e/tests/kind.rs checks deploy/kind/quickstart.sh with it.
    ("shellcheck", "shellcheck"),
    // The upstream e2e tests run `nc` and `curl` in Pods through `kubectl exec`, which runs the
    // host's tools in the Pod's network namespace (the lab's kubelet exec server).
    ("nc", "netcat-openbsd"),
    ("curl", "curl"),
];

/// (command or absolute file, Debian package) pairs `cargo xtask image` needs: the image tools,
/// the programs and files copied into the speaker's image, and CA certificates.
pub const IMAGE_TOOLS: [(&str, &str); 7] = [
    ("umoci", "umoci"),
    ("skopeo", "skopeo"),
    ("nft", "nftables"),
    ("conntrack", "conntrack"),
    ("/etc/ssl/certs/ca-certificates.crt", "ca-certificates"),
    ("/etc/protocols", "netbase"),
    ("unshare", "util-linux"),
];

/// (command or absolute file, Debian package) pairs the lab's Pods need: what
/// [`crate::image::rootfs::populate`] copies into the images' root filesystems.
pub const ROOTFS_TOOLS: [(&str, &str); 4] = [
    ("nft", "nftables"),
    ("conntrack", "conntrack"),
    ("/etc/ssl/certs/ca-certificates.crt", "ca-certificates"),
    ("/etc/protocols", "netbase"),
];

fn have(cmd: &str) -> bool {
    if cmd.starts_with('/') {
        return std::path::Path::new(cmd).exists();
    }
    Command::new("sh")
        .args([
            "-c",
            &format!(
                "command -v {cmd} >/dev/null 2>&1 || test -x /usr/sbin/{cmd} || test -x /sbin/{cmd}"
            ),
        ])
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs whatever is missing (needs root and Debian's apt), and checks Go for the control
/// plane build.
pub fn ensure() -> Result<(), Error> {
    install_missing(&TOOLS)?;
    let built = crate::lab::controlplane::built() && crate::lab::helm::bin().is_file();
    if !built && !have("go") {
        return Err(Error::msg(
            "Go is needed once to build the control plane and helm (go 1.26); install it and run again",
        ));
    }
    Ok(())
}

/// Installs what `cargo xtask image` needs and is missing (needs root and Debian's apt).
pub fn ensure_image_tools() -> Result<(), Error> {
    install_missing(&IMAGE_TOOLS)
}

/// Installs what the images' root filesystems need and is missing (root, Debian's apt).
pub fn ensure_rootfs_tools() -> Result<(), Error> {
    install_missing(&ROOTFS_TOOLS)
}

fn install_missing(tools: &[(&str, &str)]) -> Result<(), Error> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(c, _)| !have(c))
        .map(|(_, p)| *p)
        .collect();
    if !missing.is_empty() {
        eprintln!("deps: installing {}", missing.join(" "));
        let update = Command::new("apt-get")
            .args(["update", "-qq"])
            .status()
            .map_err(|e| Error::io("running apt-get update (the lab needs Debian's apt)", e))?;
        if !update.success() {
            return Err(Error::msg("apt-get update failed; see its output above"));
        }
        let install = Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| Error::io("running apt-get install", e))?;
        if !install.success() {
            return Err(Error::msg(format!(
                "apt-get install {} failed",
                missing.join(" ")
            )));
        }
    }
    Ok(())
}
