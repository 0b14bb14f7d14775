//! umoci and skopeo: a root filesystem into a docker-archive, and the archive checked back
//! the way a container runtime would use it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{ImageSpec, PATH, rootfs};
use crate::Error;

/// The tag inside the scratch OCI layouts (never leaves `work`).
const TAG: &str = "build";

/// A ruleset for `nft -c`: nft's libraries load, it parses the speaker's kind of rules and the
/// kernel's nf_tables accepts them (in a network namespace of its own).
const NFT_CHECK: &str = "table inet ferrolb_image_check {\n chain c {\n  meta l4proto tcp tcp dport 80 accept\n  meta l4proto udp accept\n }\n}\n";

/// Builds `spec`'s image from `binary` in `work` and writes it to `archive`; returns the size
/// of the root filesystem.
pub fn assemble(
    spec: &ImageSpec,
    binary: &Path,
    work: &Path,
    archive: &Path,
) -> Result<u64, Error> {
    let layout = work.join("oci");
    let image = format!("{}:{TAG}", layout.display());
    let bundle = work.join("bundle");
    run(
        "umoci",
        &["init", "--layout", &layout.display().to_string()],
    )?;
    run("umoci", &["new", "--image", &image])?;
    run(
        "umoci",
        &["unpack", "--image", &image, &bundle.display().to_string()],
    )?;
    let bytes = rootfs::populate(spec, binary, &bundle.join("rootfs"))?;
    run(
        "umoci",
        &["repack", "--image", &image, &bundle.display().to_string()],
    )?;
    let (uid, gid) = spec.user;
    run(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--config.entrypoint",
            spec.entrypoint,
            "--config.user",
            &format!("{uid}:{gid}"),
            "--config.env",
            &format!("PATH={PATH}"),
            "--config.label",
            &format!("org.opencontainers.image.title={}", spec.binary),
            "--os",
            "linux",
            "--architecture",
            oci_arch(),
        ],
    )?;
    if let Some(dir) = archive.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    if archive.exists() {
        std::fs::remove_file(archive)
            .map_err(|e| Error::io(format!("removing {}", archive.display()), e))?;
    }
    let to = format!("docker-archive:{}:{}", archive.display(), spec.reference());
    run(
        "skopeo",
        &["--insecure-policy", "copy", &format!("oci:{image}"), &to],
    )?;
    Ok(bytes)
}

/// Reads `archive` back into an OCI layout, unpacks it, checks its entrypoint, user and `PATH`,
/// and runs the entrypoint with `--help` (and each tool with `--version`) from the unpacked
/// root filesystem as the image's user. Returns the first line of the help.
pub fn verify(spec: &ImageSpec, archive: &Path, work: &Path) -> Result<String, Error> {
    let layout = work.join("check");
    let image = format!("{}:check", layout.display());
    let bundle = work.join("check-bundle");
    let from = format!("docker-archive:{}", archive.display());
    run(
        "skopeo",
        &["--insecure-policy", "copy", &from, &format!("oci:{image}")],
    )?;
    run(
        "umoci",
        &["unpack", "--image", &image, &bundle.display().to_string()],
    )?;
    let config = std::fs::read_to_string(bundle.join("config.json"))
        .map_err(|e| Error::io("reading the unpacked image's config.json", e))?;
    let config: serde_json::Value = serde_json::from_str(&config)
        .map_err(|e| Error::msg(format!("the unpacked image's config.json: {e}")))?;
    let process = &config["process"];
    let args: Vec<&str> = process["args"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let user = (
        process["user"]["uid"].as_u64(),
        process["user"]["gid"].as_u64(),
    );
    let want_user = (Some(u64::from(spec.user.0)), Some(u64::from(spec.user.1)));
    if args != [spec.entrypoint] || user != want_user {
        return Err(Error::msg(format!(
            "{}: the archive runs {args:?} as {user:?}, not [{:?}] as {want_user:?}",
            spec.reference(),
            spec.entrypoint
        )));
    }
    let rootfs = bundle.join("rootfs");
    let help = in_image(spec, &rootfs, &[spec.entrypoint, "--help"], None, false)?;
    let usage = format!("Usage: {}", spec.binary);
    if !help.contains(&usage) {
        return Err(Error::msg(format!(
            "{}: --help printed no {usage:?}:\n{help}",
            spec.reference()
        )));
    }
    for tool in spec.tools {
        in_image(spec, &rootfs, &[tool, "--version"], None, false)?;
    }
    if spec.tools.iter().any(|t| t.ends_with("/nft")) {
        // A fresh network namespace of its own: nothing on this machine is touched.
        in_image(
            spec,
            &rootfs,
            &["nft", "-c", "-f", "-"],
            Some(NFT_CHECK),
            true,
        )?;
    }
    Ok(help.lines().next().unwrap_or_default().to_string())
}

/// Runs `argv` inside `rootfs` as the image's user with only the image's environment
/// (optionally in a new network namespace); returns stdout.
fn in_image(
    spec: &ImageSpec,
    rootfs: &Path,
    argv: &[&str],
    stdin: Option<&str>,
    own_netns: bool,
) -> Result<String, Error> {
    let (uid, gid) = spec.user;
    let mut c = if own_netns {
        let mut c = Command::new("unshare");
        c.args(["--net", "chroot"]);
        c
    } else {
        Command::new("chroot")
    };
    c.arg(format!("--userspec={uid}:{gid}"))
        .arg(rootfs)
        .args(argv)
        .env_clear()
        .env("PATH", PATH)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("(in {}) {}", spec.reference(), argv.join(" "));
    let mut child = c
        .spawn()
        .map_err(|e| Error::io(format!("running {shown}"), e))?;
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| Error::io(format!("feeding {shown}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("running {shown}"), e))?;
    if !out.status.success() {
        return Err(Error::command(shown, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The OCI name of this machine's architecture (the binaries are built for it).
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), Error> {
    let shown = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("running {shown}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::command(shown, &out))
    }
}
