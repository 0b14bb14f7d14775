//! ferrolb's components in the lab, by typed name — `controller-0`, `controller-1`,
//! `speaker-node-a..c`, `edge` — and starting, stopping and killing one of them.
//!
//! Components run in node namespaces the way hostNetwork pods would: `controller-0` on node-a,
//! `controller-1` on node-b, `speaker-node-a..c` on node-a..c; the edge on the edge host,
//! outside the cluster. Each one is a lab process whose role is its name, so
//! [`Lab::kill`], [`Lab::stop`] and [`Lab::start`] act on exactly one of them.
//!
//! What comes next lands here as variants, so every caller names it the same way: kube-proxy
//! on every node (`KubeProxy(Node)`), and ferrolb's own Pods once the node agent
//! ([`super::agent`]) runs them instead of the lab starting processes.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::install::{CONTROLLER_HEALTH_PORT, EDGE_HEALTH_PORT, SPEAKER_HEALTH_PORT};
use super::plan::{self, EDGE, Host};
use super::process::{self, Spawn};
use crate::{Error, Lab, wait_for};

/// A node of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// `node-a`.
    A,
    /// `node-b`.
    B,
    /// `node-c`.
    C,
}

impl Node {
    /// Every node.
    pub const ALL: [Node; 3] = [Node::A, Node::B, Node::C];

    /// Its name (`node-a`, ...), also its Kubernetes Node name and lab host role.
    pub const fn name(self) -> &'static str {
        match self {
            Node::A => "node-a",
            Node::B => "node-b",
            Node::C => "node-c",
        }
    }

    /// Its host on the LAN.
    pub fn host(self) -> Host {
        plan::NODES[self as usize].host
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Node {
    type Err = Error;
    fn from_str(s: &str) -> Result<Node, Error> {
        Node::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| Error::msg(format!("no node {s:?}: use node-a, node-b or node-c")))
    }
}

/// A ferrolb component in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// Controller replica `n` (0 on node-a, 1 on node-b).
    Controller(u8),
    /// The speaker of a node.
    Speaker(Node),
    /// The edge, on the edge host.
    Edge,
}

/// Which program a component runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `ferrolb-controller`.
    Controller,
    /// `ferrolb-speaker`.
    Speaker,
    /// `ferrolb-edge`.
    Edge,
}

impl Binary {
    /// The binary's file name.
    pub const fn name(self) -> &'static str {
        match self {
            Binary::Controller => "ferrolb-controller",
            Binary::Speaker => "ferrolb-speaker",
            Binary::Edge => "ferrolb-edge",
        }
    }
}

impl fmt::Display for Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every component `lab install` starts.
pub const COMPONENTS: [Component; 6] = [
    Component::Controller(0),
    Component::Controller(1),
    Component::Speaker(Node::A),
    Component::Speaker(Node::B),
    Component::Speaker(Node::C),
    Component::Edge,
];

/// The speakers, one a node.
pub const SPEAKERS: [Component; 3] = [
    Component::Speaker(Node::A),
    Component::Speaker(Node::B),
    Component::Speaker(Node::C),
];

/// The controller replicas.
pub const CONTROLLERS: [Component; 2] = [Component::Controller(0), Component::Controller(1)];

impl Component {
    /// The program it runs.
    pub const fn binary(self) -> Binary {
        match self {
            Component::Controller(_) => Binary::Controller,
            Component::Speaker(_) => Binary::Speaker,
            Component::Edge => Binary::Edge,
        }
    }

    /// The lab host whose network namespace it runs in (`node-a`, ..., `edge`).
    pub fn host(self) -> Host {
        match self {
            Component::Controller(n) => Node::ALL[usize::from(n) % Node::ALL.len()].host(),
            Component::Speaker(node) => node.host(),
            Component::Edge => EDGE,
        }
    }

    /// The node it runs on (its `spec.nodeName`); the edge's host role.
    pub fn node_name(self) -> &'static str {
        self.host().role
    }

    /// Port of its health API.
    pub const fn health_port(self) -> u16 {
        match self.binary() {
            Binary::Speaker => SPEAKER_HEALTH_PORT,
            Binary::Edge => EDGE_HEALTH_PORT,
            Binary::Controller => CONTROLLER_HEALTH_PORT,
        }
    }

    /// The path that answers 200 once it is up and synced.
    pub const fn ready_path(self) -> &'static str {
        match self.binary() {
            Binary::Controller => "/readyz",
            _ => "/healthz",
        }
    }

    /// The address of its health server.
    pub fn health_addr(self) -> SocketAddr {
        SocketAddr::new(self.host().v4.into(), self.health_port())
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Component::Controller(n) => write!(f, "controller-{n}"),
            Component::Speaker(node) => write!(f, "speaker-{node}"),
            Component::Edge => f.write_str("edge"),
        }
    }
}

impl FromStr for Component {
    type Err = Error;
    fn from_str(s: &str) -> Result<Component, Error> {
        COMPONENTS
            .into_iter()
            .find(|c| c.to_string() == s)
            .ok_or_else(|| {
                let names: Vec<String> = COMPONENTS.iter().map(ToString::to_string).collect();
                Error::msg(format!(
                    "no component called {s:?}: use one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// Starts `c` unless it runs.
pub(super) fn start(lab: &Lab, c: Component) -> Result<(), Error> {
    let role = c.to_string();
    if !process::find(&lab.names.lab, Some(&role)).is_empty() {
        return Ok(());
    }
    let netns = lab.names.netns(c.node_name());
    let launch = lab.launch(c)?;
    let mut argv = vec![lab.bin_dir().join(c.binary().name()).display().to_string()];
    argv.extend(launch.args);
    let mut env = launch.env;
    env.push((
        "RUST_LOG".into(),
        "info,ferrolb_controller=debug,ferrolb_speaker=debug,ferrolb_edge=debug,kube_lease_manager=info".into(),
    ));
    process::spawn(&Spawn {
        lab: &lab.names.lab,
        role: &role,
        netns: Some(&netns),
        argv,
        env,
        log: &lab.log(&role),
    })?;
    Ok(())
}

/// SIGKILL to `c` (a crash).
pub(super) fn kill(lab: &Lab, c: Component) -> Result<(), Error> {
    let pids = process::find(&lab.names.lab, Some(&c.to_string()));
    for &pid in &pids {
        process::signal(pid, Signal::SIGKILL);
    }
    process::stop(&pids, Duration::from_secs(5));
    after_change(lab, c)
}

/// SIGTERM to `c`, waiting for it to end (SIGKILL after 10 s).
pub(super) fn stop(lab: &Lab, c: Component) -> Result<(), Error> {
    process::stop(
        &process::find(&lab.names.lab, Some(&c.to_string())),
        Duration::from_secs(10),
    );
    after_change(lab, c)
}

/// Whether `c` runs.
pub(super) fn running(lab: &Lab, c: Component) -> bool {
    !process::find(&lab.names.lab, Some(&c.to_string())).is_empty()
}

/// Waits until `c`'s ready path answers 200 (asked from the client host).
pub(super) async fn wait_ready(lab: &Lab, c: Component, limit: Duration) -> Result<(), Error> {
    let addr = c.health_addr();
    let path = c.ready_path();
    wait_for(&format!("{c} to be ready"), limit, || async move {
        let (code, _) = lab.http_get("client", addr, path).ok()?;
        (code == 200).then_some(())
    })
    .await?;
    after_change(lab, c)
}

/// Keeps the webhook's endpoints in step after a controller starts or stops (speakers do not
/// touch the API here, so they work while the apiserver is down).
fn after_change(lab: &Lab, c: Component) -> Result<(), Error> {
    if c.binary() == Binary::Controller {
        lab.sync_webhook_endpoints()
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_todays_strings_both_ways() {
        let names: Vec<String> = COMPONENTS.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "controller-0",
                "controller-1",
                "speaker-node-a",
                "speaker-node-b",
                "speaker-node-c",
                "edge"
            ]
        );
        for c in COMPONENTS {
            assert_eq!(c.to_string().parse::<Component>().unwrap(), c);
        }
        let err = "speaker-node-z"
            .parse::<Component>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("speaker-node-z") && err.contains("speaker-node-a"),
            "{err}"
        );
        assert_eq!("node-b".parse::<Node>().unwrap(), Node::B);
        assert!("node-z".parse::<Node>().is_err());
    }

    #[test]
    fn components_run_where_deploy_puts_them() {
        assert_eq!(Component::Controller(0).node_name(), "node-a");
        assert_eq!(Component::Controller(1).node_name(), "node-b");
        assert_eq!(Component::Speaker(Node::C).node_name(), "node-c");
        assert_eq!(Component::Edge.node_name(), "edge");
        assert_eq!(
            Component::Speaker(Node::A).health_port(),
            SPEAKER_HEALTH_PORT
        );
        assert_eq!(Component::Controller(1).ready_path(), "/readyz");
        assert_eq!(Component::Edge.binary().name(), "ferrolb-edge");
    }
}
