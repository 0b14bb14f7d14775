//! A ferrolb Pod's status as the kubelet writes it, from what the agent knows of its
//! containers: phase, IPs, conditions (`Ready`/`ContainersReady` from readiness) and each
//! container's `state`, `lastState`, `ready`, `started` and `restartCount`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// A timestamp as the API writes it.
fn t(ts: &Timestamp) -> Value {
    json!(Time(*ts))
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    /// Its exit code (128 + signal when a signal ended it, as runtimes report it).
    pub exit_code: i32,
    /// `Completed` (exit 0) or `Error`, as the kubelet reports them.
    pub reason: String,
    /// Why, when the lab knows more (a failed liveness probe, a hold).
    pub message: Option<String>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Its container ID.
    pub container_id: String,
}

impl Terminated {
    /// The termination of a process that exited with `code` or was ended by `signal`.
    pub fn of_exit(
        code: Option<i32>,
        signal: Option<i32>,
        started_at: Timestamp,
        container_id: String,
    ) -> Terminated {
        let exit_code = code.unwrap_or_else(|| 128 + signal.unwrap_or(0));
        Terminated {
            exit_code,
            reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at,
            finished_at: Timestamp::now(),
            container_id,
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"exitCode": self.exit_code, "reason": self.reason,
            "startedAt": t(&self.started_at), "finishedAt": t(&self.finished_at),
            "containerID": self.container_id});
        if let Some(m) = &self.message {
            v["message"] = json!(m);
        }
        v
    }
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not started yet, or waiting to be restarted (`reason`: `ContainerCreating`,
    /// `CrashLoopBackOff`, `CreateContainerConfigError`, ...).
    Waiting {
        /// Why.
        reason: String,
        /// More.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// When it started.
        started_at: Timestamp,
    },
    /// Ended and not restarted (held by the lab, or its Pod is going).
    Terminated(Terminated),
}

/// What the agent knows of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerView {
    /// Its name.
    pub name: String,
    /// Its image reference.
    pub image: String,
    /// The current container's ID (`lab://...`).
    pub container_id: String,
    /// The readiness result (false unless running).
    pub ready: bool,
    /// Startup done (true once running when it has no startup probe).
    pub started: bool,
    /// Restarts so far.
    pub restart_count: u32,
    /// Now.
    pub state: State,
    /// How the previous container ended.
    pub last: Option<Terminated>,
    /// Ended for good under its Pod's restartPolicy (OnFailure after exit 0, or Never).
    pub finished: bool,
}

impl ContainerView {
    /// A container not started yet.
    pub fn new(name: &str, image: &str, restart_count: u32) -> ContainerView {
        ContainerView {
            name: name.into(),
            image: image.into(),
            container_id: String::new(),
            ready: false,
            started: false,
            restart_count,
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last: None,
            finished: false,
        }
    }

    fn to_json(&self) -> Value {
        let state = match &self.state {
            State::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            }
            State::Running { started_at } => json!({"running": {"startedAt": t(started_at)}}),
            State::Terminated(t) => json!({"terminated": t.to_json()}),
        };
        let last = self
            .last
            .as_ref()
            .map_or_else(|| json!({}), |t| json!({"terminated": t.to_json()}));
        let running = matches!(self.state, State::Running { .. });
        let mut v = json!({"name": self.name, "image": self.image, "imageID": "",
            "ready": self.ready && running, "started": self.started && running,
            "restartCount": self.restart_count, "state": state, "lastState": last});
        if !self.container_id.is_empty() {
            v["containerID"] = json!(self.container_id);
        }
        v
    }
}

/// What the agent knows of the Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    /// The node's addresses, the primary first.
    pub host_ips: Vec<String>,
    /// The Pod's addresses (the node's for hostNetwork), the primary first.
    pub pod_ips: Vec<String>,
    /// When the agent took the Pod on.
    pub start_time: Timestamp,
    /// When `Ready` last changed, and to what.
    pub ready_since: (bool, Timestamp),
    /// Its containers.
    pub containers: Vec<ContainerView>,
}

impl PodView {
    /// Whether every container is ready.
    pub fn all_ready(&self) -> bool {
        !self.containers.is_empty()
            && self
                .containers
                .iter()
                .all(|c| c.ready && matches!(c.state, State::Running { .. }))
    }

    /// Brings `ready_since` up to date; returns whether `Ready` changed.
    pub fn note_readiness(&mut self) -> bool {
        let ready = self.all_ready();
        if ready == self.ready_since.0 {
            return false;
        }
        self.ready_since = (ready, Timestamp::now());
        true
    }

    /// The status subresource patch.
    pub fn status(&self) -> Value {
        let (ready, since) = &self.ready_since;
        let flag = if *ready { "True" } else { "False" };
        let start = t(&self.start_time);
        let since = t(since);
        let started_any = self
            .containers
            .iter()
            .any(|c| !matches!(c.state, State::Waiting { ref reason, .. } if reason == "ContainerCreating"));
        let finished = !self.containers.is_empty() && self.containers.iter().all(|c| c.finished);
        let succeeded = self
            .containers
            .iter()
            .all(|c| matches!(&c.state, State::Terminated(t) if t.exit_code == 0));
        let phase = match (finished, succeeded, started_any) {
            (true, true, _) => "Succeeded",
            (true, false, _) => "Failed",
            (false, _, true) => "Running",
            (false, _, false) => "Pending",
        };
        let mut not_ready: Vec<&str> = self
            .containers
            .iter()
            .filter(|c| !(c.ready && matches!(c.state, State::Running { .. })))
            .map(|c| c.name.as_str())
            .collect();
        not_ready.sort_unstable();
        let cond = |ty: &str| {
            let mut c = json!({"type": ty, "status": flag, "lastTransitionTime": since,
                "lastProbeTime": null});
            if *ready {
                // A strategic merge patch keeps fields it does not name: null removes the
                // reason and message of an earlier not-ready report.
                c["reason"] = Value::Null;
                c["message"] = Value::Null;
            } else {
                c["reason"] = json!("ContainersNotReady");
                c["message"] = json!(format!(
                    "containers with unready status: [{}]",
                    not_ready.join(" ")
                ));
            }
            c
        };
        json!({"status": {
            "phase": phase,
            "hostIP": self.host_ips.first(),
            "hostIPs": self.host_ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
            "podIP": self.pod_ips.first(),
            "podIPs": self.pod_ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
            "startTime": start,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": start, "lastProbeTime": null},
                {"type": "Initialized", "status": "True", "lastTransitionTime": start, "lastProbeTime": null},
                cond("ContainersReady"),
                cond("Ready"),
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": start, "lastProbeTime": null},
            ],
            "containerStatuses": self.containers.iter().map(ContainerView::to_json).collect::<Vec<_>>(),
        }})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> PodView {
        PodView {
            host_ips: vec!["198.51.100.11".into(), "2001:db8:100::11".into()],
            pod_ips: vec!["192.0.2.2".into(), "2001:db8:200:a::2".into()],
            start_time: Timestamp::now(),
            ready_since: (false, Timestamp::now()),
            containers: vec![ContainerView::new(
                "c",
                &crate::image::CONTROLLER.reference(),
                0,
            )],
        }
    }

    fn ended(code: i32) -> State {
        let t = Timestamp::now();
        State::Terminated(Terminated {
            exit_code: code,
            reason: "Completed".into(),
            message: None,
            started_at: t,
            finished_at: t,
            container_id: "lab://x".into(),
        })
    }

    #[test]
    fn a_finished_container_makes_the_pod_succeeded_or_failed_a_held_one_not() {
        let mut v = view();
        v.containers[0].state = ended(0);
        assert_eq!(
            v.status()["status"]["phase"],
            "Running",
            "held, not finished"
        );
        v.containers[0].finished = true;
        assert_eq!(v.status()["status"]["phase"], "Succeeded");
        v.containers[0].state = ended(1);
        assert_eq!(v.status()["status"]["phase"], "Failed");
    }

    #[test]
    fn pending_then_running_not_ready_then_ready() {
        let mut v = view();
        let s = v.status();
        assert_eq!(s["status"]["phase"], "Pending");
        assert_eq!(
            s["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        v.containers[0].state = State::Running {
            started_at: Timestamp::now(),
        };
        v.containers[0].started = true;
        assert!(!v.note_readiness());
        let s = v.status();
        assert_eq!(s["status"]["phase"], "Running");
        assert_eq!(s["status"]["conditions"][3]["type"], "Ready");
        assert_eq!(s["status"]["conditions"][3]["status"], "False");
        assert_eq!(
            s["status"]["conditions"][3]["message"],
            "containers with unready status: [c]"
        );
        v.containers[0].ready = true;
        assert!(v.note_readiness());
        let s = v.status();
        assert_eq!(s["status"]["conditions"][2]["status"], "True");
        assert_eq!(s["status"]["conditions"][3]["status"], "True");
        let ready = s["status"]["conditions"][3].as_object().unwrap();
        assert_eq!(
            (ready.get("reason"), ready.get("message")),
            (Some(&Value::Null), Some(&Value::Null)),
            "the not-ready reason and message are removed"
        );
        assert_eq!(s["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(s["status"]["podIPs"][1]["ip"], "2001:db8:200:a::2");
    }

    #[test]
    fn a_killed_container_is_not_ready_and_its_exit_is_reported() {
        let mut v = view();
        let t = Terminated::of_exit(None, Some(9), Timestamp::now(), "lab://x".into());
        assert_eq!((t.exit_code, t.reason.as_str()), (137, "Error"));
        v.containers[0].ready = true; // stale readiness must not show
        v.containers[0].state = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some("back-off 10s".into()),
        };
        v.containers[0].last = Some(t);
        v.containers[0].restart_count = 1;
        assert!(!v.all_ready());
        let c = &v.status()["status"]["containerStatuses"][0];
        assert_eq!(c["ready"], false);
        assert_eq!(c["restartCount"], 1);
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 137);
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        let ok = Terminated::of_exit(Some(0), None, Timestamp::now(), String::new());
        assert_eq!(ok.reason, "Completed");
    }
}
