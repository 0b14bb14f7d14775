//! The edge in the lab (issue 9): `ferrolb-edge` on the edge host, outside the cluster, under
//! deploy/'s ServiceAccount and RBAC and with deploy/edge's unit arguments. Edge Services get a
//! frontend from the edge pool; the client reaches their backends through it; only healthy
//! nodes get new connections (eTP=Local: nodes with a ready local endpoint; Cluster: nodes whose
//! speaker answers /healthz); TCP and UDP frontends come and go with their Services and leave
//! nothing on the edge host.
//!
//! One lab for the whole binary, started by the first scenario; each scenario is its own test,
//! takes its turn on the lab and starts from the same ground (every speaker running, the edge
//! pool, pods `shop-a` on node-a and `shop-b` on node-b, both ready), so any one runs alone
//! (`cargo test -p ferrolb-e2e --features root-tests --test edge -- cluster_frontend`).

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrolb_e2e::lab::SPEAKERS;
use ferrolb_e2e::lab::agent::ANN_READY;
use ferrolb_e2e::lab::plan::forwarded_by as via;
use ferrolb_e2e::testlab::{TestLab, Turn};
use ferrolb_e2e::{Component, Node, k8s, wait_for};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

const NS: &str = "shop";
const PORT: u16 = 9376;
/// Limit of every wait: health flips take one interval (1 s) plus one timeout (0.5 s).
const LIMIT: Duration = Duration::from_secs(20);

struct Edge<'a> {
    lab: &'a TestLab,
    client: Client,
}

fn step(s: &str) {
    eprintln!("--- {s}");
}

/// The Cluster Service's ports: TCP `tcp`, UDP 5353.
fn cluster_spec(tcp: u16) -> Value {
    json!({"ports": [{"name": "t", "port": tcp, "targetPort": PORT, "protocol": "TCP"},
                     {"name": "u", "port": 5353, "targetPort": PORT, "protocol": "UDP"}]})
}

/// The eTP=Local Service's spec.
fn local_spec() -> Value {
    json!({"externalTrafficPolicy": "Local",
        "ports": [{"name": "t", "port": 80, "targetPort": PORT, "protocol": "TCP"}]})
}

impl Edge<'_> {
    /// The scenarios on the lab of `turn`.
    fn of(turn: &Turn) -> Edge<'static> {
        Edge {
            lab: turn.lab,
            client: turn.client.clone(),
        }
    }

    /// The ground every scenario starts from, whatever ran (or failed) before: every speaker
    /// running and ready, the namespace, the edge pool, and pods `shop-a` on node-a and
    /// `shop-b` on node-b, both ready.
    async fn begin(&self) {
        self.lab
            .start_ready(&SPEAKERS, Duration::from_secs(60))
            .await
            .expect("every speaker running and ready");
        k8s::namespace(&self.client, NS, json!({}))
            .await
            .expect("namespace");
        let api: Api<ferrolb_api::VIPPool> = Api::all(self.client.clone());
        let pool = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
            "metadata": {"name": "edge", "labels": {"ferrolb.io/mode": "edge"}},
            "spec": {"addresses": ["198.51.100.150-198.51.100.159", "2001:db8:100::150-2001:db8:100::15f"]}});
        k8s::apply(&api, &pool).await.expect("edge pool");
        self.pod("shop-a", "node-a", true).await;
        self.pod("shop-b", "node-b", true).await;
    }

    async fn pod(&self, name: &str, node: &str, ready: bool) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let body = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "shop"},
                "annotations": {ANN_READY: if ready { "true" } else { "false" }}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "echo", "image": "echo", "ports": [
                    {"containerPort": PORT, "protocol": "TCP"},
                    {"containerPort": PORT, "protocol": "UDP"}]}]}});
        k8s::apply(&api, &body).await.expect("pod");
    }

    /// An edge Service of the `shop` pods with `spec` merged in; returns its frontend address.
    async fn service(&self, name: &str, spec: Value) -> IpAddr {
        let mut body = k8s::service_body(name, json!({"ferrolb.io/mode": "edge"}), spec);
        body["spec"]["selector"] = json!({"app": "shop"});
        k8s::apply_service(&self.client, NS, &body)
            .await
            .expect("service");
        let svc = k8s::wait_service(&self.client, NS, name, "a frontend", |s| {
            !k8s::ips(s).is_empty()
        })
        .await
        .expect("allocated");
        let ip: IpAddr = k8s::ips(&svc)[0].parse().expect("ip");
        let edge_range = 150..=159;
        assert!(
            matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == [198, 51, 100] && edge_range.contains(&v4.octets()[3])),
            "{name} got {ip}, not an edge frontend"
        );
        ip
    }

    /// The `ferrolb.io/EdgeServing` condition the edge wrote: (status, message).
    async fn serving(&self, name: &str) -> Option<(String, String)> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), NS);
        let svc = api.get_opt(name).await.ok().flatten()?;
        let c = svc
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "ferrolb.io/EdgeServing")?;
        Some((c.status, c.message))
    }

    /// One probe from the client: (pod, the address the pod saw).
    fn probe(&self, proto: &str, to: SocketAddr) -> Option<(String, IpAddr)> {
        self.lab
            .probe("client", proto, to)
            .ok()
            .map(|r| (r.pod, r.client))
    }

    /// `n` TCP probes through `to`; None if any failed.
    fn probes(&self, to: SocketAddr, n: usize) -> Option<Vec<(String, IpAddr)>> {
        (0..n).map(|_| self.probe("tcp", to)).collect()
    }

    /// Waits until `n` probes in a row all succeed and satisfy `ok`.
    async fn until(
        &self,
        what: &str,
        to: SocketAddr,
        n: usize,
        ok: impl Fn(&[(String, IpAddr)]) -> bool,
    ) {
        let ok = &ok;
        wait_for(what, LIMIT, || async move {
            let got = self.probes(to, n)?;
            ok(&got).then_some(())
        })
        .await
        .expect(what);
    }

    /// Addresses on the edge host's uplink inside the edge ranges.
    fn frontends_on_edge_host(&self) -> BTreeSet<String> {
        let argv = ["ip", "-o", "addr", "show", "dev", "eth0"].map(String::from);
        let out = self
            .lab
            .exec("edge", &argv)
            .expect("ip in the edge host")
            .output()
            .expect("running ip");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3))
            .filter(|a| a.starts_with("198.51.100.15") || a.starts_with("2001:db8:100::15"))
            .map(String::from)
            .collect()
    }

    async fn set_ready(&self, pod: &str, ready: bool) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let patch =
            json!({"metadata": {"annotations": {ANN_READY: if ready { "true" } else { "false" }}}});
        api.patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("pod readiness");
    }
}

// One test per scenario: takes its turn on the shared lab, lays the common ground and runs
// that scenario.
ferrolb_e2e::lab_scenarios!(Edge, begin: local_frontend, cluster_frontend, frontends_come_and_go);

impl Edge<'_> {
    async fn local_frontend(&self) {
        let e = self;
        step("eTP=Local: the frontend reaches the pods, only through nodes with a ready local one");
        let local = e.service("local", local_spec()).await;
        let to = SocketAddr::new(local, 80);
        // node-c has no pod: were it sent a connection, that connection would fail.
        e.until(
            "both pods through the frontend, no failure",
            to,
            16,
            |got| {
                let pods: BTreeSet<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
                pods == BTreeSet::from(["shop-a", "shop-b"])
            },
        )
        .await;
        let (status, message) = wait_for("the EdgeServing condition", LIMIT, || e.serving("local"))
            .await
            .expect("condition");
        assert_eq!(status, "True", "{message}");
        assert!(message.contains("2 of 3"), "{message}");

        step("eTP=Local: the last local pod of node-b goes unready, node-b gets no new connection");
        e.set_ready("shop-b", false).await;
        e.until("only shop-a answers", to, 16, |got| {
            got.iter().all(|(p, _)| p == "shop-a")
        })
        .await;
        e.set_ready("shop-b", true).await;
        e.until("shop-b back", to, 16, |got| {
            got.iter().any(|(p, _)| p == "shop-b")
        })
        .await;
    }

    async fn cluster_frontend(&self) {
        let (e, lab) = (self, self.lab);
        step("Cluster: a node whose speaker stops gets no new connection; it comes back");
        let cluster = e.service("cluster", cluster_spec(8080)).await;
        let to = SocketAddr::new(cluster, 8080);
        e.until("every node carries connections", to, 24, |got| {
            let nodes: BTreeSet<&str> = got.iter().filter_map(|(_, seen)| via(*seen)).collect();
            nodes.len() == 3
        })
        .await;
        lab.stop(Component::Speaker(Node::A))
            .expect("stopping node-a's speaker");
        e.until("node-a avoided", to, 16, |got| {
            got.iter()
                .all(|(_, seen)| via(*seen).is_some_and(|n| n != "node-a"))
        })
        .await;
        lab.start(Component::Speaker(Node::A))
            .expect("starting node-a's speaker");
        e.until("node-a back", to, 24, |got| {
            got.iter().any(|(_, seen)| via(*seen) == Some("node-a"))
        })
        .await;

        step("UDP through the frontend");
        let udp = SocketAddr::new(cluster, 5353);
        wait_for("a UDP answer through the frontend", LIMIT, || async move {
            e.probe("udp", udp)
        })
        .await
        .expect("udp");

        step("a changed port: the frontend follows");
        e.service("cluster", cluster_spec(8081)).await;
        let moved = SocketAddr::new(cluster, 8081);
        wait_for(
            "the new port answers and the old one no longer",
            LIMIT,
            || async move {
                (e.probe("tcp", moved).is_some() && e.probe("tcp", to).is_none()).then_some(())
            },
        )
        .await
        .expect("port changed");
    }

    async fn frontends_come_and_go(&self) {
        let e = self;
        let local = e.service("local", local_spec()).await;
        let cluster = e.service("cluster", cluster_spec(8081)).await;
        let moved = SocketAddr::new(cluster, 8081);
        step("frontends come and go with their Services; nothing is left on the edge host");
        let want: BTreeSet<String> = [local, cluster]
            .iter()
            .map(|ip| format!("{ip}/32"))
            .collect();
        let owned = wait_for("both frontends on the edge host", LIMIT, || async {
            let now = e.frontends_on_edge_host();
            (now == want).then_some(now)
        })
        .await
        .expect("frontends");
        assert_eq!(owned.len(), 2);
        for name in ["local", "cluster"] {
            k8s::delete_service(&e.client, NS, name)
                .await
                .expect("delete");
        }
        wait_for("no frontend left on the edge host", LIMIT, || async {
            e.frontends_on_edge_host().is_empty().then_some(())
        })
        .await
        .expect("frontends removed");
        assert!(e.probe("tcp", moved).is_none(), "{moved} still answers");
        let pods: Api<Pod> = Api::namespaced(e.client.clone(), NS);
        for p in ["shop-a", "shop-b"] {
            let _ = pods
                .delete(p, &DeleteParams::default().grace_period(0))
                .await;
        }
    }
}
