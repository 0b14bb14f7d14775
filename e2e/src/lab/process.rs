//! Background processes of a lab. Every process carries `FERROLB_LAB=<lab>`,
//! `FERROLB_LAB_ROLE=<role>` and `FERROLB_LAB_ROOT=<labs root>` in its environment, so the lab
//! finds (and stops) exactly its own processes by scanning `/proc`, even after the process that
//! started them is gone, and labs kept under another root are told apart from this root's.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Error;

/// Environment variable naming the lab a process belongs to.
pub const ENV_LAB: &str = "FERROLB_LAB";
/// Environment variable naming the process's role in the lab (etcd, apiserver, ...).
pub const ENV_ROLE: &str = "FERROLB_LAB_ROLE";
/// Environment variable naming the labs root (it also chooses the root: [`super::labs_root`]).
/// A lab process without it belongs to [`super::DEFAULT_LABS_ROOT`].
pub const ENV_ROOT: &str = "FERROLB_LAB_ROOT";

/// What to start.
#[derive(Debug, Clone)]
pub struct Spawn<'a> {
    /// The lab.
    pub lab: &'a str,
    /// The role (unique per lab for singletons).
    pub role: &'a str,
    /// Network namespace to run in (`ip netns exec`), or the host's.
    pub netns: Option<&'a str>,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// File receiving stdout and stderr (appended).
    pub log: &'a Path,
}

/// Starts a process in the background, in its own process group (a terminal's Ctrl-C does not
/// reach it), with output appended to its log. Returns its pid.
pub fn spawn(s: &Spawn<'_>) -> Result<u32, Error> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.log)
        .map_err(|e| Error::io(format!("opening log {}", s.log.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io("duplicating log handle", e))?;
    let mut cmd = match s.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).args(&s.argv);
            c
        }
        None => {
            let (prog, rest) = s
                .argv
                .split_first()
                .ok_or_else(|| Error::msg(format!("no program given for role {}", s.role)))?;
            let mut c = Command::new(prog);
            c.args(rest);
            c
        }
    };
    cmd.env(ENV_LAB, s.lab)
        .env(ENV_ROLE, s.role)
        .env(ENV_ROOT, super::labs_root())
        .envs(s.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("starting {} ({})", s.role, s.argv.join(" ")), e))?;
    Ok(child.id())
}

/// Pids of live processes of `lab` (with `role`, when given).
pub fn find(lab: &str, role: Option<&str>) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let want_lab = format!("{ENV_LAB}={lab}");
    let want_role = role.map(|r| format!("{ENV_ROLE}={r}"));
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let mut lab_ok = false;
            let mut role_ok = want_role.is_none();
            for var in env.split(|b| *b == 0) {
                if var == want_lab.as_bytes() {
                    lab_ok = true;
                }
                if want_role.as_deref().is_some_and(|r| var == r.as_bytes()) {
                    role_ok = true;
                }
            }
            lab_ok && role_ok && alive(*pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Names of every lab that has live processes, under any labs root.
pub fn labs_running() -> Vec<String> {
    let mut labs: Vec<String> = lab_processes().into_iter().map(|(lab, _)| lab).collect();
    labs.sort();
    labs.dedup();
    labs
}

/// Names of the labs with live processes under this process's labs root
/// ([`super::labs_root`]): what a test may take down without touching a lab someone else keeps
/// under another root (their names may look alike: test labs are named by pid).
pub fn labs_running_here() -> Vec<String> {
    let here = super::labs_root();
    let mut labs: Vec<String> = lab_processes()
        .into_iter()
        .filter(|(_, root)| *root == here)
        .map(|(lab, _)| lab)
        .collect();
    labs.sort();
    labs.dedup();
    labs
}

/// The labs `lab down --all` takes down: those with live processes under this process's labs
/// root, those with a directory in it, and those that only have network namespaces left (no
/// live process under any root). Never a lab whose processes run under another root.
pub fn labs_to_take_down() -> Vec<String> {
    let root = super::labs_root();
    let dirs: Vec<String> = fs::read_dir(&root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    owned_labs(
        &lab_processes(),
        &root,
        &dirs,
        &super::topology::labs_with_namespaces(),
    )
}

/// [`labs_to_take_down`]'s choice from (lab, root) of every lab process, the directories in
/// `root` and the labs that have network namespaces. Pure.
fn owned_labs(
    processes: &[(String, PathBuf)],
    root: &Path,
    dirs: &[String],
    with_netns: &[String],
) -> Vec<String> {
    let running_elsewhere = |lab: &str| processes.iter().any(|(l, r)| l == lab && r != root);
    let mut labs: Vec<String> = processes
        .iter()
        .filter(|(_, r)| r == root)
        .map(|(l, _)| l.clone())
        .chain(dirs.iter().cloned())
        .chain(
            with_netns
                .iter()
                .filter(|l| !processes.iter().any(|(p, _)| p == *l))
                .cloned(),
        )
        .filter(|l| !running_elsewhere(l) || processes.iter().any(|(p, r)| p == l && r == root))
        .filter(|l| !l.is_empty())
        .collect();
    labs.sort();
    labs.dedup();
    labs
}

/// The labs roots that processes of lab `lab` run under (more than one when labs of the same
/// name run under different roots).
pub fn roots_of(lab: &str) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = lab_processes()
        .into_iter()
        .filter(|(name, _)| name == lab)
        .map(|(_, root)| root)
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// (lab, labs root) of every process that belongs to a lab.
fn lab_processes() -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| lab_of(&fs::read(format!("/proc/{pid}/environ")).ok()?))
        .collect()
}

/// The lab and labs root a process's environment (`/proc/PID/environ`) names; a lab process
/// without [`ENV_ROOT`] belongs to [`super::DEFAULT_LABS_ROOT`].
fn lab_of(environ: &[u8]) -> Option<(String, PathBuf)> {
    let lab_prefix = format!("{ENV_LAB}=");
    let root_prefix = format!("{ENV_ROOT}=");
    let vars: Vec<&str> = environ
        .split(|b| *b == 0)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .collect();
    let lab = vars.iter().find_map(|v| v.strip_prefix(&lab_prefix))?;
    let root = vars
        .iter()
        .find_map(|v| v.strip_prefix(&root_prefix))
        .unwrap_or(super::DEFAULT_LABS_ROOT);
    Some((lab.to_string(), PathBuf::from(root)))
}

/// Whether `pid` runs (a zombie does not count).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Sends `sig` to a process; a process that is already gone is not an error.
pub fn signal(pid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(raw), sig);
    }
}

/// Stops processes: SIGTERM, then SIGKILL for whatever still runs after `grace`.
pub fn stop(pids: &[u32], grace: Duration) {
    for &pid in pids {
        signal(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pids.iter().any(|&p| alive(p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &pid in pids.iter().filter(|&&p| alive(p)) {
        signal(pid, Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && pids.iter().any(|&p| alive(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time a process used so far (user + system, its threads included; children it waited
/// for are not), in seconds, from `/proc/PID/stat` (`ticks` per second: `sysconf(_SC_CLK_TCK)`,
/// 100 on Linux).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_seconds_of(&stat, 100)
}

/// [`cpu_seconds`] of one `/proc/PID/stat` line: fields 14 and 15 (utime, stime), counted after
/// the command name, which may hold spaces and parentheses.
fn cpu_seconds_of(stat: &str, ticks: u32) -> Option<f64> {
    let (_, after_name) = stat.rsplit_once(") ")?;
    // After the name: field 3 (state) is index 0, so utime (14) is index 11.
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / f64::from(ticks))
}

/// A size field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`, ...), in bytes.
pub fn status_bytes(pid: u32, key: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_after_a_name_with_spaces() {
        let stat = "4242 (kube (api) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 12 0 100 1000 200";
        assert_eq!(cpu_seconds_of(stat, 100), Some(3.0));
        assert_eq!(cpu_seconds_of("4242 (x) S 1", 100), None);
        let me = cpu_seconds(std::process::id()).expect("own stat");
        assert!(me >= 0.0);
    }

    #[test]
    fn a_process_names_its_lab_and_root_or_the_default_root() {
        assert_eq!(
            lab_of(b"PATH=/bin\0FERROLB_LAB=t1\0FERROLB_LAB_ROOT=/tmp/ferrolb/labs-b\0"),
            Some(("t1".into(), PathBuf::from("/tmp/ferrolb/labs-b")))
        );
        assert_eq!(
            lab_of(b"FERROLB_LAB=t1\0FERROLB_LAB_ROLE=agent"),
            Some(("t1".into(), PathBuf::from(crate::lab::DEFAULT_LABS_ROOT)))
        );
        assert_eq!(lab_of(b"FERROLB_LAB_ROOT=/x\0HOME=/root"), None);
    }

    #[test]
    fn down_all_takes_only_this_roots_labs() {
        let (a, b) = (
            PathBuf::from("/tmp/ferrolb/labs-a"),
            PathBuf::from("/tmp/ferrolb/labs-b"),
        );
        let procs = [
            ("ta1".to_string(), a.clone()),
            ("tb1".to_string(), b.clone()),
            ("tb2".to_string(), b.clone()),
        ];
        let dirs = ["ta1".to_string(), "ta-dead".to_string()];
        // tb1 and tb2 have namespaces and run under b; "orphan" has namespaces and no process.
        let netns = ["ta1", "tb1", "tb2", "orphan"].map(String::from);
        assert_eq!(
            owned_labs(&procs, &a, &dirs, &netns),
            ["orphan", "ta-dead", "ta1"]
        );
        assert_eq!(
            owned_labs(&procs, &b, &[], &netns),
            ["orphan", "tb1", "tb2"]
        );
        // A directory here named like a lab running under another root is left alone.
        assert_eq!(owned_labs(&procs, &a, &["tb1".to_string()], &[]), ["ta1"]);
    }
}
