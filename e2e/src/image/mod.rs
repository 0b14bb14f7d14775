//! Container images without a Docker engine (`cargo xtask image`).
//!
//! 1. The release binaries are built with cargo's profile `image` (release, symbols stripped;
//!    output in `target/image/`).
//! 2. Each image's root filesystem is assembled from host files: the binary at the root, the
//!    host tools it runs (the speaker's `nft` and `conntrack`), every shared library they load
//!    (found with `ldd`, glibc included: the toolchain has no musl target), CA certificates and
//!    a two-line `/etc/passwd`.
//! 3. `umoci` turns it into a one-layer OCI image with its entrypoint, user and `PATH`;
//!    `skopeo` writes it as a docker-archive `target/images/<binary>.tar` tagged with
//!    [`ImageSpec::reference`] (`ghcr.io/ferrolb/<name>:v<version>`), which
//!    `kind load image-archive` and `ctr images import` take.
//! 4. Each archive is checked the way a runtime would see it: copied back into an OCI layout,
//!    unpacked, and its entrypoint started with `--help` from its own root filesystem (chroot)
//!    as the image's user; the speaker's `nft` also checks a ruleset inside a fresh network
//!    namespace.
//!
//! The tools come from Debian ([`crate::lab::deps::ensure_image_tools`]); nothing needs a registry.

pub mod ldd;
mod oci;
pub mod rootfs;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// `PATH` inside the images (the speaker runs `nft` and `conntrack` by name).
pub const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The cargo profile of the images' binaries, and where cargo puts them (under the target
/// directory).
pub const PROFILE: &str = "image";

/// Where ferrolb's images live: `<REGISTRY>/<name>`. deploy/, the release manifests and the
/// lab use exactly these references; a kustomize `images:` entry changes them on a cluster.
pub const REGISTRY: &str = "ghcr.io/ferrolb";

/// The images' tag: `v` and the workspace version (every crate shares it), e.g. `v0.1.0`.
pub const TAG: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// One image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSpec {
    /// The binary (a cargo `[[bin]]`), also the archive's name: `target/images/<binary>.tar`.
    pub binary: &'static str,
    /// The image's name under [`REGISTRY`] (`controller`, `speaker`).
    pub name: &'static str,
    /// The image's entrypoint: the binary, at the root of the filesystem.
    pub entrypoint: &'static str,
    /// The uid and gid the image runs as.
    pub user: (u32, u32),
    /// Host programs copied in at the same path, with their libraries.
    pub tools: &'static [&'static str],
    /// Host files copied in at the same path.
    pub files: &'static [&'static str],
}

/// The controller: non-root (65532, the usual "nonroot"), only the binary, glibc and CA
/// certificates.
pub const CONTROLLER: ImageSpec = ImageSpec {
    binary: "ferrolb-controller",
    name: "controller",
    entrypoint: "/ferrolb-controller",
    user: (65532, 65532),
    tools: &[],
    files: &["/etc/ssl/certs/ca-certificates.crt"],
};

/// The speaker: root (raw sockets, nftables; the DaemonSet adds only NET_RAW and NET_ADMIN),
/// with `nft` and `conntrack`, and the protocol and service name files so that `nft list`
/// prints what it prints on the machines the tests ran on (`meta l4proto tcp`, not `6`).
pub const SPEAKER: ImageSpec = ImageSpec {
    binary: "ferrolb-speaker",
    name: "speaker",
    entrypoint: "/ferrolb-speaker",
    user: (0, 0),
    tools: &["/usr/sbin/nft", "/usr/sbin/conntrack"],
    files: &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/protocols",
        "/etc/services",
    ],
};

/// Every image `cargo xtask image` builds.
pub const IMAGES: [ImageSpec; 2] = [CONTROLLER, SPEAKER];

impl ImageSpec {
    /// The repository: `ghcr.io/ferrolb/<name>`.
    pub fn repository(&self) -> String {
        format!("{REGISTRY}/{}", self.name)
    }

    /// The reference the archive is tagged with, and deploy/ uses: `<repository>:<TAG>`.
    pub fn reference(&self) -> String {
        format!("{}:{TAG}", self.repository())
    }

    /// The archive's path under the target directory.
    pub fn archive(&self, target_dir: &Path) -> PathBuf {
        target_dir
            .join("images")
            .join(format!("{}.tar", self.binary))
    }
}

/// What was built.
#[derive(Debug, Clone)]
pub struct Built {
    /// Which image.
    pub spec: ImageSpec,
    /// The docker-archive.
    pub archive: PathBuf,
    /// Its size in bytes (layers are stored uncompressed).
    pub archive_bytes: u64,
    /// Size of the root filesystem's files in bytes.
    pub rootfs_bytes: u64,
    /// The first line the entrypoint printed for `--help`, run from the unpacked archive.
    pub help: String,
}

/// Builds the binaries and every image; checks each archive (see the module docs).
/// `cargo` is the cargo to run (xtask passes `$CARGO`).
pub fn build(repo: &Path, target_dir: &Path, cargo: &OsStr) -> Result<Vec<Built>, Error> {
    crate::lab::deps::ensure_image_tools()?;
    build_binaries(repo, cargo)?;
    let mut built = Vec::new();
    for spec in IMAGES {
        let binary = target_dir.join(PROFILE).join(spec.binary);
        let work = target_dir.join("images/work").join(spec.binary);
        let archive = spec.archive(target_dir);
        reset_dir(&work)?;
        let rootfs_bytes = oci::assemble(&spec, &binary, &work, &archive)?;
        let help = oci::verify(&spec, &archive, &work)?;
        std::fs::remove_dir_all(&work)
            .map_err(|e| Error::io(format!("removing {}", work.display()), e))?;
        let archive_bytes = std::fs::metadata(&archive)
            .map_err(|e| Error::io(format!("reading {}", archive.display()), e))?
            .len();
        built.push(Built {
            spec,
            archive,
            archive_bytes,
            rootfs_bytes,
            help,
        });
    }
    // Empty now; a failed build leaves its work directory for a look.
    let _ = std::fs::remove_dir(target_dir.join("images/work"));
    Ok(built)
}

fn build_binaries(repo: &Path, cargo: &OsStr) -> Result<(), Error> {
    let inherits = format!("profile.{PROFILE}.inherits=\"release\"");
    let strip = format!("profile.{PROFILE}.strip=true");
    let mut c = Command::new(cargo);
    c.current_dir(repo)
        .args(["build", "--profile", PROFILE, "--config", &inherits])
        .args(["--config", &strip]);
    for spec in IMAGES {
        c.args(["-p", spec.binary]);
    }
    c.arg("--bins");
    let status = c
        .status()
        .map_err(|e| Error::io("running cargo build for the images", e))?;
    if !status.success() {
        return Err(Error::msg(format!(
            "cargo build --profile {PROFILE} failed ({status})"
        )));
    }
    Ok(())
}

fn reset_dir(dir: &Path) -> Result<(), Error> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}
