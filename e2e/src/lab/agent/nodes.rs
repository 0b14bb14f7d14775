//! The agent's Nodes: registered with addresses, pod CIDRs, capacity and Ready, then kept
//! alive with Lease renewals and Ready heartbeats (paused by the `lab.ferrolb.io/heartbeat`
//! annotation).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{ANN_HEARTBEAT, Agent, MANAGER};
use crate::Error;
use crate::lab::plan::NodePlan;

fn now() -> Time {
    Time(Timestamp::now())
}

impl Agent {
    pub(super) async fn register(&self, node: &NodePlan) -> Result<(), Error> {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = node.name();
        let cidrs = self.stack.pod_cidrs(node);
        let obj: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "lab.ferrolb.io/node": "true",
            }},
            "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs},
        }))
        .map_err(|e| Error::msg(format!("building Node {name}: {e}")))?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Error::kube(format!("creating Node {name}"), e)),
        }
        let resources =
            json!({"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"});
        let mut addresses: Vec<_> = self
            .stack
            .addresses(node.host.v4, node.host.v6)
            .into_iter()
            .map(|ip| json!({"type": "InternalIP", "address": ip.to_string()}))
            .collect();
        addresses.push(json!({"type": "Hostname", "address": name}));
        let status = json!({"status": {
            "addresses": addresses,
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

    pub(super) async fn heartbeat(&self, node: &NodePlan) -> Result<(), Error> {
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
        let was_ready = crate::lab::node_ready(&current);
        let status = json!({"status": {"conditions": ready_conditions(!was_ready)}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(status))
            .await
            .map_err(|e| Error::kube(format!("posting the heartbeat of {name}"), e))?;
        Ok(())
    }
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
