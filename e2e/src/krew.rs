//! kubectl-ferrolb's krew manifest and archive: [`manifest`] renders `deploy/krew/ferrolb.yaml`
//! (one template, for the committed file and the tests), [`archive`] packs the binary and the
//! LICENSE as krew unpacks them, and [`build`] makes the pinned krew (`e2e/krew/go.mod`) from
//! the Go module proxy into the cache, like helm. `e2e/tests/krew.rs` installs the plugin with
//! that krew from a local archive, offline; `cargo xtask krew` writes the release archive and
//! the committed manifest with its checksum.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::lab::controlplane::GoTool;

/// The pinned krew release (`e2e/krew/go.mod`).
pub const KREW_VERSION: &str = "v0.4.3";
/// The module it is built from, relative to the repository.
pub const MODULE: &str = "e2e/krew";
/// The committed manifest, relative to the repository.
pub const MANIFEST: &str = "deploy/krew/ferrolb.yaml";
/// The plugin's binary.
pub const BINARY: &str = "kubectl-ferrolb";
/// The plugin's version (the workspace's).
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// The one platform released: the archive's name says it.
pub const PLATFORM: (&str, &str) = ("linux", "amd64");

/// The release archive's file name.
pub fn archive_name() -> String {
    format!("{BINARY}-{VERSION}-{}-{}.tar.gz", PLATFORM.0, PLATFORM.1)
}

/// The krew manifest of the release whose archive has `sha256`.
pub fn manifest(sha256: &str) -> String {
    let (os, arch) = PLATFORM;
    let name = archive_name();
    format!(
        r#"# kubectl-ferrolb for krew (https://krew.sigs.k8s.io): `cargo xtask krew` writes this file
# and the archive it names (dist/), with that archive's checksum. e2e/tests/krew.rs installs the
# plugin from such a manifest and a local archive with the pinned krew, offline.
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: ferrolb
spec:
  version: {VERSION}
  homepage: https://github.com/ferrolb/ferrolb
  shortDescription: Say why a ferrolb LoadBalancer address is dead
  description: |
    ferrolb's kubectl plugin. `kubectl ferrolb why SERVICE` walks the chain
    from allocation to the wire (election, ARP/NDP answers, the node's rules,
    health checks) and stops at the first broken link with the fix;
    `kubectl ferrolb status` shows the controller, every speaker and pool;
    `kubectl ferrolb import-metallb` converts MetalLB's configuration.
  platforms:
    - selector:
        matchLabels:
          os: {os}
          arch: {arch}
      uri: https://github.com/ferrolb/ferrolb/releases/download/{VERSION}/{name}
      sha256: "{sha256}"
      bin: {BINARY}
      files:
        - from: {BINARY}
          to: .
        - from: LICENSE
          to: .
"#
    )
}

/// The checksum in a rendered manifest.
pub fn sha256_of_manifest(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .map(|v| v.trim().trim_matches('"'))
}

/// Packs `binary` and `license` into the tar.gz `out` (both at its root, owner and times fixed
/// so the same inputs give the same bytes) and returns its SHA-256.
pub fn archive(binary: &Path, license: &Path, out: &Path) -> Result<String, Error> {
    let stage = out.with_extension("stage");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage).map_err(|e| Error::io("creating the staging dir", e))?;
    for (from, to) in [(binary, BINARY), (license, "LICENSE")] {
        std::fs::copy(from, stage.join(to))
            .map_err(|e| Error::io(format!("copying {}", from.display()), e))?;
    }
    let status = Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-czf",
        ])
        .arg(out)
        .arg("-C")
        .arg(&stage)
        .args([BINARY, "LICENSE"])
        .env("GZIP", "-n")
        .status()
        .map_err(|e| Error::io("running tar", e))?;
    let _ = std::fs::remove_dir_all(&stage);
    if !status.success() {
        return Err(Error::msg(format!("tar failed ({status})")));
    }
    sha256(out)
}

/// The SHA-256 of `file`, hex (coreutils' `sha256sum`).
pub fn sha256(file: &Path) -> Result<String, Error> {
    let out = Command::new("sha256sum")
        .arg(file)
        .output()
        .map_err(|e| Error::io("running sha256sum", e))?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .filter(|h| out.status.success() && h.len() == 64)
        .map(str::to_string)
        .ok_or_else(|| Error::msg(format!("sha256sum {} failed", file.display())))
}

/// The pinned krew as a cached tool.
pub(crate) fn tool() -> GoTool<'static> {
    GoTool {
        name: "krew",
        version: KREW_VERSION,
        module: MODULE,
        package: "sigs.k8s.io/krew/cmd/krew",
        ldflags: format!("-s -w -X sigs.k8s.io/krew/internal/version.gitTag={KREW_VERSION}"),
    }
}

/// Builds krew into the cache unless it is there (half a minute cold).
pub fn build(repo: &Path) -> Result<(), Error> {
    tool().build(repo)
}

/// The pinned krew, or why it cannot run.
pub fn require() -> Result<PathBuf, Error> {
    tool().require()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_its_checksum() {
        let m = manifest(&"ab".repeat(32));
        assert_eq!(sha256_of_manifest(&m), Some("ab".repeat(32).as_str()));
        assert!(m.contains(&format!("releases/download/{VERSION}/{}", archive_name())));
    }
}
