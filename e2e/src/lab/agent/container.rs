//! One container of a ferrolb or agnhost Pod, supervised as the kubelet does (restartPolicy
//! Always, and OnFailure or Never for a Job's Pod, [`Restart`]): started ([`Launch`]) in the Pod's network namespace, probed
//! ([`super::probes`]), restarted with back-off ([`super::backoff`]) when it exits or fails
//! its liveness or startup probe, and stopped with SIGTERM, the grace period, then SIGKILL when
//! its Pod goes. Every change of state is written into the Pod's status
//! ([`super::pod_state::PodShared::update`]).
//!
//! The lab's own faults come through [`Control`]: `Kill` (SIGKILL), `Stop` (SIGTERM, grace,
//! SIGKILL) and then a hold — the container stays down, reported terminated and not ready,
//! until `Start` releases it and it starts at once, without back-off.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};

use super::backoff::Backoff;
use super::pod_state::PodShared;
use super::probes::{Kind, ProbeSpec, Tracker};
use super::status::{State, Terminated};
use crate::Error;
use crate::lab::process::{self, ENV_LAB, ENV_ROLE, ENV_ROOT};

/// The answer to a [`Control`]: the container's pid once it runs (`Start`), none once it is
/// gone (`Kill`, `Stop`).
pub type Reply = oneshot::Sender<Result<Option<u32>, String>>;

/// What the lab asks of a container.
#[derive(Debug)]
pub enum Control {
    /// SIGKILL, then hold; answered once the process is gone.
    Kill(Reply),
    /// SIGTERM, the grace period, SIGKILL, then hold; answered once the process is gone.
    Stop(Reply),
    /// Release the hold and start at once; answered once the process runs.
    Start(Reply),
}

/// What starts a container's process (in the Pod's network namespace, through `ip netns exec`;
/// the process that runs is the container's, `ip` and `ferrolb-lab` exec into it).
#[derive(Debug, Clone)]
pub enum Launch {
    /// `ferrolb-lab pod-run --plan PLAN`: a ferrolb image's container ([`super::pod_run`]).
    Plan(PathBuf),
    /// `ferrolb-lab uts-run --hostname HOSTNAME -- ARGV`: a host program in a UTS namespace of
    /// its own ([`super::uts_run`]) with exactly `env` (an agnhost container).
    Host {
        /// The container's host name.
        hostname: String,
        /// Program and arguments.
        argv: Vec<String>,
        /// Environment.
        env: Vec<(String, String)>,
    },
    /// Nothing: the lab cannot run this container (why); it stays waiting with reason
    /// `CreateContainerError` until its Pod goes.
    Refused(String),
}

/// The Pod's `restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always started again (the default; Deployments' and DaemonSets' Pods).
    Always,
    /// Started again only after a failure (exit code not 0).
    OnFailure,
    /// Never started again.
    Never,
}

impl Restart {
    /// The policy `restartPolicy` names (`Always` when missing or unknown).
    pub fn of(policy: Option<&str>) -> Restart {
        match policy {
            Some("OnFailure") => Restart::OnFailure,
            Some("Never") => Restart::Never,
            _ => Restart::Always,
        }
    }

    /// Whether a container that exited with `code` is started again.
    pub fn again(self, code: i32) -> bool {
        match self {
            Restart::Always => true,
            Restart::OnFailure => code != 0,
            Restart::Never => false,
        }
    }
}

/// How to run one container.
#[derive(Debug, Clone)]
pub struct ContainerCtx {
    /// Its Pod.
    pub pod: Arc<PodShared>,
    /// Its index in the Pod's containers.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// The `ferrolb-lab` binary.
    pub exe: PathBuf,
    /// What starts its process.
    pub launch: Launch,
    /// Its log (appended across restarts).
    pub log: PathBuf,
    /// The network namespace it runs in.
    pub netns: String,
    /// Its lab role (how the lab finds its process).
    pub role: String,
    /// Its probes.
    pub probes: Vec<ProbeSpec>,
    /// The Pod's terminationGracePeriodSeconds.
    pub grace: Duration,
    /// The Pod's restartPolicy.
    pub restart: Restart,
}

/// Why a running container ended.
struct Ended {
    term: Terminated,
    held: bool,
    deleting: bool,
}

fn spawn(ctx: &ContainerCtx) -> Result<Child, Error> {
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ctx.log)
            .map_err(|e| Error::io(format!("opening {}", ctx.log.display()), e))
    };
    let mut cmd = tokio::process::Command::new("ip");
    cmd.args(["netns", "exec", &ctx.netns])
        .arg(&ctx.exe)
        .env_clear();
    match &ctx.launch {
        Launch::Plan(plan) => {
            cmd.arg("pod-run")
                .arg("--plan")
                .arg(plan)
                .env("PATH", crate::image::PATH);
        }
        Launch::Host {
            hostname,
            argv,
            env,
        } => {
            cmd.args(["uts-run", "--hostname", hostname, "--"])
                .args(argv)
                .env("PATH", crate::image::PATH)
                .envs(env.iter().map(|(k, v)| (k, v)));
        }
        Launch::Refused(why) => return Err(Error::msg(why.clone())),
    }
    cmd.env(ENV_LAB, &ctx.pod.lab)
        .env(ENV_ROLE, &ctx.role)
        .env(ENV_ROOT, crate::lab::labs_root())
        .stdin(Stdio::null())
        .stdout(open()?)
        .stderr(open()?)
        .process_group(0);
    cmd.spawn()
        .map_err(|e| Error::io(format!("starting container {}", ctx.name), e))
}

/// Runs the container until its Pod goes; `control` carries the lab's requests.
pub async fn supervise(ctx: ContainerCtx, mut control: mpsc::Receiver<Control>) {
    let mut deleting = ctx.pod.deleting.subscribe();
    if let Launch::Refused(why) = &ctx.launch {
        refused(&ctx, why, &mut control, &mut deleting).await;
        return;
    }
    let mut backoff = Backoff::default();
    let mut held = false;
    let mut next_start = Instant::now();
    let mut last_finish: Option<Instant> = None;
    let mut waiters: Vec<Reply> = Vec::new();
    let mut first = true;
    loop {
        if deleting.borrow().is_some() {
            break;
        }
        if held || Instant::now() < next_start {
            tokio::select! {
                c = control.recv() => match c {
                    Some(Control::Kill(r) | Control::Stop(r)) => {
                        held = true;
                        ctx.pod.set_held(ctx.index, true);
                        let _ = r.send(Ok(None));
                    }
                    Some(Control::Start(r)) => {
                        held = false;
                        ctx.pod.set_held(ctx.index, false);
                        backoff.reset();
                        next_start = Instant::now();
                        waiters.push(r);
                    }
                    None => break,
                },
                () = sleep_until(next_start), if !held => {}
                _ = deleting.changed() => {}
            }
            continue;
        }
        let now = Instant::now();
        if let Some(finished) = last_finish {
            backoff.restarted(finished.into_std(), now.into_std());
        }
        let child = match spawn(&ctx) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("agent: {e}");
                ctx.pod.update(ctx.index, |c| {
                    c.state = State::Waiting {
                        reason: "RunContainerError".into(),
                        message: Some(e.to_string()),
                    };
                });
                for w in waiters.drain(..) {
                    let _ = w.send(Err(e.to_string()));
                }
                last_finish = Some(now);
                next_start = now + backoff.delay(now.into_std());
                continue;
            }
        };
        let pid = child.id();
        let started_at = Timestamp::now();
        let id = format!("lab://{}-{}", ctx.role, started_at.as_millisecond());
        ctx.pod.set_pid(ctx.index, pid);
        ctx.pod.update(ctx.index, |c| {
            if !first {
                c.restart_count += 1;
            }
            c.container_id = id.clone();
            // A container held down and released: its end becomes the last state.
            if let State::Terminated(t) =
                std::mem::replace(&mut c.state, State::Running { started_at })
            {
                c.last = Some(t);
            }
            c.ready = false;
            c.started = false;
        });
        first = false;
        for w in waiters.drain(..) {
            let _ = w.send(Ok(pid));
        }
        let ended = running(&ctx, child, started_at, id, &mut control, &mut deleting).await;
        ctx.pod.set_pid(ctx.index, None);
        let finished = Instant::now();
        last_finish = Some(finished);
        held = held || ended.held;
        ctx.pod.set_held(ctx.index, held);
        if !held && !ended.deleting && !ctx.restart.again(ended.term.exit_code) {
            ctx.pod.update(ctx.index, move |c| {
                c.ready = false;
                c.started = false;
                c.finished = true;
                c.state = State::Terminated(ended.term);
            });
            // Ended for good: nothing more to do until its Pod goes.
            let why = "the container has completed (restartPolicy)";
            refuse_until_deleted(why, &mut control, &mut deleting).await;
            break;
        }
        let delay = backoff.delay(finished.into_std());
        next_start = finished + delay;
        let name = ctx.name.clone();
        let pod_name = ctx.pod.key.name.clone();
        let gone = ended.deleting;
        ctx.pod.update(ctx.index, move |c| {
            c.ready = false;
            c.started = false;
            if ended.deleting || held {
                let mut term = ended.term;
                if held && !ended.deleting {
                    term.message =
                        Some("held by the lab (lab kill or lab stop) until lab start".into());
                }
                c.state = State::Terminated(term);
            } else {
                c.last = Some(ended.term);
                c.state = State::Waiting {
                    reason: if delay.is_zero() {
                        "ContainerCreating"
                    } else {
                        "CrashLoopBackOff"
                    }
                    .into(),
                    message: (!delay.is_zero()).then(|| {
                        format!(
                            "back-off {}s restarting failed container={name} pod={pod_name}",
                            delay.as_secs()
                        )
                    }),
                };
            }
        });
        if gone {
            break;
        }
    }
    for w in waiters {
        let _ = w.send(Err("the Pod is being deleted".into()));
    }
}

/// A container the lab cannot run: reported waiting (`CreateContainerError`, why) with one
/// `Failed` event, until its Pod goes; the lab's requests are refused.
async fn refused(
    ctx: &ContainerCtx,
    why: &str,
    control: &mut mpsc::Receiver<Control>,
    deleting: &mut watch::Receiver<Option<Duration>>,
) {
    ctx.pod.update(ctx.index, |c| {
        c.state = State::Waiting {
            reason: "CreateContainerError".into(),
            message: Some(why.to_string()),
        };
    });
    ctx.pod.event("Warning", "Failed", &format!("Error: {why}"));
    refuse_until_deleted(why, control, deleting).await;
}

/// Answers every kill, stop or start the lab asks for with `why` until the Pod is being
/// deleted (or the agent drops the container).
async fn refuse_until_deleted(
    why: &str,
    control: &mut mpsc::Receiver<Control>,
    deleting: &mut watch::Receiver<Option<Duration>>,
) {
    while deleting.borrow().is_none() {
        tokio::select! {
            c = control.recv() => match c {
                Some(Control::Kill(r) | Control::Stop(r) | Control::Start(r)) => {
                    let _ = r.send(Err(why.to_string()));
                }
                None => return,
            },
            changed = deleting.changed() => if changed.is_err() { return },
        }
    }
}

/// Signals the container's process.
fn signal(pid: Option<u32>, sig: Signal) {
    if let Some(pid) = pid {
        process::signal(pid, sig);
    }
}

async fn running(
    ctx: &ContainerCtx,
    mut child: Child,
    started_at: Timestamp,
    id: String,
    control: &mut mpsc::Receiver<Control>,
    deleting: &mut watch::Receiver<Option<Duration>>,
) -> Ended {
    let pid = child.id();
    let has_startup = ctx.probes.iter().any(|p| p.kind == Kind::Startup);
    let has_readiness = ctx.probes.iter().any(|p| p.kind == Kind::Readiness);
    let (started_tx, started_rx) = watch::channel(!has_startup);
    let (results_tx, mut results) = mpsc::channel(16);
    let tasks: Vec<_> = ctx
        .probes
        .iter()
        .map(|p| {
            tokio::spawn(probe_loop(
                ctx.pod.clone(),
                p.clone(),
                started_rx.clone(),
                results_tx.clone(),
            ))
        })
        .collect();
    let mut trackers: HashMap<Kind, Tracker> = ctx
        .probes
        .iter()
        .map(|p| (p.kind, Tracker::new(p)))
        .collect();
    if !has_startup {
        ctx.pod.update(ctx.index, |c| {
            c.started = true;
            c.ready = !has_readiness;
        });
    }
    let mut kill_at: Option<Instant> = None;
    let mut held = false;
    let mut gone = false;
    let mut replies: Vec<Reply> = Vec::new();
    let mut control_open = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            Some((kind, outcome)) = results.recv() => {
                let outcome: Result<(), String> = outcome;
                if gone && kind != Kind::Readiness {
                    // As the kubelet: a Pod being deleted is no longer probed for liveness or
                    // startup (readiness goes on, so a terminating endpoint shows serving).
                    continue;
                }
                if let Err(why) = &outcome {
                    ctx.pod.event("Warning", "Unhealthy", &format!("{} probe failed: {why}", kind.name()));
                }
                let Some(tracker) = trackers.get_mut(&kind) else { continue };
                match (kind, tracker.observe(outcome.is_ok())) {
                    (Kind::Startup, Some(true)) => {
                        let _ = started_tx.send(true);
                        ctx.pod.update(ctx.index, |c| {
                            c.started = true;
                            c.ready = !has_readiness;
                        });
                    }
                    (Kind::Readiness, Some(ready)) if ctx.pod.ready(ctx.index) != ready => {
                        ctx.pod.update(ctx.index, |c| c.ready = ready);
                    }
                    (Kind::Liveness | Kind::Startup, Some(false)) if kill_at.is_none() => {
                        let spec = ctx.probes.iter().find(|p| p.kind == kind);
                        let grace = spec.and_then(|p| p.termination_grace).unwrap_or(ctx.grace);
                        ctx.pod.event("Normal", "Killing", &format!(
                            "Container {} failed {} probe, will be restarted",
                            ctx.name, kind.name().to_lowercase()));
                        signal(pid, Signal::SIGTERM);
                        kill_at = Some(Instant::now() + grace);
                    }
                    _ => {}
                }
            }
            c = control.recv(), if control_open => match c {
                Some(Control::Kill(r)) => {
                    held = true;
                    signal(pid, Signal::SIGKILL);
                    replies.push(r);
                }
                Some(Control::Stop(r)) => {
                    held = true;
                    signal(pid, Signal::SIGTERM);
                    let at = Instant::now() + ctx.grace;
                    kill_at = Some(kill_at.map_or(at, |k| k.min(at)));
                    replies.push(r);
                }
                Some(Control::Start(r)) => {
                    let _ = r.send(Ok(pid));
                }
                None => control_open = false,
            },
            changed = deleting.changed(), if !gone => {
                let grace = match changed {
                    Ok(()) => deleting.borrow().unwrap_or(ctx.grace),
                    Err(_) => Duration::ZERO,
                };
                gone = true;
                if grace.is_zero() {
                    signal(pid, Signal::SIGKILL);
                } else {
                    signal(pid, Signal::SIGTERM);
                    let at = Instant::now() + grace;
                    kill_at = Some(kill_at.map_or(at, |k| k.min(at)));
                }
            }
            () = async { if let Some(at) = kill_at { sleep_until(at).await } }, if kill_at.is_some() => {
                signal(pid, Signal::SIGKILL);
                kill_at = None;
            }
        }
    };
    for t in tasks {
        t.abort();
    }
    let (code, sig) = match &status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            (s.code(), s.signal())
        }
        Err(e) => {
            eprintln!("agent: waiting for container {}: {e}", ctx.name);
            (None, Some(9))
        }
    };
    for r in replies {
        let _ = r.send(Ok(None));
    }
    Ended {
        term: Terminated::of_exit(code, sig, started_at, id),
        held,
        deleting: gone,
    }
}

/// Probes every period after the initial delay (liveness and readiness only once started),
/// sending each outcome.
async fn probe_loop(
    pod: Arc<PodShared>,
    spec: ProbeSpec,
    mut started: watch::Receiver<bool>,
    results: mpsc::Sender<(Kind, Result<(), String>)>,
) {
    tokio::time::sleep(spec.initial_delay).await;
    loop {
        if spec.kind == Kind::Startup {
            // Done once it succeeded: the kubelet stops probing startup.
            if *started.borrow() {
                return;
            }
        } else if started.wait_for(|s| *s).await.is_err() {
            return;
        }
        let outcome = pod.prober.probe(pod.ip, &spec.action, spec.timeout).await;
        if results.send((spec.kind, outcome)).await.is_err() {
            return;
        }
        tokio::time::sleep(spec.period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Restart;

    #[test]
    fn restart_policies_as_the_kubelet_reads_them() {
        assert_eq!(Restart::of(None), Restart::Always);
        assert_eq!(Restart::of(Some("OnFailure")), Restart::OnFailure);
        assert_eq!(Restart::of(Some("Never")), Restart::Never);
        assert!(Restart::Always.again(0) && Restart::Always.again(1));
        assert!(!Restart::OnFailure.again(0) && Restart::OnFailure.again(2));
        assert!(!Restart::Never.again(0) && !Restart::Never.again(1));
    }
}
