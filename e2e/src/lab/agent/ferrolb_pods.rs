//! Pods whose containers the agent supervises as the kubelet does: ferrolb's own Pods and
//! agnhost Pods ([`super::agnhost_pods`]). Taken on (`admit`: sandbox, credentials, files, one
//! supervised container per container of the spec, [`super::container`]), their status
//! written as containers change ([`super::pod_state`]), and on deletion every container
//! stopped within the grace period and the Pod removed. Also what the control socket needs:
//! each container with the component it is (only ferrolb's Pods' are components).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::container::Control;
use super::control::ContainerInfo;
use super::pod_state::{PodKey, PodShared, event};
use super::prober::NodeProber;
use super::{Agent, images, pods};
use crate::lab::plan::{NODES, NodePlan};
use crate::lab::process::{self, ENV_ROLE};
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
/// One ferrolb Pod the agent runs.
pub(super) struct Entry {
    pub(super) shared: Arc<PodShared>,
    pub(super) node: &'static NodePlan,
    pub(super) host_network: bool,
    pub(super) owner: Option<String>,
    pub(super) containers: Vec<(String, String, Option<u16>)>, // name, image, health port
    pub(super) controls: Vec<mpsc::Sender<Control>>,
    pub(super) supervisors: Vec<JoinHandle<()>>,
    pub(super) background: Vec<JoinHandle<()>>,
    pub(super) terminating: bool,
}

/// ferrolb's Pods, by uid.
pub struct FerrolbPods {
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Pods that could not start, with when to try again.
    failed: Mutex<BTreeMap<String, Instant>>,
    pub(super) probers: BTreeMap<&'static str, NodeProber>,
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

/// The longest grace period the agent gives a Pod being deleted.
pub const MAX_GRACE: Duration = Duration::from_secs(600);

/// The grace period of a Pod being deleted: its `deletionGracePeriodSeconds`, else its
/// `terminationGracePeriodSeconds`, else 30 s; at most [`MAX_GRACE`].
pub fn deletion_grace(pod: &Pod) -> Duration {
    pod.metadata
        .deletion_grace_period_seconds
        .or(pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds))
        .and_then(|s| u64::try_from(s).ok())
        .map_or(Duration::from_secs(30), Duration::from_secs)
        .min(MAX_GRACE)
}

fn key(pod: &Pod) -> Option<PodKey> {
    Some(PodKey {
        namespace: pod.metadata.namespace.clone()?,
        name: pod.metadata.name.clone()?,
        uid: pod.metadata.uid.clone()?,
    })
}

pub(super) fn io_write(path: &Path, text: &str) -> Result<(), Error> {
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
            self.terminate(&k, deletion_grace(pod), true).await;
            return Ok(());
        }
        if let Some(entry) = self.ferrolb.entries.lock().await.get(&k.uid) {
            entry.shared.resync(pod);
            return Ok(());
        }
        if let Some(at) = self.ferrolb.failed.lock().await.get(&k.uid)
            && Instant::now() < *at
        {
            return Ok(());
        }
        let admitted = if is_ferrolb(pod) {
            self.admit(pod, node, &k).await
        } else {
            self.admit_agnhost(pod, node, &k).await
        };
        match admitted {
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
                self.exec_map.remove(&k.namespace, &k.name, &k.uid);
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
            agent.exec_map.remove(&k.namespace, &k.name, &k.uid);
            let dir = agent.lab.dir.join("pods").join(&k.uid);
            let _ = std::fs::remove_dir_all(&dir);
            agent.relink_logs().await;
            if delete {
                pods::remove(agent.client.clone(), &k.namespace, &k.name, &k.uid).await;
            }
        });
    }

    /// Every container the agent supervises (ferrolb's and agnhost Pods'), with the component
    /// each one is.
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
