//! The root filesystems of ferrolb's images for the lab's Pods, assembled the way
//! `cargo xtask image` assembles them ([`crate::image::rootfs::populate`]) but from the lab's
//! own binaries: the debug builds next to `ferrolb-lab` that the tests already build.
//! Building the release images instead would cost every CI run minutes of compiling for the
//! same code; what differs is only the optimisation level, the Pod runs the image's layout,
//! user, libraries and tools.
//!
//! Each root is cached under `<lab>/images/<binary>-<mtime>/rootfs`, so a rebuilt binary gets
//! a fresh root at its next container start while running containers keep theirs.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::image::{IMAGES, ImageSpec, rootfs};
use crate::{Error, Lab};

/// Directories and files a container's mounts land on: they must exist in a read-only root.
pub const MOUNT_POINTS: [(&str, bool); 7] = [
    ("proc", true),
    ("dev", true),
    ("sys", true),
    ("tmp", true),
    ("var/run/secrets/kubernetes.io/serviceaccount", true),
    ("etc/hosts", false),
    ("etc/resolv.conf", false),
];

/// The ferrolb image `reference` names: exactly [`ImageSpec::reference`]
/// (`ghcr.io/ferrolb/controller:v0.1.0`, ...), the references deploy/ uses. Another tag is
/// another build, which the lab does not have: it names no image here.
pub fn image(reference: &str) -> Option<&'static ImageSpec> {
    IMAGES.iter().find(|i| i.reference() == reference)
}

/// The root filesystem of `spec` from the lab's binary, built unless cached.
pub fn rootfs(lab: &Lab, spec: &ImageSpec) -> Result<PathBuf, Error> {
    let binary = lab.bin_dir().join(spec.binary);
    let meta = std::fs::metadata(&binary).map_err(|e| {
        Error::io(
            format!(
                "reading {} (build it: cargo build -p {})",
                binary.display(),
                spec.binary
            ),
            e,
        )
    })?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let dir = lab
        .dir
        .join("images")
        .join(format!("{}-{mtime}", spec.binary));
    let root = dir.join("rootfs");
    if root.exists() {
        return Ok(root);
    }
    let partial = dir.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .map_err(|e| Error::io(format!("removing {}", partial.display()), e))?;
    }
    let work = partial.join("rootfs");
    std::fs::create_dir_all(&work)
        .map_err(|e| Error::io(format!("creating {}", work.display()), e))?;
    rootfs::populate(spec, &binary, &work)?;
    mount_points(&work)?;
    std::fs::rename(&partial, &dir)
        .map_err(|e| Error::io(format!("moving {} into place", partial.display()), e))?;
    Ok(root)
}

fn mount_points(root: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    for (at, is_dir) in MOUNT_POINTS {
        let p = root.join(at);
        let made = if is_dir {
            std::fs::create_dir_all(&p)
        } else {
            p.parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&p, b""))
        };
        made.map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
    }
    let tmp = root.join("tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
        .map_err(|e| Error::io(format!("setting the mode of {}", tmp.display()), e))
}
