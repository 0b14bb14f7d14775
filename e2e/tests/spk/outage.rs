//! An apiserver outage of at least two re-announce periods, with the announcing speaker killed
//! and restarted during it: the others take over and keep its VIPs (the restarted speaker stays
//! out of the gossip until its watches sync), the restarted node keeps its table and answers
//! its health API as before, every VIP answers from exactly one node and TCP flows throughout;
//! after the apiserver is back, everything converges and the controller leads again.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Parser;
use ferrolb_e2e::lab::install::SPEAKER_HEALTH_PORT;
use ferrolb_e2e::lab::{controlplane, plan, process};
use serde_json::{Value, json};

use super::{NS, Spk, WIRE, speaker_on, step};

/// The Service whose healthCheckNodePort the restarted node must keep serving.
const LOCAL: &str = "kept";

/// The speakers' re-announce period: `--reannounce` as deploy/ leaves it (it does not set it).
fn reannounce() -> Duration {
    ferrolb_speaker::daemon::Args::try_parse_from(["ferrolb-speaker", "--node-name=node-a"])
        .expect("the speaker's defaults")
        .reannounce
}

/// How long the apiserver stays down: two re-announce periods and a little more.
fn outage() -> Duration {
    2 * reannounce() + Duration::from_secs(2)
}

/// One health answer with its times taken out (they move on every request).
fn timeless(code: u16, body: &str) -> (u16, Value) {
    let mut value: Value = serde_json::from_str(body).unwrap_or(json!(body));
    strip_times(&mut value);
    (code, value)
}

fn strip_times(v: &mut Value) {
    if let Value::Object(map) = v {
        map.remove("currentTime");
        map.remove("lastUpdated");
        map.values_mut().for_each(strip_times);
    }
}

impl Spk<'_> {
    /// `node`'s answers to a load balancer: `/healthz`, `/services/web/kept` and
    /// `kept`'s healthCheckNodePort.
    fn health_view(&self, node: &str, hc: u16) -> Vec<(u16, Value)> {
        let ip = plan::node(node).expect("node").host.v4;
        [
            (SPEAKER_HEALTH_PORT, "/healthz"),
            (SPEAKER_HEALTH_PORT, "/services/web/kept"),
            (hc, "/"),
        ]
        .into_iter()
        .map(|(port, path)| {
            let to = SocketAddr::new(ip.into(), port);
            let (code, body) = self
                .lab
                .http_get("client", to, path)
                .expect("health answer");
            timeless(code, &body)
        })
        .collect()
    }

    /// `nft list table inet ferrolb` in `node` (empty when there is none).
    fn table(&self, node: &str) -> String {
        let argv = ["nft", "list", "table", "inet", "ferrolb"].map(String::from);
        let out = self
            .lab
            .exec(node, &argv)
            .expect("nft in the node")
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Each VIP answered by exactly one node other than `not` (all answers counted), and TCP
    /// through it.
    fn one_node_each(&self, vips: &[IpAddr], not: &str) {
        let not_mac = self.lab.mac(not).expect("mac");
        for &ip in vips {
            let macs = self.answers(ip);
            assert!(
                macs.len() == 1 && macs[0] != not_mac,
                "{ip}: answered by {macs:?} (one node other than {not} ({not_mac}) expected)"
            );
            assert!(!self.pods_via(ip, 1).is_empty(), "TCP through {ip}");
        }
    }

    pub async fn apiserver_outage(&self, ip: IpAddr) {
        step(
            "apiserver outage of two re-announce periods; the announcing speaker restarted during it",
        );
        let (kept, hc) = self.local_service().await;
        let vips = [ip, kept];
        let old = self.settled("web", ip).await;
        self.settled(LOCAL, kept).await;
        let table = self.table(&old);
        assert!(
            table.contains(&ip.to_string()),
            "{old}'s table serves {ip}:\n{table}"
        );
        let health = self.health_view(&old, hc);
        assert_eq!(
            health[2].0, 200,
            "{old} has a local endpoint of {LOCAL}: {health:?}"
        );

        let down = Instant::now();
        let pids = process::find(&self.lab.names.lab, Some("kube-apiserver"));
        assert!(!pids.is_empty(), "no kube-apiserver process to stop");
        process::stop(&pids, Duration::from_secs(10));
        assert!(
            process::find(&self.lab.names.lab, Some("kube-apiserver")).is_empty(),
            "stopped"
        );
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(self.client.clone());
        let refused = api.get(NS).await.expect_err("the apiserver still answers");
        eprintln!("apiserver down: {refused}");

        self.lab.kill(speaker_on(&old)).expect("kill");
        let (new, took) = self.moved_from(ip, &old).await;
        eprintln!("apiserver down, SIGKILL {old}: {new} answers after {took:?}");
        self.lab
            .start(speaker_on(&old))
            .expect("restart during the outage");
        self.lab
            .wait_ready(speaker_on(&old), WIRE)
            .await
            .expect("the restarted speaker's /healthz answers 200 without the apiserver");
        let mut rounds = 0;
        while down.elapsed() < outage() {
            rounds += 1;
            self.one_node_each(&vips, &old);
            assert_eq!(
                self.table(&old),
                table,
                "{old}'s table changed during the outage (round {rounds})"
            );
            assert_eq!(
                self.health_view(&old, hc),
                health,
                "{old}'s health answers changed (round {rounds})"
            );
        }
        let lasted = down.elapsed();
        assert!(
            lasted >= 2 * reannounce(),
            "the outage lasted {lasted:?}, less than two re-announce periods ({:?})",
            reannounce()
        );
        assert!(
            api.get(NS).await.is_err(),
            "the apiserver came back during the outage"
        );
        eprintln!("apiserver down {lasted:?}, {rounds} rounds of checks");

        step("apiserver back: the restarted speaker syncs and joins, every VIP settles");
        controlplane::start(self.lab, &["kube-apiserver"]).expect("apiserver back");
        self.lab
            .wait_ready(speaker_on(&old), Duration::from_secs(60))
            .await
            .expect("ready");
        self.watches_recovered().await;
        self.settled("web", ip).await;
        self.settled(LOCAL, kept).await;
        for &vip in &vips {
            assert!(!self.pods_via(vip, 3).is_empty(), "TCP through {vip}");
        }
        assert_eq!(
            self.health_view(&old, hc),
            health,
            "{old}'s health answers after the sync"
        );
        // The controller leads again: a Service created now gets its address (no replica led
        // after an outage longer than the lease, once).
        let started = Instant::now();
        let fresh = self.service("after-outage", "web", json!({}), 1).await;
        eprintln!(
            "a Service created after the outage: {fresh:?} after {:?}",
            started.elapsed()
        );
        for name in [LOCAL, "after-outage"] {
            ferrolb_e2e::k8s::delete_service(&self.client, NS, name)
                .await
                .expect("delete");
        }
    }

    /// Waits until no speaker lists a failing watch in `/debug/state`. After the outage their
    /// watches retry with backoff, at most 16 s apart (`ferrolb_adapter::reflect`'s
    /// `WATCH_BACKOFF_MAX` and its jitter), and one that failed and went silent is made again
    /// after `WATCH_STALL` (30 s). `failingWatches` is read when the document is printed: made
    /// at the speaker's last step, it went on listing a `ServiceAnnouncement` watch that had
    /// recovered since, whose recovery woke no step (one run in three failed so, stops 42–44).
    async fn watches_recovered(&self) {
        let started = Instant::now();
        let mut failing = Vec::new();
        while started.elapsed() < Duration::from_secs(90) {
            failing.clear();
            for n in plan::NODES {
                // The apiserver just came back: its reviews of the scraper may fail a while.
                let state: Value = match self
                    .lab
                    .private_get(speaker_on(n.name()), "/debug/state")
                    .await
                {
                    Ok((200, body)) => serde_json::from_str(&body).expect("/debug/state is JSON"),
                    other => {
                        failing.push(format!("{}: /debug/state: {other:?}", n.name()));
                        continue;
                    }
                };
                let watches = &state["observed"]["failingWatches"];
                // A speaker that has not synced yet serves a placeholder without them.
                if !watches.as_array().is_some_and(Vec::is_empty) {
                    failing.push(format!("{}: {}", n.name(), state["observed"]));
                }
            }
            if failing.is_empty() {
                eprintln!(
                    "every speaker's watches recovered {:?} after the apiserver came back",
                    started.elapsed()
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("watches still failing 90 s after the outage: {failing:?}");
    }

    /// Service `kept`: eTP=Local over `web`'s pods (one on each node); its address and
    /// healthCheckNodePort.
    async fn local_service(&self) -> (IpAddr, u16) {
        let spec = json!({"externalTrafficPolicy": "Local"});
        let vip = self.service(LOCAL, "web", spec, 1).await[0];
        let api: kube::Api<k8s_openapi::api::core::v1::Service> =
            kube::Api::namespaced(self.client.clone(), NS);
        let svc = api.get(LOCAL).await.expect("service kept");
        let hc = svc
            .spec
            .and_then(|s| s.health_check_node_port)
            .expect("healthCheckNodePort");
        (vip, u16::try_from(hc).expect("port"))
    }
}
