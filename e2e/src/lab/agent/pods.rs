//! Pod networks (a namespace behind a veth on the node, an address from the node's pod
//! CIDRs) and the Pods that are neither ferrolb's nor agnhost: each runs an echo backend on its
//! container ports, in its own network or the node's (hostNetwork), and is reported Running
//! and Ready (unless annotated `lab.ferrolb.io/ready: "false"`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;

use super::admit::Sandbox;
use super::{ANN_LINGER, ANN_NETNS, ANN_READY, Agent, annotation};
use crate::lab::plan::{MAX_PODS_PER_NODE, NodePlan};
use crate::lab::process::{self, Spawn};
use crate::lab::topology;
use crate::{Error, Lab};

/// A pod network the agent made.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    /// Short id (names the namespace and the veth).
    pub id: String,
    /// The node.
    pub node: &'static NodePlan,
    /// Host number in the node's pod CIDRs.
    pub slot: u8,
    /// The network.
    pub net: topology::PodNet,
}

/// Deletes Pod `name` (grace 0, only if it still has `uid`): the kubelet's last word.
pub(super) async fn remove(client: kube::Client, ns: &str, name: &str, uid: &str) {
    let api: Api<Pod> = Api::namespaced(client, ns);
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let _ = api.delete(name, &dp).await;
}

impl Agent {
    /// The Pod's network, made unless it exists (an address it already has is kept).
    pub(super) async fn pod_network(
        &self,
        pod: &Pod,
        node: &'static NodePlan,
        uid: &str,
    ) -> Result<Running, Error> {
        let mut nets = self.nets.lock().await;
        if let Some(r) = nets.get(uid) {
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
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
        let used: Vec<u8> = nets
            .values()
            .filter(|r| r.node.name() == node.name())
            .map(|r| r.slot)
            .collect();
        let slot = current_ip
            .and_then(|ip| node.pod_slot(ip))
            .filter(|s| (2..=MAX_PODS_PER_NODE + 1).contains(s) && !used.contains(s))
            .or_else(|| (2..=MAX_PODS_PER_NODE + 1).find(|s| !used.contains(s)))
            .ok_or_else(|| Error::msg(format!("node {} has no free pod address", node.name())))?;
        let net = topology::pod_up(&self.lab.names, node, &id, slot, self.stack)?;
        let r = Running {
            id,
            node,
            slot,
            net,
        };
        nets.insert(uid.to_string(), r.clone());
        Ok(r)
    }

    /// Removes the Pod's network, if the agent made one.
    pub(super) async fn release_network(&self, uid: &str) {
        if let Some(r) = self.nets.lock().await.remove(uid)
            && let Err(e) = topology::pod_down(&self.lab.names, &r.id)
        {
            eprintln!("agent: removing the network of pod {}: {e}", r.id);
        }
    }

    pub(super) async fn echo_reconcile(
        self: &Arc<Self>,
        pod: &Pod,
        node: &'static NodePlan,
    ) -> Result<(), Error> {
        let (Some(uid), Some(name), Some(ns)) = (
            pod.metadata.uid.clone(),
            pod.metadata.name.clone(),
            pod.metadata.namespace.clone(),
        ) else {
            return Ok(());
        };
        if pod.metadata.deletion_timestamp.is_some() {
            let linger = annotation(pod, ANN_LINGER).and_then(|v| v.parse::<u64>().ok());
            let agent = self.clone();
            tokio::spawn(async move {
                if let Some(secs) = linger {
                    tokio::time::sleep(Duration::from_secs(secs.min(600))).await;
                }
                agent.echo_stop(&ns, &name, &uid).await;
                remove(agent.client.clone(), &ns, &name, &uid).await;
            });
            return Ok(());
        }
        let sandbox = self.sandbox(pod, node, &uid).await?;
        self.exec_map.add(&ns, &name, &uid, &sandbox.netns)?;
        let role = echo_role(&uid);
        if process::find(&self.lab.names.lab, Some(&role)).is_empty() {
            let (tcp, udp) = container_ports(pod);
            let mut argv = vec![
                self.exe.display().to_string(),
                "echo".into(),
                "--name".into(),
                name.clone(),
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
                netns: Some(&sandbox.netns),
                argv,
                env: Vec::new(),
                log: &self.lab.log(&role),
            })?;
        }
        self.echo_report(pod, node, &sandbox, &role, &ns, &name)
            .await
    }

    async fn echo_report(
        &self,
        pod: &Pod,
        node: &NodePlan,
        sandbox: &Sandbox,
        role: &str,
        ns: &str,
        name: &str,
    ) -> Result<(), Error> {
        let ready = annotation(pod, ANN_READY).is_none_or(|v| v != "false");
        let status = pod.status.as_ref();
        let reported_ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status == "True");
        let reported_ip = status.and_then(|s| s.pod_ip.clone());
        let has_netns_ann = annotation(pod, ANN_NETNS).is_some_and(|v| *v == sandbox.netns);
        if reported_ready == Some(ready)
            && reported_ip.as_deref() == Some(&sandbox.primary(self.stack).to_string())
            && has_netns_ann
        {
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        if !has_netns_ann {
            let ann = json!({"metadata": {"annotations": {ANN_NETNS: sandbox.netns}}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(ann))
                .await
                .map_err(|e| Error::kube(format!("annotating pod {ns}/{name}"), e))?;
        }
        let t = Time(Timestamp::now());
        let flag = if ready { "True" } else { "False" };
        let containers: Vec<_> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .map(|c| {
                json!({
                    "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                    "containerID": format!("lab://{role}"), "ready": ready, "started": true,
                    "restartCount": 0, "state": {"running": {"startedAt": t}},
                })
            })
            .collect();
        let ips = |ips: Vec<std::net::IpAddr>| -> Vec<serde_json::Value> {
            ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect()
        };
        let host_ips = ips(self.stack.addresses(node.host.v4, node.host.v6));
        let pod_ips = ips(self.stack.addresses(sandbox.v4, sandbox.v6));
        let body = json!({"status": {
            "phase": "Running",
            "hostIP": host_ips[0]["ip"], "hostIPs": host_ips,
            "podIP": pod_ips[0]["ip"], "podIPs": pod_ips,
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

    pub(super) async fn echo_forget(&self, pod: &Pod) {
        let m = &pod.metadata;
        if let (Some(ns), Some(name), Some(uid)) = (&m.namespace, &m.name, &m.uid) {
            self.echo_stop(ns, name, uid).await;
        }
    }

    /// Stops an echo pod's backend and removes what the agent made for it (harmless when
    /// nothing is left).
    async fn echo_stop(&self, ns: &str, name: &str, uid: &str) {
        stop_echo(&self.lab, uid);
        self.release_network(uid).await;
        self.exec_map.remove(ns, name, uid);
    }
}

/// The lab role of an echo pod's process.
fn echo_role(uid: &str) -> String {
    let id: String = uid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    format!("pod-{id}")
}

fn stop_echo(lab: &Lab, uid: &str) {
    let pids = process::find(&lab.names.lab, Some(&echo_role(uid)));
    process::stop(&pids, Duration::from_secs(2));
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
