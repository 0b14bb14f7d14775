//! ferrolb's components in the lab, by typed name — `controller-0`, `controller-1`,
//! `speaker-node-a..c`, `edge` — and starting, stopping and killing one of them.
//!
//! The controller and the speakers are Pods of deploy/'s Deployment and DaemonSet, placed by
//! the real controllers and scheduler and run by the node agent ([`super::agent`]):
//! `speaker-node-a` is the speaker Pod on node-a, `controller-N` the N-th controller Pod
//! ordered by node then name. [`Lab::kill`] SIGKILLs the container, [`Lab::stop`] SIGTERMs it
//! (SIGKILL after the Pod's grace period); either way the agent then holds it down — the Pod
//! stays, reported not ready — until [`Lab::start`] releases it and it starts at once. The
//! edge runs outside the cluster: a lab process on the edge host ([`super::launch`]).
//!
//! What comes next lands here as variants, so every caller names it the same way: kube-proxy
//! on every node (`KubeProxy(Node)`).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use nix::sys::signal::Signal;

use super::agent::control::{self, ContainerInfo, Request};
use super::install::{
    EDGE_HEALTH_PORT, EDGE_METRICS_PORT, NAMESPACE, SPEAKER_METRICS_PORT, WEBHOOK_SERVICE,
};
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
    /// Controller replica `n`: the n-th controller Pod by node, then name.
    Controller(u8),
    /// The speaker Pod of a node.
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

    /// The node it is bound to (a speaker's; controllers go where the scheduler puts them).
    pub const fn node(self) -> Option<Node> {
        match self {
            Component::Speaker(n) => Some(n),
            _ => None,
        }
    }

    /// The path that answers 200 once it is up and synced.
    pub const fn ready_path(self) -> &'static str {
        match self.binary() {
            Binary::Controller => "/readyz",
            _ => "/healthz",
        }
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

/// How long a `stop` may take: the longest grace period of deploy/ (the controller's 30 s)
/// and some.
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// Every container of ferrolb's Pods, as the agent reports them.
pub(super) fn containers(lab: &Lab) -> Result<Vec<ContainerInfo>, Error> {
    Ok(control::request(lab, &Request::List, Duration::from_secs(10))?.containers)
}

/// The container that is `c` (not the edge).
pub(super) fn container(lab: &Lab, c: Component) -> Result<ContainerInfo, Error> {
    let name = c.to_string();
    containers(lab)?
        .into_iter()
        .find(|i| i.component.as_deref() == Some(&name))
        .ok_or_else(|| {
            Error::msg(format!(
                "no Pod runs {c} (is ferrolb installed? `cargo xtask lab install`)"
            ))
        })
}

fn ask(lab: &Lab, req: Request, limit: Duration) -> Result<(), Error> {
    control::request(lab, &req, limit).map(drop)
}

/// Starts `c` unless it runs.
pub(super) fn start(lab: &Lab, c: Component) -> Result<(), Error> {
    if c != Component::Edge {
        let component = c.to_string();
        return ask(lab, Request::Start { component }, Duration::from_secs(30));
    }
    let role = c.to_string();
    if !process::find(&lab.names.lab, Some(&role)).is_empty() {
        return Ok(());
    }
    let netns = lab.names.netns(EDGE.role);
    let launch = super::launch::edge_launch(lab)?;
    let mut argv = vec![lab.bin_dir().join(c.binary().name()).display().to_string()];
    argv.extend(launch.args);
    let mut env = launch.env;
    env.push(("RUST_LOG".into(), "info,ferrolb_edge=debug".into()));
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

/// SIGKILL to `c` (a crash); a Pod's container stays down until [`start`].
pub(super) fn kill(lab: &Lab, c: Component) -> Result<(), Error> {
    if c != Component::Edge {
        let component = c.to_string();
        return ask(lab, Request::Kill { component }, Duration::from_secs(30));
    }
    let pids = process::find(&lab.names.lab, Some(&c.to_string()));
    for &pid in &pids {
        process::signal(pid, Signal::SIGKILL);
    }
    process::stop(&pids, Duration::from_secs(5));
    Ok(())
}

/// SIGTERM to `c`, waiting for it to end (SIGKILL after the grace period); a Pod's container
/// stays down until [`start`].
pub(super) fn stop(lab: &Lab, c: Component) -> Result<(), Error> {
    if c != Component::Edge {
        let component = c.to_string();
        return ask(lab, Request::Stop { component }, STOP_LIMIT);
    }
    process::stop(
        &process::find(&lab.names.lab, Some(&c.to_string())),
        Duration::from_secs(10),
    );
    Ok(())
}

/// The pid of `c`'s process, while it runs.
pub(super) fn pid(lab: &Lab, c: Component) -> Option<u32> {
    if c == Component::Edge {
        return process::find(&lab.names.lab, Some(&c.to_string()))
            .first()
            .copied();
    }
    container(lab, c).ok()?.pid.filter(|p| process::alive(*p))
}

/// Where `c`'s health server answers: the Pod's IP (the node's for the hostNetwork speaker)
/// and its container port named `health`.
pub(super) fn health_addr(lab: &Lab, c: Component) -> Result<SocketAddr, Error> {
    if c == Component::Edge {
        return Ok(SocketAddr::new(EDGE.v4.into(), EDGE_HEALTH_PORT));
    }
    let info = container(lab, c)?;
    let ip = info
        .pod_ip
        .parse()
        .map_err(|_| Error::msg(format!("{c}: Pod IP {:?}", info.pod_ip)))?;
    let port = info
        .health_port
        .ok_or_else(|| Error::msg(format!("{c}: the container has no port named health")))?;
    Ok(SocketAddr::new(ip, port))
}

/// Where `c`'s `/metrics` and `/debug/state` answer reviewed tokens: its health server's
/// host on the speakers' or the edge's private port. The controller serves `/metrics` on
/// its health port (a Pod IP, not the LAN's).
pub(super) fn private_addr(lab: &Lab, c: Component) -> Result<SocketAddr, Error> {
    let health = health_addr(lab, c)?;
    let port = match c.binary() {
        Binary::Speaker => SPEAKER_METRICS_PORT,
        Binary::Edge => EDGE_METRICS_PORT,
        Binary::Controller => health.port(),
    };
    Ok(SocketAddr::new(health.ip(), port))
}

/// Waits until `c`'s ready path answers 200 (asked from the client host); a controller also
/// until the webhook Service's EndpointSlice lists its Pod ready (what the real EndpointSlice
/// controller makes of the agent's readiness report), so the apiserver reaches its webhook.
pub(super) async fn wait_ready(lab: &Lab, c: Component, limit: Duration) -> Result<(), Error> {
    let path = c.ready_path();
    wait_for(&format!("{c} to be ready"), limit, || async move {
        let addr = health_addr(lab, c).ok()?;
        let (code, _) = lab.http_get("client", addr, path).ok()?;
        (code == 200).then_some(())
    })
    .await?;
    if c.binary() != Binary::Controller {
        return Ok(());
    }
    let slices: Api<EndpointSlice> = Api::namespaced(lab.client().await?, NAMESPACE);
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={WEBHOOK_SERVICE}"));
    wait_for(
        &format!("{c}'s Pod ready in the webhook's EndpointSlice"),
        limit,
        || {
            let (slices, lp) = (slices.clone(), lp.clone());
            async move {
                let pod = container(lab, c).ok()?.pod;
                let list = slices.list(&lp).await.ok()?;
                list.items
                    .iter()
                    .flat_map(|s| s.endpoints.iter())
                    .any(|e| {
                        e.target_ref.as_ref().and_then(|t| t.name.as_deref()) == Some(&pod)
                            && e.conditions.as_ref().and_then(|c| c.ready) == Some(true)
                    })
                    .then_some(())
            }
        },
    )
    .await
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
    fn speakers_are_bound_to_their_node_controllers_to_none() {
        assert_eq!(Component::Speaker(Node::C).node(), Some(Node::C));
        assert_eq!(Component::Controller(1).node(), None);
        assert_eq!(Component::Controller(1).ready_path(), "/readyz");
        assert_eq!(Component::Edge.binary().name(), "ferrolb-edge");
    }
}
