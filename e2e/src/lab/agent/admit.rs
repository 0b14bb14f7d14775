//! Taking a ferrolb Pod on, as the kubelet does before its containers start: the sandbox (a
//! network namespace of its own, or the node's for hostNetwork), the Pod's files (`/etc/hosts`,
//! `/etc/resolv.conf`, the ServiceAccount's credentials), each container's image root and run
//! plan, then the status reporter and one supervisor per container.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::sync::{Notify, mpsc, watch};

use super::container::{self, ContainerCtx};
use super::ferrolb_pods::{Entry, ROLE_PREFIX, io_write, log_file};
use super::pod_state::{Live, PodKey, PodShared, refresher, reporter};
use super::status::{ContainerView, PodView};
use super::{ANN_NETNS, Agent, images, probes, spec, token};
use crate::Error;
use crate::lab::plan::NodePlan;
use crate::lab::process::{ENV_LAB, ENV_ROLE, ENV_ROOT};

impl Agent {
    /// Prepares and starts a Pod.
    pub(super) async fn admit(
        self: &Arc<Self>,
        pod: &Pod,
        node: &'static NodePlan,
        k: &PodKey,
    ) -> Result<Entry, Error> {
        let spec = pod
            .spec
            .as_ref()
            .ok_or_else(|| Error::msg("a Pod without a spec"))?;
        let host_network = spec.host_network == Some(true);
        let (netns, v4, v6) = if host_network {
            (
                self.lab.names.netns(node.name()),
                node.host.v4,
                node.host.v6,
            )
        } else {
            let r = self.pod_network(pod, node, &k.uid).await?;
            (r.net.netns.clone(), r.net.v4, r.net.v6)
        };
        let dir = self.lab.dir.join("pods").join(&k.uid);
        let sa_dir = dir.join("serviceaccount");
        std::fs::create_dir_all(&sa_dir)
            .map_err(|e| Error::io(format!("creating {}", sa_dir.display()), e))?;
        std::fs::create_dir_all(self.lab.dir.join("logs/pods"))
            .map_err(|e| Error::io("creating logs/pods", e))?;
        let hostname = if host_network {
            node.name().to_string()
        } else {
            spec.hostname.clone().unwrap_or_else(|| k.name.clone())
        };
        io_write(&dir.join("hosts"), &spec::hosts_file(v4.into(), &hostname))?;
        io_write(&dir.join("resolv.conf"), &spec::resolv_conf(&k.namespace))?;
        let mut background = Vec::new();
        if spec.automount_service_account_token != Some(false) {
            token::write_static(&sa_dir, &self.lab.dir.join("pki/ca.crt"), &k.namespace)?;
            let next = token::refresh(&self.client, pod, &sa_dir).await?;
            background.push(tokio::spawn(refresher(
                self.client.clone(),
                pod.clone(),
                sa_dir.clone(),
                next,
            )));
        }
        let ctx = spec::PodContext {
            pod,
            node_name: node.name(),
            pod_ip: v4.into(),
            host_ip: node.host.v4.into(),
            apiserver: self.lab.apiserver_for_pods()?,
            pod_dir: &dir,
            markers: Vec::new(),
        };
        let mut prepared = Vec::new();
        for (i, c) in spec.containers.iter().enumerate() {
            let reference = c.image.clone().unwrap_or_default();
            let image = images::image(&reference).ok_or_else(|| {
                Error::msg(format!(
                    "container {} runs {reference:?}; a ferrolb Pod runs only ferrolb's images",
                    c.name
                ))
            })?;
            let lab = self.lab.clone();
            let rootfs = tokio::task::spawn_blocking(move || images::rootfs(&lab, image))
                .await
                .map_err(|e| Error::msg(format!("assembling a root filesystem: {e}")))??;
            let role = format!("{ROLE_PREFIX}{}_{}_{}", k.namespace, k.name, c.name);
            let mut ctx = ctx.clone();
            ctx.markers = vec![
                (ENV_LAB.into(), self.lab.names.lab.clone()),
                (ENV_ROLE.into(), role.clone()),
                (
                    ENV_ROOT.into(),
                    crate::lab::labs_root().to_string_lossy().into_owned(),
                ),
            ];
            let plan = spec::plan(&ctx, c, image, &rootfs)?;
            std::fs::create_dir_all(&plan.scratch)
                .map_err(|e| Error::io(format!("creating {}", plan.scratch.display()), e))?;
            let plan_file = dir.join(format!("{}.json", c.name));
            let text = serde_json::to_string_pretty(&plan)
                .map_err(|e| Error::msg(format!("encoding the plan of {}: {e}", c.name)))?;
            io_write(&plan_file, &text)?;
            let health = c
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some("health"))
                .and_then(|p| u16::try_from(p.container_port).ok());
            prepared.push((
                i,
                c.name.clone(),
                reference,
                health,
                plan_file,
                role,
                probes::probes(c)?,
            ));
        }
        let previous = |name: &str| -> u32 {
            pod.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
                .find(|s| s.name == name)
                .and_then(|s| u32::try_from(s.restart_count).ok())
                .unwrap_or(0)
        };
        let now = Timestamp::now();
        let view = PodView {
            host_ips: [node.host.v4.to_string(), node.host.v6.to_string()],
            pod_ips: [v4.to_string(), v6.to_string()],
            start_time: now,
            ready_since: (false, now),
            containers: prepared
                .iter()
                .map(|(_, name, image, ..)| ContainerView::new(name, image, previous(name)))
                .collect(),
        };
        let prober = self
            .ferrolb
            .probers
            .get(node.name())
            .cloned()
            .ok_or_else(|| Error::msg(format!("no prober for {}", node.name())))?;
        let shared = Arc::new(PodShared {
            key: k.clone(),
            lab: self.lab.names.lab.clone(),
            ip: v4.into(),
            prober,
            deleting: watch::channel(None).0,
            view: StdMutex::new(view),
            live: StdMutex::new(vec![Live::default(); prepared.len()]),
            changed: Notify::new(),
            client: self.client.clone(),
            node: node.name(),
        });
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &k.namespace);
        let ann = json!({"metadata": {"annotations": {ANN_NETNS: netns}}});
        api.patch(&k.name, &PatchParams::default(), &Patch::Merge(ann))
            .await
            .map_err(|e| Error::kube(format!("annotating pod {}/{}", k.namespace, k.name), e))?;
        background.push(tokio::spawn(reporter(shared.clone())));
        shared.changed.notify_one();
        let grace = spec
            .termination_grace_period_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(Duration::from_secs(30), Duration::from_secs);
        let mut controls = Vec::new();
        let mut supervisors = Vec::new();
        let mut containers = Vec::new();
        for (index, name, image, health, plan, role, probes) in prepared {
            let (tx, rx) = mpsc::channel(8);
            controls.push(tx);
            let ctx = ContainerCtx {
                pod: shared.clone(),
                index,
                name: name.clone(),
                exe: self.exe.clone(),
                plan,
                log: log_file(&self.lab, &k.namespace, &k.name, &name),
                netns: netns.clone(),
                role,
                probes,
                grace,
            };
            supervisors.push(tokio::spawn(container::supervise(ctx, rx)));
            containers.push((name, image, health));
        }
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| o.kind.clone());
        Ok(Entry {
            shared,
            node,
            host_network,
            owner,
            containers,
            controls,
            supervisors,
            background,
            terminating: false,
        })
    }
}
