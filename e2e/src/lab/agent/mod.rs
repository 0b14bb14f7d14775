//! The lab's node agent: plays the kubelet for `node-a..c`. It registers the Nodes (addresses,
//! pod CIDRs, capacity, Ready) and keeps their Leases and Ready heartbeats fresh
//! (`nodes`); for every Pod the real scheduler binds to a lab node it runs the Pod:
//!
//! - ferrolb's own Pods (a container image of [`crate::image::IMAGES`]) as containers
//!   ([`ferrolb_pods`]): the image's root filesystem from the lab's binaries, the Pod's
//!   ServiceAccount token, user and capabilities, probes, restarts and graceful termination,
//!   status as the kubelet writes it;
//! - agnhost Pods (the upstream e2e image, [`agnhost`]) as the real agnhost binary with the
//!   Pod's host name, environment, probes, restarts and graceful termination
//!   ([`agnhost_pods`]);
//! - every other Pod as an echo backend (`pods`), reported Running and Ready.
//!
//! Each Pod runs in a network namespace of its own, or the node's for hostNetwork Pods (whose
//! addresses are then the node's). The agent keeps the exec map of the nodes' kubelet exec
//! servers and starts those servers ([`kubelet_exec`]).
//!
//! A deleted Pod is stopped and removed. The lab's CLI asks the agent to kill, stop and start
//! ferrolb's containers through a Unix socket ([`control`]).
//!
//! Test knobs (annotations):
//! - Pod `lab.ferrolb.io/ready: "false"`: an echo pod runs but reports not ready.
//! - Pod `lab.ferrolb.io/linger-seconds: "N"`: after deletion an echo pod keeps serving N
//!   seconds (a terminating endpoint), then stops.
//! - Node `lab.ferrolb.io/heartbeat: "off"`: the node's Lease and Ready heartbeat stop, so the
//!   real node-lifecycle controller marks it NotReady after its grace period.

mod admit;
pub mod agnhost;
mod agnhost_pods;
pub mod backoff;
pub mod container;
pub mod control;
pub mod ferrolb_pods;
pub mod images;
pub mod kubelet_exec;
mod nodes;
pub mod pod_run;
pub mod pod_state;
mod pods;
pub mod prober;
pub mod probes;
pub mod spec;
pub mod status;
pub mod token;
pub mod uts_run;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::watcher;
use tokio::sync::Mutex;

use crate::lab::plan::{IpStack, NODES};
use crate::{Error, Lab};

/// Pod annotation: `"false"` makes an echo pod report not ready.
pub const ANN_READY: &str = "lab.ferrolb.io/ready";
/// Pod annotation: seconds a deleted echo pod keeps serving before it stops.
pub const ANN_LINGER: &str = "lab.ferrolb.io/linger-seconds";
/// Node annotation: `"off"` stops the node's heartbeats.
pub const ANN_HEARTBEAT: &str = "lab.ferrolb.io/heartbeat";
/// Pod annotation the agent writes: the pod's network namespace (for `lab exec`).
pub const ANN_NETNS: &str = "lab.ferrolb.io/netns";
/// Field manager of the agent's writes.
const MANAGER: &str = "ferrolb-lab-agent";

/// The agent.
pub(crate) struct Agent {
    lab: Lab,
    /// The IP families of its nodes and Pods.
    stack: IpStack,
    client: Client,
    exe: PathBuf,
    /// Pod networks (echo pods and ferrolb Pods without hostNetwork), by pod uid.
    nets: Mutex<BTreeMap<String, pods::Running>>,
    /// Pods with supervised containers: ferrolb's and agnhost Pods.
    ferrolb: ferrolb_pods::FerrolbPods,
    /// The kubelet exec servers' map of Pods to network namespaces.
    exec_map: kubelet_exec::ExecMap,
}

/// Runs the agent until the process is stopped.
pub async fn run(lab: Lab) -> Result<(), Error> {
    let client = lab.client().await?;
    let stack = lab.ip_stack()?;
    let exe = std::env::current_exe().map_err(|e| Error::io("finding the agent's binary", e))?;
    ferrolb_pods::stop_orphans(&lab);
    let agent = Arc::new(Agent {
        ferrolb: ferrolb_pods::FerrolbPods::new(&lab),
        exec_map: kubelet_exec::ExecMap::new(&lab),
        lab,
        stack,
        client,
        exe,
        nets: Mutex::new(BTreeMap::new()),
    });
    for node in &NODES {
        agent.register(node).await?;
    }
    kubelet_exec::start_kubelets(&agent.lab, &NODES, stack)?;
    let hb = agent.clone();
    tokio::spawn(async move {
        loop {
            for node in &NODES {
                if let Err(e) = hb.heartbeat(node).await {
                    eprintln!("agent: heartbeat of {}: {e}", node.name());
                }
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    control::serve(agent.clone())?;
    let pods: Api<Pod> = Api::all(agent.client.clone());
    let mut events = watcher(pods, watcher::Config::default()).boxed();
    loop {
        match events.try_next().await {
            Ok(Some(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => {
                if let Err(e) = agent.reconcile(&pod).await {
                    eprintln!(
                        "agent: pod {}: {e}",
                        pod.metadata.name.as_deref().unwrap_or("?")
                    );
                }
            }
            Ok(Some(watcher::Event::Delete(pod))) => agent.forget(&pod).await,
            Ok(Some(_)) => {}
            Ok(None) => return Err(Error::msg("pod watch ended")),
            Err(e) => {
                eprintln!("agent: pod watch: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

impl Agent {
    async fn reconcile(self: &Arc<Self>, pod: &Pod) -> Result<(), Error> {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .and_then(crate::lab::plan::node)
        else {
            return Ok(());
        };
        if supervised(pod) {
            self.ferrolb_reconcile(pod, node).await
        } else {
            self.echo_reconcile(pod, node).await
        }
    }

    async fn forget(self: &Arc<Self>, pod: &Pod) {
        if supervised(pod) {
            self.ferrolb_forget(pod).await;
        } else {
            self.echo_forget(pod).await;
        }
    }
}

/// Whether the agent runs `pod`'s containers supervised (ferrolb's and agnhost Pods), not as
/// an echo backend.
fn supervised(pod: &Pod) -> bool {
    ferrolb_pods::is_ferrolb(pod) || agnhost::is_agnhost_pod(pod)
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a String> {
    pod.metadata.annotations.as_ref()?.get(key)
}
