//! `ferrolb-lab uts-run --hostname NAME -- PROGRAM ARGS...`: runs a host program as a Pod's
//! container process with the Pod's host name, as a container runtime gives every container a
//! UTS namespace of its Pod. Started by the agent inside the Pod's network namespace
//! (`ip netns exec`); this process unshares its UTS namespace, sets the host name and becomes
//! the program (execvp, the environment kept), so its pid is the container's.
//!
//! agnhost answers `/hostname` and the UDP `hostname` command with `os.Hostname()`, which the
//! upstream e2e tests compare with Pod names. Done with nix's safe `unshare` and `sethostname`
//! rather than `unshare(1)`, which cannot set a host name without a shell between it and the
//! program (quoting, and one more process to exec through).

use std::convert::Infallible;
use std::ffi::CString;

use nix::sched::{CloneFlags, unshare};
use nix::unistd::{execvp, sethostname};

use crate::Error;

fn cstring(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::msg(format!("{s:?} contains a NUL byte")))
}

/// Becomes `argv` with host name `hostname` in a UTS namespace of its own (returns only on
/// failure).
pub fn run(hostname: &str, argv: &[String]) -> Result<Infallible, Error> {
    let first = argv
        .first()
        .ok_or_else(|| Error::msg("uts-run: no program given"))?;
    let program = cstring(first)?;
    let args: Vec<CString> = argv.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
    unshare(CloneFlags::CLONE_NEWUTS)
        .map_err(|e| Error::msg(format!("unshare(CLONE_NEWUTS): {e}")))?;
    sethostname(hostname)
        .map_err(|e| Error::msg(format!("setting the host name {hostname:?}: {e}")))?;
    execvp(&program, &args).map_err(|e| Error::msg(format!("exec {first}: {e}")))
}
