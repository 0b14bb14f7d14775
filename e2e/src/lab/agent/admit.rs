//! Taking a Pod with supervised containers on, as the kubelet does before its containers
//! start: the sandbox ([`Sandbox`]: a network namespace of its own, or the node's for
//! hostNetwork), then the status reporter and one supervisor per container ([`Agent::start_pod`]).
//! For ferrolb's Pods ([`Agent::admit`]) also the Pod's files (`/etc/hosts`,
//! `/etc/resolv.conf`, the ServiceAccount's credentials), each container's image root and run
//! plan; agnhost Pods are prepared by [`super::agnhost_pods`].

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use super::container::{self, ContainerCtx, Launch};
use super::ferrolb_pods::{Entry, ROLE_PREFIX, io_write, log_file};
use super::pod_state::{Live, PodKey, PodShared, refresher, reporter};
use super::probes::ProbeSpec;
use super::status::{ContainerView, PodView};
use super::{ANN_NETNS, Agent, images, probes, spec, token};
use crate::Error;
use crate::lab::plan::{IpStack, NodePlan};
use crate::lab::process::{ENV_LAB, ENV_ROLE, ENV_ROOT};

/// Where a Pod's containers run.
#[derive(Debug, Clone)]
pub(super) struct Sandbox {
    /// The network namespace.
    pub netns: String,
    /// The Pod's IPv4 address (the node's for hostNetwork).
    pub v4: Ipv4Addr,
    /// The Pod's IPv6 address (the node's for hostNetwork).
    pub v6: Ipv6Addr,
    /// The Pod uses the node's network.
    pub host_network: bool,
}

impl Sandbox {
    /// The Pod's primary address in `stack` (its `podIP`).
    pub fn primary(&self, stack: IpStack) -> std::net::IpAddr {
        stack.primary(self.v4, self.v6)
    }
}

/// One container, ready to start.
#[derive(Debug)]
pub(super) struct Prepared {
    /// Its name.
    pub name: String,
    /// Its image reference.
    pub image: String,
    /// Its container port named `health`.
    pub health: Option<u16>,
    /// What starts it.
    pub launch: Launch,
    /// Its lab role.
    pub role: String,
    /// Its probes.
    pub probes: Vec<ProbeSpec>,
}

/// The lab role of container `container` of Pod `k`.
pub(super) fn role(k: &PodKey, container: &str) -> String {
    format!("{ROLE_PREFIX}{}_{}_{container}", k.namespace, k.name)
}

/// The host name of the Pod's containers: the node's name for hostNetwork (a node's host name
/// is its name), else `spec.hostname`, else the Pod's name.
pub(super) fn hostname(pod: &Pod, node: &NodePlan) -> String {
    let spec = pod.spec.as_ref();
    if spec.is_some_and(|s| s.host_network == Some(true)) {
        return node.name().to_string();
    }
    spec.and_then(|s| s.hostname.clone())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default()
}

/// The Pod's `terminationGracePeriodSeconds` (30 s unless set).
pub(super) fn grace(pod: &Pod) -> Duration {
    pod.spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .map_or(Duration::from_secs(30), Duration::from_secs)
}

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
        let sandbox = self.sandbox(pod, node, &k.uid).await?;
        let primary = sandbox.primary(self.stack);
        let dir = self.lab.dir.join("pods").join(&k.uid);
        let sa_dir = dir.join("serviceaccount");
        std::fs::create_dir_all(&sa_dir)
            .map_err(|e| Error::io(format!("creating {}", sa_dir.display()), e))?;
        let hostname = hostname(pod, node);
        io_write(&dir.join("hosts"), &spec::hosts_file(primary, &hostname))?;
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
        let host_dir = self.lab.dir.join("hostpath").join(node.name());
        let ctx = spec::PodContext {
            pod,
            node_name: node.name(),
            pod_ip: primary,
            host_ip: self.stack.primary(node.host.v4, node.host.v6),
            apiserver: self.lab.apiserver_for_pods()?,
            pod_dir: &dir,
            host_dir: &host_dir,
            markers: Vec::new(),
        };
        let mut prepared = Vec::new();
        for c in &spec.containers {
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
            let role = role(k, &c.name);
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
            let host_paths = plan.mounts.iter().map(|m| &m.source);
            for made in std::iter::once(&plan.scratch)
                .chain(host_paths.filter(|p| p.starts_with(&host_dir)))
            {
                std::fs::create_dir_all(made)
                    .map_err(|e| Error::io(format!("creating {}", made.display()), e))?;
            }
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
            prepared.push(Prepared {
                name: c.name.clone(),
                image: reference,
                health,
                launch: Launch::Plan(plan_file),
                role,
                probes: probes::probes(c)?,
            });
        }
        self.start_pod(pod, node, k, &sandbox, prepared, background)
            .await
    }

    /// The Pod's sandbox: the node's network for hostNetwork, else a network of its own
    /// (made unless it exists).
    pub(super) async fn sandbox(
        &self,
        pod: &Pod,
        node: &'static NodePlan,
        uid: &str,
    ) -> Result<Sandbox, Error> {
        if pod
            .spec
            .as_ref()
            .is_some_and(|s| s.host_network == Some(true))
        {
            return Ok(Sandbox {
                netns: self.lab.names.netns(node.name()),
                v4: node.host.v4,
                v6: node.host.v6,
                host_network: true,
            });
        }
        let r = self.pod_network(pod, node, uid).await?;
        Ok(Sandbox {
            netns: r.net.netns.clone(),
            v4: r.net.v4,
            v6: r.net.v6,
            host_network: false,
        })
    }

    /// Starts the Pod's `prepared` containers in `sandbox`: the status view and what the
    /// containers share, the netns annotation and exec map entry, the status reporter and one
    /// supervisor per container. `background` tasks end with the Pod.
    pub(super) async fn start_pod(
        self: &Arc<Self>,
        pod: &Pod,
        node: &'static NodePlan,
        k: &PodKey,
        sandbox: &Sandbox,
        prepared: Vec<Prepared>,
        mut background: Vec<JoinHandle<()>>,
    ) -> Result<Entry, Error> {
        let (v4, v6) = (sandbox.v4, sandbox.v6);
        std::fs::create_dir_all(self.lab.dir.join("logs/pods"))
            .map_err(|e| Error::io("creating logs/pods", e))?;
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
            host_ips: strings(self.stack.addresses(node.host.v4, node.host.v6)),
            pod_ips: strings(self.stack.addresses(v4, v6)),
            start_time: now,
            ready_since: (false, now),
            containers: prepared
                .iter()
                .map(|p| ContainerView::new(&p.name, &p.image, previous(&p.name)))
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
            ip: sandbox.primary(self.stack),
            prober,
            deleting: watch::channel(None).0,
            view: StdMutex::new(view),
            live: StdMutex::new(vec![Live::default(); prepared.len()]),
            changed: Notify::new(),
            client: self.client.clone(),
            node: node.name(),
        });
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &k.namespace);
        let ann = json!({"metadata": {"annotations": {ANN_NETNS: sandbox.netns}}});
        api.patch(&k.name, &PatchParams::default(), &Patch::Merge(ann))
            .await
            .map_err(|e| Error::kube(format!("annotating pod {}/{}", k.namespace, k.name), e))?;
        self.exec_map
            .add(&k.namespace, &k.name, &k.uid, &sandbox.netns)?;
        background.push(tokio::spawn(reporter(shared.clone())));
        shared.changed.notify_one();
        let grace = grace(pod);
        let restart =
            container::Restart::of(pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()));
        let mut controls = Vec::new();
        let mut supervisors = Vec::new();
        let mut containers = Vec::new();
        for (index, p) in prepared.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(8);
            controls.push(tx);
            let ctx = ContainerCtx {
                pod: shared.clone(),
                index,
                name: p.name.clone(),
                exe: self.exe.clone(),
                launch: p.launch,
                log: log_file(&self.lab, &k.namespace, &k.name, &p.name),
                netns: sandbox.netns.clone(),
                role: p.role,
                probes: p.probes,
                grace,
                restart,
            };
            supervisors.push(tokio::spawn(container::supervise(ctx, rx)));
            containers.push((p.name, p.image, p.health));
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
            host_network: sandbox.host_network,
            owner,
            containers,
            controls,
            supervisors,
            background,
            terminating: false,
        })
    }
}

/// Addresses as the API writes them.
fn strings(ips: Vec<std::net::IpAddr>) -> Vec<String> {
    ips.iter().map(ToString::to_string).collect()
}
