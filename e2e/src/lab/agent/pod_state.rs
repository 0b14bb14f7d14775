//! What a ferrolb Pod's containers share ([`PodShared`]): its identity, its address and node
//! prober, the status the agent reports (written by `reporter` each time it changes), the
//! containers' processes and holds, and the signal that the Pod is being deleted; the Events
//! the agent posts as the kubelet would; the ServiceAccount token's refresher.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::{Notify, watch};

use super::prober::NodeProber;
use super::status::{ContainerView, PodView};
use super::token;

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
pub(super) struct Live {
    pub(super) pid: Option<u32>,
    pub(super) held: bool,
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
    pub(super) view: StdMutex<PodView>,
    pub(super) live: StdMutex<Vec<Live>>,
    pub(super) changed: Notify,
    pub(super) client: Client,
    pub(super) node: &'static str,
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

    /// Has the status written again when the apiserver's Pod says otherwise about readiness,
    /// as the kubelet's status manager does: the node lifecycle controller marks the Pods of a
    /// node it lost touch with not ready (an apiserver outage longer than its grace period),
    /// and only the kubelet puts them back.
    pub fn resync(&self, pod: &Pod) {
        let theirs = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status == "True");
        let ours = self.view.lock().ok().map(|v| v.ready_since.0);
        if ours.is_some() && theirs != ours {
            self.changed.notify_one();
        }
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
pub(super) fn event(
    client: &Client,
    k: &PodKey,
    node: &str,
    type_: &str,
    reason: &str,
    message: &str,
) {
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
pub(super) async fn reporter(pod: Arc<PodShared>) {
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
pub(super) async fn refresher(client: Client, pod: Pod, dir: PathBuf, mut next: Duration) {
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
