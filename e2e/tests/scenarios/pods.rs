//! ferrolb installed as on a cluster: deploy/'s DaemonSet and Deployment placed by the real
//! controllers and scheduler and run by the node agent as containers — probes, readiness
//! driving the webhook's EndpointSlice, restarts, the ServiceAccount token bound to the Pod,
//! the securityContext's user and capabilities.

use std::collections::BTreeSet;
use std::time::Duration;

use ferrolb_e2e::lab::components::CONTROLLERS;
use ferrolb_e2e::lab::install::{
    CONTROLLER_DEPLOYMENT, NAMESPACE, SPEAKER_DAEMONSET, WEBHOOK_SERVICE,
};
use ferrolb_e2e::lab::{Component, Node, SPEAKERS};
use ferrolb_e2e::wait_for;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::Scenarios;

const LIMIT: Duration = Duration::from_secs(60);

/// One line of /proc/PID/status (`Uid:`, `CapEff:`, ...), its value.
fn proc_status(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

impl Scenarios<'_> {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// The webhook Service's endpoints: (pod name, ready), over every slice.
    async fn webhook_endpoints(&self) -> BTreeSet<(String, bool)> {
        let slices: Api<EndpointSlice> = Api::namespaced(self.client.clone(), NAMESPACE);
        let lp =
            ListParams::default().labels(&format!("kubernetes.io/service-name={WEBHOOK_SERVICE}"));
        let list = slices.list(&lp).await.unwrap();
        list.items
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .map(|e| {
                let pod = e.target_ref.as_ref().and_then(|t| t.name.clone());
                let ready = e.conditions.as_ref().and_then(|c| c.ready);
                (pod.unwrap_or_default(), ready == Some(true))
            })
            .collect()
    }

    /// The controller Pods that report Ready, by name.
    async fn ready_controller_pods(&self) -> BTreeSet<String> {
        let lp = ListParams::default().labels("app.kubernetes.io/component=controller");
        self.pods()
            .list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                    .is_some_and(|c| c.status == "True")
            })
            .filter_map(|p| p.metadata.name)
            .collect()
    }

    /// Waits until the webhook's EndpointSlice lists exactly the ready controller Pods as
    /// ready (and no other as ready); returns them.
    async fn webhook_follows_readiness(&self, want_ready: usize) -> BTreeSet<String> {
        wait_for(
            &format!("the webhook's endpoints: exactly the {want_ready} ready controller Pods"),
            LIMIT,
            || async {
                let ready = self.ready_controller_pods().await;
                let listed: BTreeSet<String> = self
                    .webhook_endpoints()
                    .await
                    .into_iter()
                    .filter(|(_, r)| *r)
                    .map(|(p, _)| p)
                    .collect();
                (ready.len() == want_ready && listed == ready).then_some(ready)
            },
        )
        .await
        .unwrap()
    }

    async fn container_status(&self, pod: &str) -> ContainerStatus {
        let p = self.pods().get(pod).await.unwrap();
        p.status.unwrap().container_statuses.unwrap().remove(0)
    }

    /// deploy/'s workloads, placed by the real DaemonSet and ReplicaSet controllers and
    /// scheduler, are ready as the API reports them, and the webhook's EndpointSlice (the
    /// real EndpointSlice controller) lists exactly the ready controller Pods.
    pub async fn installed_as_pods(&self) {
        self.lab.start_ready(&CONTROLLERS, LIMIT).await.unwrap();
        self.lab.start_ready(&SPEAKERS, LIMIT).await.unwrap();
        let ds: Api<DaemonSet> = Api::namespaced(self.client.clone(), NAMESPACE);
        let d = ds.get(SPEAKER_DAEMONSET).await.unwrap().status.unwrap();
        assert_eq!((d.desired_number_scheduled, d.number_ready), (3, 3));
        let deploy: Api<Deployment> = Api::namespaced(self.client.clone(), NAMESPACE);
        let s = deploy
            .get(CONTROLLER_DEPLOYMENT)
            .await
            .unwrap()
            .status
            .unwrap();
        assert_eq!(s.available_replicas, Some(2));
        for node in Node::ALL {
            let c = self.lab.container(Component::Speaker(node)).unwrap();
            let pod = self.pods().get(&c.pod).await.unwrap();
            let spec = pod.spec.unwrap();
            assert_eq!(
                spec.node_name.as_deref(),
                Some(node.name()),
                "bound by the DaemonSet"
            );
            assert_eq!(spec.host_network, Some(true));
            let owner = &pod.metadata.owner_references.unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str()),
                ("DaemonSet", SPEAKER_DAEMONSET)
            );
            assert_eq!(
                c.pod_ip,
                node.host().v4.to_string(),
                "hostNetwork: the node's address"
            );
        }
        for c in CONTROLLERS {
            let info = self.lab.container(c).unwrap();
            let pod = self.pods().get(&info.pod).await.unwrap();
            let owner = &pod.metadata.owner_references.unwrap()[0];
            assert_eq!(owner.kind, "ReplicaSet");
            assert!(
                owner.name.starts_with(CONTROLLER_DEPLOYMENT),
                "{}",
                owner.name
            );
            assert!(
                info.pod_ip.starts_with("192.0.2."),
                "a pod network address: {}",
                info.pod_ip
            );
        }
        self.webhook_follows_readiness(2).await;
    }

    /// A controller container killed (SIGKILL through the agent) stays down while held: not
    /// ready, dropped from the webhook's ready endpoints. Released, it is restarted: restart
    /// count one more, the kill as its last state, ready again.
    pub async fn killed_controller_restarts(&self) {
        self.lab.start_ready(&CONTROLLERS, LIMIT).await.unwrap();
        let victim = Component::Controller(0);
        let pod = self.lab.container(victim).unwrap().pod;
        let before = self.container_status(&pod).await.restart_count;
        self.lab.kill(victim).unwrap();
        assert!(!self.lab.component_running(victim));
        let held = self.webhook_follows_readiness(1).await;
        assert!(
            !held.contains(&pod),
            "{pod} held down is not a ready endpoint"
        );
        let s = self.container_status(&pod).await;
        assert!(!s.ready);
        let term = s.state.unwrap().terminated.expect("held: terminated");
        assert_eq!(term.exit_code, 137, "SIGKILL");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!self.lab.component_running(victim), "held: not restarted");
        self.lab.start(victim).unwrap();
        self.lab.wait_ready(victim, LIMIT).await.unwrap();
        assert_eq!(self.lab.container(victim).unwrap().pod, pod, "the same Pod");
        let s = self.container_status(&pod).await;
        assert_eq!(s.restart_count, before + 1);
        assert_eq!(s.last_state.unwrap().terminated.unwrap().exit_code, 137);
        assert!(s.ready && s.state.unwrap().running.is_some());
        self.webhook_follows_readiness(2).await;
    }

    /// Each container runs as its securityContext says (uid, capabilities, no_new_privs, a
    /// read-only root) and sees its ServiceAccount token, which the apiserver takes as the
    /// ServiceAccount's, bound to the Pod.
    pub async fn pods_run_as_their_spec(&self) {
        self.lab.start_ready(&CONTROLLERS, LIMIT).await.unwrap();
        self.lab.start_ready(&SPEAKERS, LIMIT).await.unwrap();
        let cases = [
            (
                Component::Controller(0),
                "65532",
                "0000000000000000",
                "ferrolb-controller",
            ),
            (
                Component::Controller(1),
                "65532",
                "0000000000000000",
                "ferrolb-controller",
            ),
            // NET_ADMIN (12) and NET_RAW (13), nothing else.
            (
                Component::Speaker(Node::B),
                "0",
                "0000000000003000",
                "ferrolb-speaker",
            ),
        ];
        for (c, uid, cap_eff, sa) in cases {
            let info = self.lab.container(c).unwrap();
            let pid = self.lab.pid(c).expect("running");
            assert_eq!(
                proc_status(pid, "Uid:")
                    .split_whitespace()
                    .collect::<Vec<_>>(),
                [uid; 4],
                "{c}"
            );
            assert_eq!(proc_status(pid, "CapEff:"), cap_eff, "{c}");
            assert_eq!(
                proc_status(pid, "CapBnd:"),
                cap_eff,
                "{c}: nothing to regain"
            );
            assert_eq!(proc_status(pid, "NoNewPrivs:"), "1", "{c}");
            let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
            let root = mounts
                .lines()
                .find(|l| l.split_whitespace().nth(4) == Some("/"))
                .unwrap();
            assert!(
                root.split_whitespace().nth(5).unwrap().starts_with("ro"),
                "{c}: {root}"
            );
            let dir = format!("/proc/{pid}/root/var/run/secrets/kubernetes.io/serviceaccount");
            let token = std::fs::read_to_string(format!("{dir}/token")).unwrap();
            assert_eq!(
                std::fs::read_to_string(format!("{dir}/namespace")).unwrap(),
                NAMESPACE
            );
            assert!(
                std::fs::read_to_string(format!("{dir}/ca.crt"))
                    .unwrap()
                    .contains("BEGIN CERTIFICATE")
            );
            let review: TokenReview =
                serde_json::from_value(json!({"spec": {"token": token.trim()}})).unwrap();
            let api: Api<TokenReview> = Api::all(self.client.clone());
            let got = api.create(&PostParams::default(), &review).await.unwrap();
            let status = got.status.unwrap();
            assert_eq!(status.authenticated, Some(true), "{c}: {status:?}");
            let user = status.user.unwrap();
            assert_eq!(
                user.username.as_deref(),
                Some(format!("system:serviceaccount:{NAMESPACE}:{sa}").as_str())
            );
            let extra = user.extra.unwrap();
            assert_eq!(
                extra["authentication.kubernetes.io/pod-name"],
                std::slice::from_ref(&info.pod),
                "{c}"
            );
            assert_eq!(
                extra["authentication.kubernetes.io/pod-uid"],
                std::slice::from_ref(&info.uid),
                "{c}"
            );
        }
    }

    /// A container whose liveness probe fails is restarted by the agent: a Pod of the
    /// speaker's image running `nft monitor` (it runs until stopped) with its liveness and
    /// readiness probes on a port nothing listens on; the agent reports the failures, never
    /// reports it ready, kills it and starts it again.
    pub async fn liveness_failure_restarts(&self) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let body: Pod = serde_json::from_value(json!({
            "metadata": {"name": "liveness-fails"},
            "spec": {"terminationGracePeriodSeconds": 1, "automountServiceAccountToken": false,
                "containers": [{"name": "monitor", "image": ferrolb_e2e::image::SPEAKER.reference(),
                    "command": ["/usr/sbin/nft", "monitor"],
                    "securityContext": {"runAsUser": 0, "readOnlyRootFilesystem": true,
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}},
                    "ports": [{"name": "health", "containerPort": 8080}],
                    "livenessProbe": {"httpGet": {"path": "/livez", "port": "health"},
                        "periodSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 1},
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &body).await.unwrap();
        let restarted = wait_for("liveness-fails restarted", LIMIT, || async {
            let p = pods.get("liveness-fails").await.ok()?;
            let s = p.status?.container_statuses?.into_iter().next()?;
            (s.restart_count >= 1 && s.last_state.as_ref()?.terminated.is_some()).then_some(s)
        })
        .await
        .unwrap();
        // Running all along between restarts, never ready: readiness comes from the probe.
        assert!(!restarted.ready, "{restarted:?}");
        let pod = pods.get("liveness-fails").await.unwrap();
        let ready = pod.status.unwrap().conditions.unwrap();
        let ready = ready.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False", "{ready:?}");
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let lp = ListParams::default().fields("involvedObject.name=liveness-fails");
        let list = events.list(&lp).await.unwrap();
        let said = |reason: &str, text: &str| {
            list.items.iter().any(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.message.as_deref().is_some_and(|m| m.contains(text))
            })
        };
        assert!(
            said("Unhealthy", "Liveness probe failed"),
            "{:?}",
            list.items
        );
        assert!(said("Killing", "failed liveness probe, will be restarted"));
        pods.delete("liveness-fails", &DeleteParams::default())
            .await
            .unwrap();
        wait_for("liveness-fails gone", LIMIT, || async {
            pods.get_opt("liveness-fails")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await
        .unwrap();
    }
}
