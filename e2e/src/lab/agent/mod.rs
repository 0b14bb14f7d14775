//! The lab's node agent: plays the kubelet for `node-a..c`. It registers the Nodes (addresses,
//! pod CIDRs, capacity, Ready), keeps their Leases and Ready heartbeats fresh, and for every Pod
//! the real scheduler binds to a lab node creates the pod's namespace, starts its echo backend
//! and reports the Pod Running and Ready; a deleted Pod is stopped and removed.
//!
//! Test knobs (annotations):
//! - Pod `lab.ferrolb.io/ready: "false"`: the pod runs but reports not ready.
//! - Pod `lab.ferrolb.io/linger-seconds: "N"`: after deletion the pod keeps serving N seconds
//!   (a terminating endpoint), then stops.
//! - Node `lab.ferrolb.io/heartbeat: "off"`: the node's Lease and Ready heartbeat stop, so the
//!   real node-lifecycle controller marks it NotReady after its grace period.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::Mutex;

use crate::lab::plan::{MAX_PODS_PER_NODE, NODES, NodePlan};
use crate::lab::process::{self, Spawn};
use crate::lab::topology;
use crate::{Error, Lab};

/// Pod annotation: `"false"` makes the pod report not ready.
pub const ANN_READY: &str = "lab.ferrolb.io/ready";
/// Pod annotation: seconds a deleted pod keeps serving before it stops.
pub const ANN_LINGER: &str = "lab.ferrolb.io/linger-seconds";
/// Node annotation: `"off"` stops the node's heartbeats.
pub const ANN_HEARTBEAT: &str = "lab.ferrolb.io/heartbeat";
/// Pod annotation the agent writes: the pod's network namespace (for `lab exec`).
pub const ANN_NETNS: &str = "lab.ferrolb.io/netns";
/// Field manager of the agent's writes.
const MANAGER: &str = "ferrolb-lab-agent";

/// A pod the agent runs.
#[derive(Debug, Clone)]
struct Running {
    id: String,
    node: &'static NodePlan,
    slot: u8,
    net: topology::PodNet,
}

struct Agent {
    lab: Lab,
    client: Client,
    exe: PathBuf,
    pods: Mutex<BTreeMap<String, Running>>, // by pod uid
}

/// Runs the agent until the process is stopped.
pub async fn run(lab: Lab) -> Result<(), Error> {
    let client = lab.client().await?;
    let exe = std::env::current_exe().map_err(|e| Error::io("finding the agent's binary", e))?;
    let agent = Arc::new(Agent {
        lab,
        client,
        exe,
        pods: Mutex::new(BTreeMap::new()),
    });
    for node in &NODES {
        agent.register(node).await?;
    }
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

fn now() -> Time {
    Time(Timestamp::now())
}

impl Agent {
    async fn register(&self, node: &NodePlan) -> Result<(), Error> {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = node.name();
        let [v4cidr, v6cidr] = node.pod_cidrs();
        let obj: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "lab.ferrolb.io/node": "true",
            }},
            "spec": {"podCIDR": v4cidr, "podCIDRs": [v4cidr, v6cidr]},
        }))
        .map_err(|e| Error::msg(format!("building Node {name}: {e}")))?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Error::kube(format!("creating Node {name}"), e)),
        }
        let resources =
            json!({"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"});
        let status = json!({"status": {
            "addresses": [
                {"type": "InternalIP", "address": node.host.v4.to_string()},
                {"type": "InternalIP", "address": node.host.v6.to_string()},
                {"type": "Hostname", "address": name},
            ],
            "capacity": resources, "allocatable": resources,
            "conditions": ready_conditions(true),
            "nodeInfo": {
                "machineID": name, "systemUUID": name, "bootID": name,
                "kernelVersion": "lab", "osImage": "ferrolb lab", "containerRuntimeVersion": "lab://1",
                "kubeletVersion": crate::lab::plan::K8S_VERSION, "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Strategic(status))
            .await
            .map_err(|e| Error::kube(format!("reporting Node {name} ready"), e))?;
        Ok(())
    }

    async fn heartbeat(&self, node: &NodePlan) -> Result<(), Error> {
        let name = node.name();
        let nodes: Api<Node> = Api::all(self.client.clone());
        let current = nodes
            .get(name)
            .await
            .map_err(|e| Error::kube(format!("reading Node {name}"), e))?;
        let paused = current
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANN_HEARTBEAT))
            .is_some_and(|v| v == "off");
        if paused {
            return Ok(());
        }
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), "kube-node-lease");
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": MicroTime(Timestamp::now())},
        });
        leases
            .patch(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(lease),
            )
            .await
            .map_err(|e| Error::kube(format!("renewing the Lease of {name}"), e))?;
        let was_ready = current
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let status = json!({"status": {"conditions": ready_conditions(!was_ready)}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(status))
            .await
            .map_err(|e| Error::kube(format!("posting the heartbeat of {name}"), e))?;
        Ok(())
    }

    async fn reconcile(&self, pod: &Pod) -> Result<(), Error> {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .and_then(crate::lab::plan::node)
        else {
            return Ok(());
        };
        let (Some(uid), Some(name), Some(ns)) = (
            pod.metadata.uid.clone(),
            pod.metadata.name.clone(),
            pod.metadata.namespace.clone(),
        ) else {
            return Ok(());
        };
        if pod.metadata.deletion_timestamp.is_some() {
            let linger = annotation(pod, ANN_LINGER).and_then(|v| v.parse::<u64>().ok());
            let this = self.lab.clone();
            let client = self.client.clone();
            let pods = &self.pods;
            let running = pods.lock().await.remove(&uid);
            let stop = async move {
                if let Some(secs) = linger {
                    tokio::time::sleep(Duration::from_secs(secs.min(600))).await;
                }
                if let Some(r) = running {
                    stop_pod(&this, &r.id);
                }
                let api: Api<Pod> = Api::namespaced(client, &ns);
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                let _ = api.delete(&name, &dp).await;
            };
            tokio::spawn(stop);
            return Ok(());
        }
        let running = self.ensure_running(pod, node, &uid, &name).await?;
        self.report(pod, &running, &ns, &name).await
    }

    async fn ensure_running(
        &self,
        pod: &Pod,
        node: &'static NodePlan,
        uid: &str,
        name: &str,
    ) -> Result<Running, Error> {
        let mut pods = self.pods.lock().await;
        if let Some(r) = pods.get(uid) {
            return Ok(r.clone());
        }
        let id: String = uid
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(8)
            .collect();
        // Reuse the pod's address if it already has one (agent restart), else the lowest free.
        let current_ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok());
        let used: Vec<u8> = pods
            .values()
            .filter(|r| r.node.name() == node.name())
            .map(|r| r.slot)
            .collect();
        let slot = current_ip
            .map(|ip| (u32::from(ip) - u32::from(node.pod_v4)) as u8)
            .filter(|s| (2..=MAX_PODS_PER_NODE + 1).contains(s) && !used.contains(s))
            .or_else(|| (2..=MAX_PODS_PER_NODE + 1).find(|s| !used.contains(s)))
            .ok_or_else(|| Error::msg(format!("node {} has no free pod address", node.name())))?;
        let net = topology::pod_up(&self.lab.names, node, &id, slot)?;
        let role = format!("pod-{id}");
        if process::find(&self.lab.names.lab, Some(&role)).is_empty() {
            let (tcp, udp) = container_ports(pod);
            let mut argv = vec![
                self.exe.display().to_string(),
                "echo".into(),
                "--name".into(),
                name.to_string(),
            ];
            for p in tcp {
                argv.extend(["--tcp".into(), p.to_string()]);
            }
            for p in udp {
                argv.extend(["--udp".into(), p.to_string()]);
            }
            process::spawn(&Spawn {
                lab: &self.lab.names.lab,
                role: &role,
                netns: Some(&net.netns),
                argv,
                env: Vec::new(),
                log: &self.lab.log(&role),
            })?;
        }
        let r = Running {
            id,
            node,
            slot,
            net,
        };
        pods.insert(uid.to_string(), r.clone());
        Ok(r)
    }

    async fn report(&self, pod: &Pod, r: &Running, ns: &str, name: &str) -> Result<(), Error> {
        let ready = annotation(pod, ANN_READY).is_none_or(|v| v != "false");
        let status = pod.status.as_ref();
        let reported_ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status == "True");
        let reported_ip = status.and_then(|s| s.pod_ip.clone());
        let has_netns_ann = annotation(pod, ANN_NETNS).is_some_and(|v| *v == r.net.netns);
        if reported_ready == Some(ready)
            && reported_ip.as_deref() == Some(&r.net.v4.to_string())
            && has_netns_ann
        {
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        if !has_netns_ann {
            let ann = json!({"metadata": {"annotations": {ANN_NETNS: r.net.netns}}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(ann))
                .await
                .map_err(|e| Error::kube(format!("annotating pod {ns}/{name}"), e))?;
        }
        let t = now();
        let flag = if ready { "True" } else { "False" };
        let containers: Vec<_> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .map(|c| {
                json!({
                    "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                    "containerID": format!("lab://{}", r.id), "ready": ready, "started": true,
                    "restartCount": 0, "state": {"running": {"startedAt": t}},
                })
            })
            .collect();
        let (host4, host6) = (r.node.host.v4.to_string(), r.node.host.v6.to_string());
        let body = json!({"status": {
            "phase": "Running",
            "hostIP": host4, "hostIPs": [{"ip": host4}, {"ip": host6}],
            "podIP": r.net.v4.to_string(), "podIPs": [{"ip": r.net.v4.to_string()}, {"ip": r.net.v6.to_string()}],
            "startTime": status.and_then(|s| s.start_time.clone()).unwrap_or_else(|| t.clone()),
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": t},
                {"type": "Ready", "status": flag, "lastTransitionTime": t},
            ],
            "containerStatuses": containers,
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Strategic(body))
            .await
            .map_err(|e| Error::kube(format!("reporting pod {ns}/{name}"), e))?;
        Ok(())
    }

    async fn forget(&self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        if let Some(r) = self.pods.lock().await.remove(uid) {
            stop_pod(&self.lab, &r.id);
        }
    }
}

fn stop_pod(lab: &Lab, id: &str) {
    let pids = process::find(&lab.names.lab, Some(&format!("pod-{id}")));
    process::stop(&pids, Duration::from_secs(2));
    if let Err(e) = topology::pod_down(&lab.names, id) {
        eprintln!("agent: removing pod {id}: {e}");
    }
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a String> {
    pod.metadata.annotations.as_ref()?.get(key)
}

fn container_ports(pod: &Pod) -> (Vec<u16>, Vec<u16>) {
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        for p in c.ports.iter().flatten() {
            let Ok(port) = u16::try_from(p.container_port) else {
                continue;
            };
            match p.protocol.as_deref().unwrap_or("TCP") {
                "UDP" => udp.push(port),
                "TCP" => tcp.push(port),
                _ => {} // SCTP: this kernel has no SCTP sockets.
            }
        }
    }
    for v in [&mut tcp, &mut udp] {
        v.sort_unstable();
        v.dedup();
    }
    (tcp, udp)
}

fn ready_conditions(transition: bool) -> serde_json::Value {
    let t = now();
    let cond = |ty: &str, status: &str, reason: &str, message: &str| {
        let mut c = json!({"type": ty, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": t});
        if transition {
            c["lastTransitionTime"] = json!(t);
        }
        c
    };
    json!([
        cond(
            "Ready",
            "True",
            "KubeletReady",
            "lab node agent is posting ready status"
        ),
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "lab"
        ),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "lab"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "lab"),
    ])
}
