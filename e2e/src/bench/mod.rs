//! The benchmarks (`cargo xtask bench ...`): allocation, speakers, edge, failover and `why` in
//! the lab; the node's rules and ARP answers in scratch namespaces without a lab.

pub mod alloc;
pub mod arp;
pub mod dataplanes;
pub mod edge;
pub mod failover;
pub mod prom;
pub mod rules;
pub mod speaker;
pub mod thresholds;
pub mod why;

use std::path::Path;

use serde_json::{Value, json};

pub use alloc::{AllocOptions, alloc, peak_rss};

/// The cargo profile `cargo xtask bench` builds the benchmarks and every binary they run
/// with (the workspace's `[profile.bench-release]`: release with line tables, for profilers).
pub const PROFILE: &str = "bench-release";

/// What every benchmark's JSON records about where it ran: `commit` (`git rev-parse HEAD` of
/// `repo`, `-dirty` when the work tree has changes; null outside git), `cores` (the CPUs this
/// process may use) and `profile` (the build of this process, which is also the build of the
/// lab binaries it runs). `cargo xtask bench` adds them to each benchmark's JSON.
pub fn recorded(repo: &Path) -> Value {
    let profile = std::env::current_exe()
        .ok()
        .and_then(|exe| profile_of(&exe));
    json!({"commit": commit(repo), "cores": cores(), "profile": profile})
}

/// The CPUs this process may use.
pub fn cores() -> Option<usize> {
    std::thread::available_parallelism().ok().map(usize::from)
}

/// `git rev-parse HEAD` of `repo`, with `-dirty` when `git status --porcelain` lists anything.
pub fn commit(repo: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "HEAD"]).filter(|h| !h.is_empty())?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// The cargo profile a binary was built with: the name of its directory under the target
/// directory (`debug`, `release`, or a custom profile's).
pub fn profile_of(binary: &Path) -> Option<String> {
    binary
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
}
