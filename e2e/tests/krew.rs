//! kubectl-ferrolb through krew, the way users install kubectl plugins, offline: the pinned krew
//! (built from the Go module proxy by `cargo xtask test`) installs the plugin from a manifest
//! rendered by the same template as the committed `deploy/krew/ferrolb.yaml` and a local archive
//! of the built binary; kubectl then finds `kubectl ferrolb` on PATH. A wrong checksum is
//! refused, and the committed manifest is the template's for this version.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferrolb_e2e::krew;
use ferrolb_e2e::lab::controlplane;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The built plugin, beside this test's own binary (target/<profile>/deps/..).
fn plugin_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join(krew::BINARY);
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p ferrolb-plugin`",
        bin.display()
    );
    bin
}

fn install(root: &Path, manifest: &Path, archive: &Path) -> Output {
    Command::new(krew::require().unwrap_or_else(|e| panic!("{e}")))
        .args(["install", "--manifest"])
        .arg(manifest)
        .arg("--archive")
        .arg(archive)
        .env("KREW_ROOT", root)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("ferrolb-krew-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn krew_installs_the_plugin_and_kubectl_finds_it() {
    let dir = Scratch::new();
    let archive = dir.path().join(krew::archive_name());
    let sha = krew::archive(&plugin_binary(), &repo().join("LICENSE"), &archive).unwrap();
    let manifest = dir.path().join("ferrolb.yaml");

    // A wrong checksum is refused (the check can fail).
    std::fs::write(&manifest, krew::manifest(&"0".repeat(64))).unwrap();
    let root = dir.path().join("refused");
    let out = install(&root, &manifest, &archive);
    assert!(!out.status.success(), "krew accepted a wrong checksum");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum does not match"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(&manifest, krew::manifest(&sha)).unwrap();
    let root = dir.path().join("krew");
    let out = install(&root, &manifest, &archive);
    assert!(
        out.status.success(),
        "krew install: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        root.join("store/ferrolb")
            .join(krew::VERSION)
            .join("LICENSE")
            .is_file()
    );

    // kubectl's own plugin discovery finds it on PATH.
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = controlplane::bin("kubectl");
    let out = Command::new(&kubectl)
        .args(["plugin", "list", "--name-only"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(krew::BINARY),
        "kubectl plugin list: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&kubectl)
        .args(["ferrolb", "--version"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} {}", krew::BINARY, krew::VERSION.trim_start_matches('v')),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_committed_manifest_is_the_templates() {
    let committed = std::fs::read_to_string(repo().join(krew::MANIFEST)).unwrap();
    let sha = krew::sha256_of_manifest(&committed).expect("no sha256 in the committed manifest");
    assert_eq!(
        committed,
        krew::manifest(sha),
        "{} differs from the template: run `cargo xtask krew`",
        krew::MANIFEST
    );
}
