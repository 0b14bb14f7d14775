//! An image's root filesystem from host files: the binary, the tools it runs, their shared
//! libraries (with `ldd`) and a few configuration files, each at the path the programs expect.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ImageSpec, ldd};
use crate::Error;

/// Fills `rootfs` (which exists) for `spec` with `binary` as its entrypoint; returns the
/// total size of the files placed.
pub fn populate(spec: &ImageSpec, binary: &Path, rootfs: &Path) -> Result<u64, Error> {
    let mut bytes = place(binary, rootfs, Path::new(spec.entrypoint), Some(0o755))?;
    let mut programs = vec![binary.to_path_buf()];
    for tool in spec.tools {
        let tool = Path::new(tool);
        if !tool.exists() {
            return Err(Error::msg(format!(
                "{} is missing on this machine (deps::ensure_image_tools installs it)",
                tool.display()
            )));
        }
        bytes += place(tool, rootfs, tool, Some(0o755))?;
        programs.push(tool.to_path_buf());
    }
    let mut libraries = BTreeSet::new();
    for program in &programs {
        libraries.extend(libraries_of(program)?);
    }
    for lib in &libraries {
        bytes += place(lib, rootfs, lib, None)?;
    }
    for file in spec.files {
        bytes += place(Path::new(file), rootfs, Path::new(file), Some(0o644))?;
    }
    let (uid, gid) = spec.user;
    let mut passwd = "root:x:0:0:root:/:/sbin/nologin\n".to_string();
    let mut group = "root:x:0:\n".to_string();
    if uid != 0 {
        passwd += &format!("nonroot:x:{uid}:{gid}:nonroot:/:/sbin/nologin\n");
        group += &format!("nonroot:x:{gid}:\n");
    }
    let etc = rootfs.join("etc");
    std::fs::create_dir_all(&etc)
        .map_err(|e| Error::io(format!("creating {}", etc.display()), e))?;
    for (at, text) in [("etc/passwd", passwd), ("etc/group", group)] {
        let dest = rootfs.join(at);
        std::fs::write(&dest, &text)
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
        bytes += text.len() as u64;
    }
    Ok(bytes)
}

/// The shared libraries `program` loads, dynamic loader included.
fn libraries_of(program: &Path) -> Result<Vec<PathBuf>, Error> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| Error::io(format!("running ldd {}", program.display()), e))?;
    // ldd exits 1 for a static program ("not a dynamic executable" on stderr): not an error.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ldd::libraries(&text).map_err(|e| Error::msg(format!("{}: {e}", program.display())))
}

/// Copies host file `from` (following symlinks) to `at` inside `rootfs`, with `mode` if
/// given (else the host file's); returns its size.
fn place(from: &Path, rootfs: &Path, at: &Path, mode: Option<u32>) -> Result<u64, Error> {
    let relative = at.strip_prefix("/").unwrap_or(at);
    let dest = rootfs.join(relative);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    let bytes = std::fs::copy(from, &dest).map_err(|e| {
        Error::io(
            format!("copying {} to {}", from.display(), dest.display()),
            e,
        )
    })?;
    if let Some(mode) = mode {
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(format!("setting the mode of {}", dest.display()), e))?;
    }
    Ok(bytes)
}
