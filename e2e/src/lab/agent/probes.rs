//! Container probes as the kubelet runs them: what each probe asks (from the container's
//! spec, named ports resolved) and how consecutive results become a probe's result.
//!
//! As the kubelet's probe worker (`pkg/kubelet/prober/worker.go`): a probe's result changes
//! only after `successThreshold` successes or `failureThreshold` failures in a row; a startup
//! or liveness failure is acted on once (the container is restarted) and counting starts over.
//! Readiness starts as not ready, liveness as alive, startup as not started; liveness and
//! readiness are not probed until startup has succeeded. Results go to the container's
//! supervisor ([`super::container`]); the requests themselves are made from the node's
//! network namespace by [`super::prober`].

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::Error;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `startupProbe`.
    Startup,
    /// `livenessProbe`.
    Liveness,
    /// `readinessProbe`.
    Readiness,
}

impl Kind {
    /// The name the kubelet uses in events ("Liveness probe failed: ...").
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `httpGet`: GET `path` on the pod's IP at `port`; 200-399 is a success.
    Http {
        /// Port number (a named port resolved).
        port: u16,
        /// Request path.
        path: String,
    },
    /// `tcpSocket`: a connection to the pod's IP at `port` is a success.
    Tcp {
        /// Port number (a named port resolved).
        port: u16,
    },
}

/// One probe of a container, with the API's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Which probe.
    pub kind: Kind,
    /// What it asks.
    pub action: Action,
    /// Time after the container starts before the first probe.
    pub initial_delay: Duration,
    /// Time between probes.
    pub period: Duration,
    /// Time one probe may take.
    pub timeout: Duration,
    /// Successes in a row that make the result a success.
    pub success_threshold: u32,
    /// Failures in a row that make the result a failure.
    pub failure_threshold: u32,
    /// The probe's own `terminationGracePeriodSeconds` (liveness and startup), if set.
    pub termination_grace: Option<Duration>,
}

fn seconds(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.and_then(|v| u64::try_from(v).ok()).unwrap_or(default))
}

fn count(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0)
}

/// The container port `port` names (a number or a port name).
pub fn resolve_port(c: &Container, port: &IntOrString) -> Result<u16, Error> {
    let bad = |what: String| Error::msg(format!("container {}: {what}", c.name));
    match port {
        IntOrString::Int(n) => {
            u16::try_from(*n).map_err(|_| bad(format!("port {n} is not a port number")))
        }
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| bad(format!("no container port named {name:?}"))),
    }
}

fn spec(c: &Container, kind: Kind, p: &Probe) -> Result<ProbeSpec, Error> {
    let action = if let Some(get) = &p.http_get {
        if get.scheme.as_deref().is_some_and(|s| s != "HTTP") {
            return Err(Error::msg(format!(
                "container {}: {} probe scheme {:?}: the lab agent probes HTTP only",
                c.name,
                kind.name(),
                get.scheme
            )));
        }
        Action::Http {
            port: resolve_port(c, &get.port)?,
            path: get.path.clone().unwrap_or_else(|| "/".into()),
        }
    } else if let Some(tcp) = &p.tcp_socket {
        Action::Tcp {
            port: resolve_port(c, &tcp.port)?,
        }
    } else {
        return Err(Error::msg(format!(
            "container {}: {} probe: the lab agent runs httpGet and tcpSocket probes only",
            c.name,
            kind.name()
        )));
    };
    // Liveness and startup probes must have successThreshold 1 (the API enforces it).
    let success_threshold = match kind {
        Kind::Readiness => count(p.success_threshold).unwrap_or(1),
        _ => 1,
    };
    Ok(ProbeSpec {
        kind,
        action,
        initial_delay: seconds(p.initial_delay_seconds, 0),
        period: seconds(p.period_seconds, 10),
        timeout: seconds(p.timeout_seconds, 1),
        success_threshold,
        failure_threshold: count(p.failure_threshold).unwrap_or(3),
        termination_grace: p
            .termination_grace_period_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
    })
}

/// The container's probes (startup, liveness, readiness; those it has).
pub fn probes(c: &Container) -> Result<Vec<ProbeSpec>, Error> {
    [
        (Kind::Startup, &c.startup_probe),
        (Kind::Liveness, &c.liveness_probe),
        (Kind::Readiness, &c.readiness_probe),
    ]
    .into_iter()
    .filter_map(|(kind, p)| p.as_ref().map(|p| spec(c, kind, p)))
    .collect()
}

/// One probe's consecutive results and its current result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    kind: Kind,
    success_threshold: u32,
    failure_threshold: u32,
    last: Option<bool>,
    run: u32,
    result: bool,
}

impl Tracker {
    /// A fresh tracker for a new container.
    pub fn new(spec: &ProbeSpec) -> Tracker {
        Tracker {
            kind: spec.kind,
            success_threshold: spec.success_threshold,
            failure_threshold: spec.failure_threshold,
            last: None,
            run: 0,
            // Readiness: not ready; startup: not started; liveness: alive.
            result: spec.kind == Kind::Liveness,
        }
    }

    /// The current result.
    pub fn result(&self) -> bool {
        self.result
    }

    /// Counts one probe outcome; returns the result when a threshold is reached (the same
    /// value again is returned too: the kubelet sets it each time).
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let threshold = if ok {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.run < threshold {
            return None;
        }
        self.result = ok;
        if !ok && self.kind != Kind::Readiness {
            // Acted on once: the container is restarted; count afresh.
            self.run = 0;
        }
        Some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn deploys_probes_resolve_named_ports_and_defaults() {
        let c = container(
            json!({"name": "controller", "ports": [{"name": "health", "containerPort": 7472}],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "health"}, "periodSeconds": 5, "timeoutSeconds": 2},
            "livenessProbe": {"tcpSocket": {"port": 7472}, "initialDelaySeconds": 5}}),
        );
        let p = probes(&c).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].kind, Kind::Liveness);
        assert_eq!(p[0].action, Action::Tcp { port: 7472 });
        assert_eq!(
            (p[0].initial_delay, p[0].period, p[0].failure_threshold),
            (Duration::from_secs(5), Duration::from_secs(10), 3)
        );
        assert_eq!(
            p[1].action,
            Action::Http {
                port: 7472,
                path: "/readyz".into()
            }
        );
        assert_eq!(p[1].timeout, Duration::from_secs(2));
    }

    #[test]
    fn unknown_port_names_and_exec_probes_are_refused_naming_them() {
        let c = container(json!({"name": "x", "livenessProbe": {"httpGet": {"port": "nope"}}}));
        let e = probes(&c).unwrap_err().to_string();
        assert!(e.contains("\"nope\""), "{e}");
        let c = container(json!({"name": "x", "readinessProbe": {"exec": {"command": ["true"]}}}));
        assert!(probes(&c).unwrap_err().to_string().contains("Readiness"));
    }

    fn tracker(kind: Kind, success: u32, failure: u32) -> Tracker {
        let c = container(json!({"name": "x"}));
        let mut s = spec(
            &c,
            kind,
            &serde_json::from_value(json!({"tcpSocket": {"port": 1}})).unwrap(),
        )
        .unwrap();
        s.success_threshold = success;
        s.failure_threshold = failure;
        Tracker::new(&s)
    }

    #[test]
    fn readiness_needs_its_thresholds_in_a_row() {
        let mut t = tracker(Kind::Readiness, 2, 3);
        assert!(!t.result());
        assert_eq!(t.observe(true), None);
        assert_eq!(t.observe(true), Some(true));
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(true), None, "a new run of one success");
        assert!(t.result(), "one failure changed nothing");
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), Some(false));
        assert_eq!(t.observe(false), Some(false), "set again while failing");
    }

    #[test]
    fn a_liveness_failure_is_acted_on_once_then_counted_afresh() {
        let mut t = tracker(Kind::Liveness, 1, 2);
        assert!(t.result());
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), Some(false));
        assert_eq!(t.observe(false), None, "counting starts over");
        assert_eq!(t.observe(false), Some(false));
    }

    proptest! {
        #[test]
        fn the_result_follows_the_last_threshold_run(
            outcomes in proptest::collection::vec(any::<bool>(), 0..60),
            success in 1u32..4, failure in 1u32..5,
        ) {
            let mut t = tracker(Kind::Readiness, success, failure);
            let mut model = false;
            for (i, ok) in outcomes.iter().enumerate() {
                t.observe(*ok);
                let run = outcomes[..=i].iter().rev().take_while(|o| *o == ok).count() as u32;
                if run >= if *ok { success } else { failure } {
                    model = *ok;
                }
                prop_assert_eq!(t.result(), model);
            }
        }
    }
}
