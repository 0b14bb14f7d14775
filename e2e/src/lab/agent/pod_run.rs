//! `ferrolb-lab pod-run --plan FILE`: starts one container of a ferrolb Pod as a container
//! runtime would, carrying out the [`RunPlan`] the agent decided ([`super::spec`]). Started by
//! the agent inside the Pod's network namespace (the node's for hostNetwork); this process
//! becomes the container's process (execve), so its pid is the container's.
//!
//! 1. A mount namespace of its own with every mount private (nothing reaches the host), and a
//!    UTS namespace with the Pod's host name unless the Pod uses the node's network.
//! 2. The root: the image's root filesystem bound read-only (`readOnlyRootFilesystem`), or an
//!    overlay over it whose writes go to a fresh tmpfs. Then a new `/proc`; a tmpfs `/dev`
//!    with only null, zero, full, random, urandom and tty bound from the host, and `/dev/shm`;
//!    a fresh read-only `/sys` (it shows the network namespace's devices); the plan's bind
//!    mounts (ServiceAccount credentials, `/etc/hosts`, `/etc/resolv.conf`).
//! 3. `pivot_root` into it, the old root detached.
//! 4. Privileges: the capability bounding set cut to the container's capabilities,
//!    no_new_privs when asked, the groups, gid and uid set; for uid 0 the inheritable,
//!    effective and permitted sets made exactly the container's capabilities (a non-root
//!    user keeps none across exec).
//! 5. `execve` of the program with the plan's environment.
//!
//! All through safe APIs (nix, caps); any failure is printed to the container's log and the
//! process exits 127 before exec, which the agent reports as the container's exit.

use std::collections::HashSet;
use std::convert::Infallible;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{
    Gid, Uid, chdir, execve, pivot_root, setgroups, sethostname, setresgid, setresuid,
};

use super::spec::RunPlan;
use crate::Error;

/// Device nodes bound from the host into the container's `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

fn sys(what: impl std::fmt::Display) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::msg(format!("{what}: {e}"))
}

fn none() -> Option<&'static str> {
    None
}

/// Reads the plan at `path` and becomes the container (returns only on failure).
pub fn run(path: &Path) -> Result<Infallible, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let plan: RunPlan =
        serde_json::from_str(&text).map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    let mut flags = CloneFlags::CLONE_NEWNS;
    if plan.hostname.is_some() {
        flags |= CloneFlags::CLONE_NEWUTS;
    }
    unshare(flags).map_err(sys("unshare"))?;
    mount(
        none(),
        "/",
        none(),
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        none(),
    )
    .map_err(sys("making every mount private"))?;
    if let Some(h) = &plan.hostname {
        sethostname(h).map_err(sys(format!("setting the host name {h}")))?;
    }
    let root = root(&plan)?;
    system_mounts(&root)?;
    for m in &plan.mounts {
        let target = inside(&root, &m.target);
        if m.source.is_dir() && !target.exists() {
            // A hostPath directory: its mount point is made in the image's root.
            std::fs::create_dir_all(&target)
                .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
        }
        bind(&m.source, &target, m.read_only)?;
    }
    if plan.read_only_root {
        mount(
            none(),
            &root,
            none(),
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            none(),
        )
        .map_err(sys("making the root read-only"))?;
    }
    enter(&root)?;
    chdir(plan.workdir.as_str()).map_err(sys(format!("chdir {}", plan.workdir)))?;
    drop_privileges(&plan)?;
    exec(&plan)
}

/// `target` (absolute, inside the container) under `root`.
fn inside(root: &Path, target: &str) -> PathBuf {
    root.join(target.trim_start_matches('/'))
}

/// The root to pivot into: the image's root bound onto itself, or an overlay over it.
fn root(plan: &RunPlan) -> Result<PathBuf, Error> {
    let lower = &plan.rootfs;
    if plan.read_only_root {
        mount(
            Some(lower),
            lower,
            none(),
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none(),
        )
        .map_err(sys(format!("binding {}", lower.display())))?;
        return Ok(lower.clone());
    }
    let scratch = &plan.scratch;
    mount(
        Some("tmpfs"),
        scratch,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=700"),
    )
    .map_err(sys(format!("mounting a tmpfs on {}", scratch.display())))?;
    for d in ["upper", "work", "merged"] {
        let p = scratch.join(d);
        std::fs::create_dir(&p).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
    }
    let merged = scratch.join("merged");
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        scratch.join("upper").display(),
        scratch.join("work").display()
    );
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(sys(format!("mounting an overlay over {}", lower.display())))?;
    Ok(merged)
}

/// /proc, a minimal /dev and a read-only /sys under `root`.
fn system_mounts(root: &Path) -> Result<(), Error> {
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("proc"),
        &root.join("proc"),
        Some("proc"),
        hardened,
        none(),
    )
    .map_err(sys("mounting /proc"))?;
    let dev = root.join("dev");
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .map_err(sys("mounting /dev"))?;
    for name in DEVICES {
        let node = dev.join(name);
        std::fs::write(&node, b"")
            .map_err(|e| Error::io(format!("creating {}", node.display()), e))?;
        bind(Path::new(&format!("/dev/{name}")), &node, false)?;
    }
    let shm = dev.join("shm");
    std::fs::create_dir(&shm).map_err(|e| Error::io("creating /dev/shm", e))?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        hardened,
        Some("mode=1777,size=65536k"),
    )
    .map_err(sys("mounting /dev/shm"))?;
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(to, dev.join(link))
            .map_err(|e| Error::io(format!("linking /dev/{link}"), e))?;
    }
    mount(
        Some("sysfs"),
        &root.join("sys"),
        Some("sysfs"),
        hardened | MsFlags::MS_RDONLY,
        none(),
    )
    .map_err(sys("mounting /sys"))
}

/// Binds `source` onto `target` (which must exist), read-only if asked.
fn bind(source: &Path, target: &Path, read_only: bool) -> Result<(), Error> {
    let what = format!("binding {} onto {}", source.display(), target.display());
    mount(Some(source), target, none(), MsFlags::MS_BIND, none()).map_err(sys(&what))?;
    if read_only {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        mount(none(), target, none(), flags, none()).map_err(sys(format!("{what} read-only")))?;
    }
    Ok(())
}

/// pivot_root into `root`, the old root detached.
fn enter(root: &Path) -> Result<(), Error> {
    chdir(root).map_err(sys(format!("chdir {}", root.display())))?;
    pivot_root(".", ".").map_err(sys("pivot_root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detaching the old root"))?;
    chdir("/").map_err(sys("chdir /"))
}

fn drop_privileges(plan: &RunPlan) -> Result<(), Error> {
    let caps_err =
        |what: &'static str| move |e: caps::errors::CapsError| Error::msg(format!("{what}: {e}"));
    let keep: HashSet<Capability> = plan
        .capabilities
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|e| Error::msg(format!("capability {c}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    unknown_capabilities()?;
    for cap in caps::runtime::thread_all_supported().difference(&keep) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(caps_err("cutting the bounding set"))?;
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_err("clearing the ambient set"))?;
    caps::set(None, CapSet::Inheritable, &keep).map_err(caps_err("setting the inheritable set"))?;
    if plan.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(sys("setting no_new_privs"))?;
    }
    let groups: Vec<Gid> = plan.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(sys("setgroups"))?;
    let gid = Gid::from_raw(plan.gid);
    setresgid(gid, gid, gid).map_err(sys(format!("setresgid {}", plan.gid)))?;
    let uid = Uid::from_raw(plan.uid);
    setresuid(uid, uid, uid).map_err(sys(format!("setresuid {}", plan.uid)))?;
    if plan.uid == 0 {
        caps::set(None, CapSet::Effective, &keep).map_err(caps_err("setting the effective set"))?;
        caps::set(None, CapSet::Permitted, &keep).map_err(caps_err("setting the permitted set"))?;
    }
    Ok(())
}

/// Refuses a kernel with capabilities the `caps` crate cannot name: they would stay in the
/// bounding set, and a root container would get them.
fn unknown_capabilities() -> Result<(), Error> {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(|e| Error::io("reading /proc/sys/kernel/cap_last_cap", e))?;
    let last: u8 = text
        .trim()
        .parse()
        .map_err(|_| Error::msg(format!("cap_last_cap {text:?} is not a number")))?;
    let known = caps::all().iter().map(|c| c.index()).max().unwrap_or(0);
    if last > known {
        return Err(Error::msg(format!(
            "the kernel has capabilities up to {last}, the caps crate knows up to {known}: \
             update caps so every capability can be dropped"
        )));
    }
    Ok(())
}

/// The program `name` names: a path, or the first match in the container's `PATH`.
fn program(name: &str, env: &[(String, String)]) -> Result<String, Error> {
    if name.contains('/') {
        return Ok(name.to_string());
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(crate::image::PATH, |(_, v)| v.as_str());
    path.split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .ok_or_else(|| Error::msg(format!("{name}: not found in PATH {path}")))
}

fn cstring(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::msg(format!("{s:?} contains a NUL byte")))
}

fn exec(plan: &RunPlan) -> Result<Infallible, Error> {
    let first = plan
        .argv
        .first()
        .ok_or_else(|| Error::msg("the container has no command"))?;
    let path = cstring(&program(first, &plan.env)?)?;
    let argv: Vec<CString> = plan
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<_, _>>()?;
    let env: Vec<CString> = plan
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    execve(&path, &argv, &env).map_err(sys(format!("exec {first}")))
}
