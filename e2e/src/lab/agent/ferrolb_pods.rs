//! ferrolb's own Pods, run as the kubelet runs them: the Pod's sandbox (its network
//! namespace, or the node's for hostNetwork), its ServiceAccount credentials
//! ([`super::token`]), `/etc/hosts` and `/etc/resolv.conf`, then one supervised container per
//! container of the spec ([`super::container`]) from its image's root filesystem
//! ([`super::images`]) with the plan of [`super::spec`]; status written as containers change;
//! on deletion every container stopped within the grace period and the Pod removed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::{Mutex, Notify, mpsc, watch};
use tokio::task::JoinHandle;

use super::container::{self, ContainerCtx, Control};
use super::control::ContainerInfo;
use super::prober::NodeProber;
use super::status::{ContainerView, PodView};
use super::{ANN_NETNS, Agent, images, pods, probes, spec, token};
use crate::lab::plan::{NODES, NodePlan};
use crate::lab::process::{self, ENV_LAB, ENV_ROLE};
use crate::{Error, Lab};

/// How long after a Pod failed to start the agent tries again.
const RETRY: Duration = Duration::from_secs(10);

/// Prefix of the lab roles of ferrolb's containers.
pub const ROLE_PREFIX: &str = "ctr-";

/// Whether the agent runs `pod` as ferrolb's (a container runs one of ferrolb's images).
pub fn is_ferrolb(pod: &Pod) -> bool {
    pod.spec.iter().flat_map(|s| s.containers.iter()).any(|c| {
        c.image
            .as_deref()
            .is_some_and(|i| images::image(i).is_some())
    })
}

/// The log file of a container: `logs/pods/<namespace>_<pod>_<container>.log`.
pub fn log_file(lab: &Lab, ns: &str, pod: &str, container: &str) -> PathBuf {
    lab.dir
        .join("logs")
        .join("pods")
        .join(format!("{ns}_{pod}_{container}.log"))
}

/// Stops containers left by an agent that is gone (the new one starts its Pods afresh).
pub fn stop_orphans(lab: &Lab) {
    let pids: Vec<u32> = process::find(&lab.names.lab, None)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                let want = format!("{ENV_ROLE}={ROLE_PREFIX}");
                env.split(|b| *b == 0)
                    .any(|v| v.starts_with(want.as_bytes()))
            })
        })
        .collect();
    process::stop(&pids, Duration::from_secs(5));
}

/// Which Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

/// A container's process, as the lab sees it.
#[derive(Debug, Clone, Copy, Default)]
struct Live {
    pid: Option<u32>,
    held: bool,
}

/// What a Pod's containers share: its identity and addresses, its status, and how to stop it.
pub struct PodShared {
    /// The Pod.
    pub key: PodKey,
    /// The lab's name (marks the container processes).
    pub lab: String,
    /// The address probes go to (the Pod's IPv4 address).
    pub ip: IpAddr,
    /// The node's prober.
    pub prober: NodeProber,
    /// Set to the grace period when the Pod is being deleted.
    pub deleting: watch::Sender<Option<Duration>>,
    view: StdMutex<PodView>,
    live: StdMutex<Vec<Live>>,
    changed: Notify,
    client: Client,
    node: &'static str,
}

impl std::fmt::Debug for PodShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodShared")
            .field("key", &self.key)
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

impl PodShared {
    /// Changes container `i`'s view and has the status written.
    pub fn update(&self, i: usize, f: impl FnOnce(&mut ContainerView)) {
        if let Ok(mut v) = self.view.lock() {
            if let Some(c) = v.containers.get_mut(i) {
                f(c);
            }
            v.note_readiness();
        }
        self.changed.notify_one();
    }

    /// Container `i`'s readiness as reported.
    pub fn ready(&self, i: usize) -> bool {
        self.view
            .lock()
            .ok()
            .and_then(|v| v.containers.get(i).map(|c| c.ready))
            .unwrap_or(false)
    }

    /// Records container `i`'s pid (none: not running).
    pub fn set_pid(&self, i: usize, pid: Option<u32>) {
        if let Ok(mut l) = self.live.lock()
            && let Some(x) = l.get_mut(i)
        {
            x.pid = pid;
        }
    }

    /// Records whether the lab holds container `i`.
    pub fn set_held(&self, i: usize, held: bool) {
        if let Ok(mut l) = self.live.lock()
            && let Some(x) = l.get_mut(i)
        {
            x.held = held;
        }
    }

    /// Posts an Event about the Pod as the kubelet would (in the background).
    pub fn event(&self, type_: &str, reason: &str, message: &str) {
        event(&self.client, &self.key, self.node, type_, reason, message);
    }
}

/// Posts an Event about Pod `k` on `node` as the kubelet would (in the background).
fn event(client: &Client, k: &PodKey, node: &str, type_: &str, reason: &str, message: &str) {
    let now = Timestamp::now();
    let body = json!({
        "metadata": {"generateName": format!("{}.", k.name), "namespace": k.namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": k.namespace,
            "name": k.name, "uid": k.uid},
        "type": type_, "reason": reason, "message": message,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet", "reportingInstance": node,
        "firstTimestamp": Time(now), "lastTimestamp": Time(now), "eventTime": MicroTime(now),
        "action": reason, "count": 1,
    });
    let api: Api<Event> = Api::namespaced(client.clone(), &k.namespace);
    tokio::spawn(async move {
        if let Ok(ev) = serde_json::from_value::<Event>(body) {
            let _ = api.create(&PostParams::default(), &ev).await;
        }
    });
}

/// Writes the Pod's status each time it changes (retrying while the apiserver is away).
async fn reporter(pod: Arc<PodShared>) {
    let api: Api<Pod> = Api::namespaced(pod.client.clone(), &pod.key.namespace);
    loop {
        pod.changed.notified().await;
        for attempt in 0u32.. {
            let Ok(body) = pod.view.lock().map(|v| v.status()) else {
                return;
            };
            match api
                .patch_status(
                    &pod.key.name,
                    &PatchParams::default(),
                    &Patch::Strategic(body),
                )
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 => return,
                Err(e) => {
                    if attempt % 30 == 0 {
                        eprintln!("agent: status of pod {}: {e}", pod.key.name);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Keeps the Pod's token fresh.
async fn refresher(client: Client, pod: Pod, dir: PathBuf, mut next: Duration) {
    loop {
        tokio::time::sleep(next).await;
        next = match token::refresh(&client, &pod, &dir).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("agent: {e}");
                Duration::from_secs(10)
            }
        };
    }
}

/// One ferrolb Pod the agent runs.
struct Entry {
    shared: Arc<PodShared>,
    node: &'static NodePlan,
    host_network: bool,
    owner: Option<String>,
    containers: Vec<(String, String, Option<u16>)>, // name, image, health port
    controls: Vec<mpsc::Sender<Control>>,
    supervisors: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    terminating: bool,
}

/// ferrolb's Pods, by uid.
pub struct FerrolbPods {
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Pods that could not start, with when to try again.
    failed: Mutex<BTreeMap<String, Instant>>,
    probers: BTreeMap<&'static str, NodeProber>,
}

impl FerrolbPods {
    /// None yet; a prober per node.
    pub fn new(lab: &Lab) -> FerrolbPods {
        FerrolbPods {
            entries: Mutex::new(BTreeMap::new()),
            failed: Mutex::new(BTreeMap::new()),
            probers: NODES
                .iter()
                .map(|n| (n.name(), NodeProber::start(&lab.names.netns(n.name()))))
                .collect(),
        }
    }
}

fn key(pod: &Pod) -> Option<PodKey> {
    Some(PodKey {
        namespace: pod.metadata.namespace.clone()?,
        name: pod.metadata.name.clone()?,
        uid: pod.metadata.uid.clone()?,
    })
}

fn io_write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

impl Agent {
    pub(super) async fn ferrolb_reconcile(
        self: &Arc<Self>,
        pod: &Pod,
        node: &'static NodePlan,
    ) -> Result<(), Error> {
        let Some(k) = key(pod) else { return Ok(()) };
        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .or(pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds))
                .and_then(|s| u64::try_from(s).ok())
                .map_or(Duration::from_secs(30), Duration::from_secs);
            self.terminate(&k, grace, true).await;
            return Ok(());
        }
        if self.ferrolb.entries.lock().await.contains_key(&k.uid) {
            return Ok(());
        }
        if let Some(at) = self.ferrolb.failed.lock().await.get(&k.uid)
            && Instant::now() < *at
        {
            return Ok(());
        }
        match self.admit(pod, node, &k).await {
            Ok(entry) => {
                self.ferrolb
                    .entries
                    .lock()
                    .await
                    .insert(k.uid.clone(), entry);
                self.ferrolb.failed.lock().await.remove(&k.uid);
                self.relink_logs().await;
                Ok(())
            }
            Err(e) => {
                let retry = Instant::now() + RETRY;
                self.ferrolb
                    .failed
                    .lock()
                    .await
                    .insert(k.uid.clone(), retry);
                if pod
                    .spec
                    .as_ref()
                    .is_none_or(|s| s.host_network != Some(true))
                {
                    self.release_network(&k.uid).await;
                }
                event(
                    &self.client,
                    &k,
                    node.name(),
                    "Warning",
                    "Failed",
                    &e.to_string(),
                );
                tokio::spawn(self.clone().retry_later(k));
                Err(e)
            }
        }
    }

    /// Tries a Pod that could not start again after [`RETRY`], as the kubelet retries (unless
    /// it is gone or started meanwhile).
    fn retry_later(
        self: Arc<Self>,
        k: PodKey,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            tokio::time::sleep(RETRY).await;
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &k.namespace);
            if let Ok(Some(pod)) = api.get_opt(&k.name).await
                && pod.metadata.uid.as_deref() == Some(k.uid.as_str())
                && let Err(e) = self.reconcile(&pod).await
            {
                eprintln!("agent: pod {}: {e}", k.name);
            }
        })
    }

    pub(super) async fn ferrolb_forget(self: &Arc<Self>, pod: &Pod) {
        if let Some(k) = key(pod) {
            // Gone from the API (forced): stop at once, nothing left to delete.
            self.terminate(&k, Duration::ZERO, false).await;
        }
    }

    /// Stops the Pod's containers (SIGTERM, `grace`, SIGKILL), removes what the agent made
    /// for it and, if `delete`, the Pod itself.
    async fn terminate(self: &Arc<Self>, k: &PodKey, grace: Duration, delete: bool) {
        let mut entries = self.ferrolb.entries.lock().await;
        let Some(entry) = entries.get_mut(&k.uid) else {
            drop(entries);
            if delete {
                pods::remove(self.client.clone(), &k.namespace, &k.name, &k.uid).await;
            }
            return;
        };
        if entry.terminating {
            if grace.is_zero() {
                let _ = entry.shared.deleting.send(Some(grace));
            }
            return;
        }
        entry.terminating = true;
        let _ = entry.shared.deleting.send(Some(grace));
        let supervisors = std::mem::take(&mut entry.supervisors);
        drop(entries);
        let agent = self.clone();
        let k = k.clone();
        tokio::spawn(async move {
            for s in supervisors {
                let _ = s.await;
            }
            let entry = agent.ferrolb.entries.lock().await.remove(&k.uid);
            if let Some(e) = entry {
                for b in e.background {
                    b.abort();
                }
                if !e.host_network {
                    agent.release_network(&k.uid).await;
                }
            }
            let dir = agent.lab.dir.join("pods").join(&k.uid);
            let _ = std::fs::remove_dir_all(&dir);
            agent.relink_logs().await;
            if delete {
                pods::remove(agent.client.clone(), &k.namespace, &k.name, &k.uid).await;
            }
        });
    }

    /// Prepares and starts a Pod.
    async fn admit(
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

    /// Every container of ferrolb's Pods, with the component each one is.
    pub(super) async fn ferrolb_containers(&self) -> Vec<ContainerInfo> {
        let entries = self.ferrolb.entries.lock().await;
        let mut out = Vec::new();
        for e in entries.values() {
            let view = e.shared.view.lock().map(|v| v.clone()).ok();
            let live = e.shared.live.lock().map(|l| l.clone()).unwrap_or_default();
            for (i, (name, image, health)) in e.containers.iter().enumerate() {
                let c = view.as_ref().and_then(|v| v.containers.get(i));
                let l = live.get(i).copied().unwrap_or_default();
                out.push(ContainerInfo {
                    component: None,
                    namespace: e.shared.key.namespace.clone(),
                    pod: e.shared.key.name.clone(),
                    uid: e.shared.key.uid.clone(),
                    container: name.clone(),
                    owner: e.owner.clone(),
                    image: image.clone(),
                    node: e.node.name().to_string(),
                    pod_ip: e.shared.ip.to_string(),
                    health_port: *health,
                    pid: l.pid,
                    held: l.held,
                    ready: c.is_some_and(|c| c.ready),
                    restart_count: c.map_or(0, |c| c.restart_count),
                    terminating: e.terminating,
                    log: log_file(&self.lab, &e.shared.key.namespace, &e.shared.key.name, name)
                        .display()
                        .to_string(),
                });
            }
        }
        super::control::assign(&mut out);
        out
    }

    /// The control channel of container `uid`/`container`.
    pub(super) async fn ferrolb_control(
        &self,
        uid: &str,
        container: &str,
    ) -> Option<mpsc::Sender<Control>> {
        let entries = self.ferrolb.entries.lock().await;
        let e = entries.get(uid)?;
        let i = e.containers.iter().position(|(n, ..)| n == container)?;
        e.controls.get(i).cloned()
    }

    /// Points `logs/<component>.log` at each component's container log.
    async fn relink_logs(&self) {
        for c in self.ferrolb_containers().await {
            let Some(component) = &c.component else {
                continue;
            };
            let link = self.lab.log(component);
            let target = PathBuf::from("pods")
                .join(format!("{}_{}_{}.log", c.namespace, c.pod, c.container));
            let tmp = link.with_extension("log.tmp");
            let _ = std::fs::remove_file(&tmp);
            let made = std::os::unix::fs::symlink(&target, &tmp)
                .and_then(|()| std::fs::rename(&tmp, &link));
            if let Err(e) = made {
                eprintln!("agent: linking {}: {e}", link.display());
            }
        }
    }
}
