//! Helpers of the speaker scenarios: pods on chosen nodes, the LAN pool and its
//! `L2AnnouncementPolicy`, `ServiceAnnouncement` lookups and ARP/NDP checks from the client.

pub mod failover;
pub mod flows;
pub mod forged;
pub mod gossip;
pub mod local;
pub mod outage;
pub mod policy;
pub mod probe;
pub mod resync;
pub mod rules;
pub mod why;
pub mod wire;

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_e2e::lab::SPEAKERS;
use ferrolb_e2e::lab::agent::ANN_READY;
use ferrolb_e2e::lab::controlplane;
use ferrolb_e2e::testlab::{TestLab, Turn};
use ferrolb_e2e::{Component, k8s, wait_for};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};

/// The namespace of the scenarios.
pub const NS: &str = "web";
/// The backends' port.
pub const PORT: u16 = 9376;
/// The addresses of the LAN pool `lan`.
pub const LAN_ADDRESSES: [&str; 2] = [
    "198.51.100.200-198.51.100.239",
    "2001:db8:100::200-2001:db8:100::2ff",
];
/// Limit of every wait on the wire.
pub const WIRE: Duration = Duration::from_secs(15);

pub struct Spk<'a> {
    pub lab: &'a TestLab,
    pub client: Client,
}

pub fn step(s: &str) {
    eprintln!("--- {s}");
}

impl Spk<'_> {
    /// The scenarios on the lab of `turn`.
    pub fn of(turn: &Turn) -> Spk<'static> {
        Spk {
            lab: turn.lab,
            client: turn.client.clone(),
        }
    }

    /// The ground every scenario starts from, whatever ran (or failed) before: the apiserver
    /// and every speaker running and ready, [`Spk::setup`], and Service `web` with a pod on
    /// each node. Returns `web`'s addresses (IPv4 first).
    pub async fn begin(&self) -> Vec<IpAddr> {
        controlplane::start(self.lab, &["kube-apiserver"]).expect("the apiserver running");
        self.lab
            .start_ready(&SPEAKERS, Duration::from_secs(60))
            .await
            .expect("every speaker running and ready");
        self.lab
            .controllers_serving(Duration::from_secs(60))
            .await
            .expect("both controllers ready, their webhook reached");
        self.setup().await;
        self.web().await
    }

    /// Service `web`: dual-stack, Cluster, a pod of app `web` on each node; its addresses.
    pub async fn web(&self) -> Vec<IpAddr> {
        for (pod, node) in [
            ("web-a", "node-a"),
            ("web-b", "node-b"),
            ("web-c", "node-c"),
        ] {
            self.pod(pod, "web", node, true).await;
        }
        let spec = json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]});
        self.service("web", "web", spec, 2).await
    }

    /// The namespace, the LAN pool (announced by an L2AnnouncementPolicy) and an edge-free setup.
    pub async fn setup(&self) {
        k8s::namespace(&self.client, NS, json!({}))
            .await
            .expect("namespace");
        k8s::pool(&self.client, "lan", json!({"addresses": LAN_ADDRESSES}))
            .await
            .expect("pool lan");
        k8s::pool(
            &self.client,
            "quiet",
            json!({"addresses": ["198.51.100.240-198.51.100.249"], "autoAssign": false}),
        )
        .await
        .expect("pool quiet");
        self.l2("lan", json!({"ipPools": ["lan"]})).await;
        k8s::wait_pool(&self.client, "quiet", "observed", |p| {
            p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
        })
        .await
        .expect("pools observed");
    }

    /// Applies an L2AnnouncementPolicy.
    pub async fn l2(&self, name: &str, spec: Value) {
        let api: Api<ferrolb_api::L2AnnouncementPolicy> = Api::all(self.client.clone());
        let body = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
            "metadata": {"name": name}, "spec": spec});
        k8s::apply(&api, &body).await.expect("L2AnnouncementPolicy");
    }

    /// A pod of `app` on `node` answering on [`PORT`] (TCP and UDP).
    pub async fn pod(&self, name: &str, app: &str, node: &str, ready: bool) {
        self.pod_in(NS, name, app, node, ready).await;
    }

    /// [`Spk::pod`] in namespace `ns`.
    pub async fn pod_in(&self, ns: &str, name: &str, app: &str, node: &str, ready: bool) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let body = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app},
                "annotations": {ANN_READY: if ready { "true" } else { "false" }}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [{"name": "echo", "image": "echo",
                "ports": [{"containerPort": PORT, "protocol": "TCP"}, {"containerPort": PORT, "protocol": "UDP"}]}]}});
        k8s::apply(&api, &body).await.expect("pod");
    }

    /// Deletes a pod at once.
    pub async fn delete_pod(&self, name: &str) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let _ = api
            .delete(name, &DeleteParams::default().grace_period(0))
            .await;
    }

    /// A LoadBalancer Service of `app` on port 80 → [`PORT`], with `spec` merged in; waits for
    /// `n` addresses and returns them.
    pub async fn service(&self, name: &str, app: &str, spec: Value, n: usize) -> Vec<IpAddr> {
        let mut body = k8s::service_body(name, json!({}), spec);
        body["spec"]["selector"] = json!({"app": app});
        if body["spec"]["ports"][0].get("targetPort").is_none() {
            body["spec"]["ports"] =
                json!([{"name": "p80", "port": 80, "targetPort": PORT, "protocol": "TCP"}]);
        }
        k8s::apply_service(&self.client, NS, &body)
            .await
            .expect("service");
        let svc = k8s::wait_service(&self.client, NS, name, "addresses", |s| {
            k8s::ips(s).len() == n
        })
        .await
        .expect("allocated");
        k8s::ips(&svc)
            .iter()
            .map(|ip| ip.parse().expect("ip"))
            .collect()
    }

    /// Waits until the Service's `ServiceAnnouncement` names a node for `ip`; returns it.
    pub async fn announcer(&self, svc: &str, ip: IpAddr) -> String {
        self.announcer_not(svc, ip, "").await
    }

    /// Waits until the Service's `ServiceAnnouncement` names a node other than `not` for `ip`.
    pub async fn announcer_not(&self, svc: &str, ip: IpAddr, not: &str) -> String {
        let what = format!("{ip} announced (not by {not:?})");
        let ip = ip.to_string();
        let found = k8s::wait_announcement(&self.client, NS, svc, &what, WIRE, |s| {
            let a = s.announcements.into_iter().find(|a| a.ip == ip)?;
            (a.node != not).then_some(a.node)
        })
        .await;
        found.unwrap_or_else(|e| panic!("announcement: {e}\n{}", self.why_text(svc)))
    }

    /// `kubectl ferrolb why -n NS svc` from the client, its output and exit status: what a
    /// failed wait prints, so the lab's own diagnosis says why the address is not served.
    pub fn why_text(&self, svc: &str) -> String {
        match self.lab.ferrolb(&["why", "-n", NS, svc]) {
            Ok(out) => format!(
                "kubectl ferrolb why -n {NS} {svc} (exit {:?}):\n{}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("kubectl ferrolb why -n {NS} {svc} did not run: {e}"),
        }
    }

    /// The reason the Service's `ServiceAnnouncement` gives for a silent `ip`.
    pub async fn silent_reason(&self, svc: &str, ip: IpAddr) -> String {
        let what = format!("{ip} silent");
        let ip = ip.to_string();
        k8s::wait_announcement(&self.client, NS, svc, &what, WIRE, |s| {
            let s = s.silent.into_iter().find(|s| s.ip == ip)?;
            Some(s.reason)
        })
        .await
        .expect("silent")
    }

    /// Waits until the node the `ServiceAnnouncement` names for `ip` is the only one answering;
    /// returns it.
    pub async fn settled(&self, svc: &str, ip: IpAddr) -> String {
        let want = ip.to_string();
        let what = format!("{ip} settled");
        k8s::wait_announcement(&self.client, NS, svc, &what, WIRE, |s| {
            let a = s.announcements.into_iter().find(|a| a.ip == want)?;
            let mac = self.lab.mac(&a.node).ok()?;
            (self.answers(ip) == [mac]).then_some(a.node)
        })
        .await
        .expect("settled")
    }

    /// Waits until exactly `host`'s MAC answers for `ip` (ARP for IPv4, NDP for IPv6).
    pub async fn answered_by(&self, ip: IpAddr, host: &str) {
        let mac = self.lab.mac(host).expect("mac");
        let mac = &mac;
        wait_for(
            &format!("{ip} answered by {host} ({mac}) only"),
            WIRE,
            || async move { (self.answers(ip) == [mac.clone()]).then_some(()) },
        )
        .await
        .expect("answered");
    }

    /// Every MAC answering for `ip`, all answers counted over a window (ARP: 2 s, NDP: 1 s),
    /// so a second answering node shows.
    pub fn answers(&self, ip: IpAddr) -> Vec<String> {
        match ip {
            IpAddr::V4(_) => self.lab.arping("client", ip, 2).expect("arping"),
            IpAddr::V6(_) => self.lab.ndisc("client", ip).expect("ndisc6"),
        }
    }

    /// The node names whose MAC is in `macs`.
    pub fn nodes_of(&self, macs: &[String]) -> Vec<String> {
        ["node-a", "node-b", "node-c"]
            .into_iter()
            .filter(|n| self.lab.mac(n).is_ok_and(|m| macs.contains(&m)))
            .map(String::from)
            .collect()
    }

    /// The pods answering `n` TCP probes of `ip`:80 from the client (sorted, distinct).
    pub fn pods_via(&self, ip: IpAddr, n: usize) -> Vec<String> {
        let mut pods: Vec<String> = (0..n)
            .map(|_| {
                self.lab
                    .probe("client", "tcp", std::net::SocketAddr::new(ip, 80))
                    .expect("tcp through the VIP")
                    .pod
            })
            .collect();
        pods.sort();
        pods.dedup();
        pods
    }
}

/// The speaker component running on `node` (`node-a`, ...).
pub fn speaker_on(node: &str) -> Component {
    Component::Speaker(node.parse().expect("a lab node"))
}
