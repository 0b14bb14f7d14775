//! What a root test needs: root and tools on `PATH`. With feature `root-tests` a missing one
//! fails the test naming it (never a silent pass).

use std::path::Path;

use crate::Error;

/// The package that brings each tool (for the message).
const PACKAGES: [(&str, &str); 8] = [
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("nft", "nftables"),
    ("conntrack", "conntrack"),
    ("arping", "iputils-arping"),
    ("ndisc6", "ndisc6"),
    ("sysctl", "procps"),
    ("unshare", "util-linux"),
];

/// What is missing of root and `tools`, one entry each (empty when all is there).
pub fn requirements(tools: &[&str]) -> Vec<String> {
    let mut missing = Vec::new();
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        missing.push(format!("root (running as uid {euid})"));
    }
    for tool in tools {
        if !on_path(tool) {
            let package = PACKAGES
                .iter()
                .find(|(t, _)| t == tool)
                .map_or_else(String::new, |(_, p)| format!(": apt-get install {p}"));
            missing.push(format!("`{tool}` (not on PATH{package})"));
        }
    }
    missing
}

/// Ok when running as root with every one of `tools` on `PATH`; else an error naming what is
/// missing.
pub fn require(tools: &[&str]) -> Result<(), Error> {
    let missing = requirements(tools);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Missing(format!(
            "this root test needs {}; run it as root with the tools installed (`cargo xtask test` installs them)",
            missing.join(", ")
        )))
    }
}

/// [`require`] for a test: panics naming what is missing.
#[track_caller]
pub fn needs(tools: &[&str]) {
    if let Err(missing) = require(tools) {
        panic!("{missing}");
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(tool)))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_its_package() {
        let missing = requirements(&["sh", "flbt-no-such-tool", "ndisc6-nope"]);
        assert!(
            missing.iter().any(|m| m.contains("flbt-no-such-tool")),
            "{missing:?}"
        );
        assert!(!missing.iter().any(|m| m.contains("`sh`")), "{missing:?}");
        let err = require(&["flbt-no-such-tool"]).unwrap_err().to_string();
        assert!(
            err.contains("flbt-no-such-tool") && err.contains("needs"),
            "{err}"
        );
    }
}
