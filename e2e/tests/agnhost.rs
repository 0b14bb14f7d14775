//! agnhost Pods as the node agent runs them for the upstream e2e tests: the real agnhost
//! binary, the Pod's host name, readiness from the Pod's probe, hostNetwork on the node's
//! address, restarts, graceful termination with the Pod still serving, the exec map of the
//! kubelet exec servers. One lab of its own (no ferrolb installed, no kube-proxy): the client
//! reaches the Pods by their addresses.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use ferrolb_e2e::lab::plan::{CLIENT, NODES};
use ferrolb_e2e::lab::{agent, controlplane};
use ferrolb_e2e::testlab::TestLab;
use ferrolb_e2e::wait_for;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use tokio::net::UdpSocket;

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-lab");
const LIMIT: Duration = Duration::from_secs(60);
const IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.63.0";

fn step(s: &str) {
    eprintln!("--- {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn agnhost_pods() -> anyhow::Result<()> {
    ensure!(
        controlplane::bin("agnhost").is_file(),
        "{} is missing: build the lab's control plane",
        controlplane::bin("agnhost").display()
    );
    let lab = TestLab::start(BIN).await.context("starting the lab")?;
    let client = lab.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let t = T {
        lab: &lab,
        pods: pods.clone(),
    };
    t.netexec_answers_as_its_pod().await?;
    t.readiness_follows_the_probe().await?;
    t.host_network_on_the_nodes_address().await?;
    t.exited_container_restarts().await?;
    t.other_commands_are_refused().await?;
    t.serves_through_its_grace_period().await?;
    Ok(())
}

struct T<'a> {
    lab: &'a TestLab,
    pods: Api<Pod>,
}

/// The pod's first container status, once it has one.
fn status(p: &Pod) -> Option<ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()
        .cloned()
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

fn pod_ip(p: &Pod) -> IpAddr {
    p.status
        .as_ref()
        .unwrap()
        .pod_ip
        .as_ref()
        .unwrap()
        .parse()
        .unwrap()
}

/// One UDP exchange from the lab's client: `text` to `to`, the answer (none within 1 s, three
/// tries).
async fn udp(t: &T<'_>, to: SocketAddr, text: &'static str) -> anyhow::Result<String> {
    let ns = t.lab.names.netns("client");
    let task = ferrolb_testkit::task_in(&ns, move || async move {
        let s = UdpSocket::bind("0.0.0.0:0").await?;
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            s.send_to(text.as_bytes(), to).await?;
            if let Ok(got) = tokio::time::timeout(Duration::from_secs(1), s.recv(&mut buf)).await {
                return Ok(String::from_utf8_lossy(&buf[..got?]).into_owned());
            }
        }
        anyhow::bail!("no UDP answer from {to} to {text:?}")
    });
    ferrolb_testkit::join(&ns, task).await?
}

impl T<'_> {
    async fn create(&self, body: Value) -> anyhow::Result<()> {
        let pod: Pod = serde_json::from_value(body)?;
        self.pods.create(&PostParams::default(), &pod).await?;
        Ok(())
    }

    /// Waits until Pod `name` has a running container (ready or not); returns the Pod.
    async fn running(&self, name: &str) -> anyhow::Result<Pod> {
        Ok(wait_for(&format!("{name} running"), LIMIT, || async {
            let p = self.pods.get(name).await.ok()?;
            status(&p)?.state?.running.is_some().then_some(p)
        })
        .await?)
    }

    async fn ready(&self, name: &str) -> anyhow::Result<Pod> {
        Ok(wait_for(&format!("{name} Ready"), LIMIT, || async {
            let p = self.pods.get(name).await.ok()?;
            ready(&p).then_some(p)
        })
        .await?)
    }

    async fn get(&self, to: SocketAddr, path: &str) -> anyhow::Result<String> {
        let (code, body) = self.lab.http_get("client", to, path)?;
        ensure!(code == 200, "GET http://{to}{path}: {code} {body}");
        Ok(body)
    }

    /// GET `path` from the client answers 200 with exactly `want`.
    async fn expect(&self, to: SocketAddr, path: &str, want: &str) -> anyhow::Result<()> {
        let got = self.get(to, path).await?;
        ensure!(got == want, "GET http://{to}{path}: {got:?}, want {want:?}");
        Ok(())
    }

    async fn delete_and_wait(&self, name: &str) -> anyhow::Result<()> {
        self.pods.delete(name, &DeleteParams::default()).await?;
        wait_for(&format!("{name} gone"), LIMIT, || async {
            self.pods.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await?;
        Ok(())
    }

    /// The exec map's entry of Pod `name` in `default`, if any.
    fn exec_entry(&self, name: &str) -> Option<String> {
        let path = agent::kubelet_exec::entry_path(&self.lab.dir.join("exec"), "default", name);
        std::fs::read_to_string(path).ok()
    }

    /// Waits until Pod `name`'s exec map entry is gone (the agent removes it once the Pod's
    /// processes ended; a Pod deleted at once is gone from the API before that).
    async fn exec_entry_removed(&self, name: &str) -> anyhow::Result<()> {
        let what = format!("{name}'s exec map entry removed");
        wait_for(&what, Duration::from_secs(10), || async {
            self.exec_entry(name).is_none().then_some(())
        })
        .await?;
        Ok(())
    }

    /// A netexec Deployment as the upstream service jig makes it (HTTP and UDP on 80, a
    /// readiness probe on /hostName): each Pod answers /hostname and UDP `hostname` with its
    /// own name, /echo, /clientip with the client's address, and is in the exec map under its
    /// network namespace.
    async fn netexec_answers_as_its_pod(&self) -> anyhow::Result<()> {
        step("a netexec Deployment: every Pod ready through its readiness probe");
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "netexec"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "netexec"}},
                "template": {"metadata": {"labels": {"app": "netexec"}}, "spec": {
                    "terminationGracePeriodSeconds": 3,
                    "containers": [{"name": "netexec", "image": IMAGE,
                        "args": ["netexec", "--http-port=80", "--udp-port=80"],
                        "readinessProbe": {"httpGet": {"port": 80, "path": "/hostName"},
                            "periodSeconds": 1}}]}}},
        }))?;
        let deployments: Api<Deployment> =
            Api::namespaced(self.pods.clone().into_client(), "default");
        deployments.create(&PostParams::default(), &d).await?;
        let lp = ListParams::default().labels("app=netexec");
        let list = wait_for("2 netexec Pods Ready", LIMIT, || async {
            let l = self.pods.list(&lp).await.ok()?.items;
            (l.len() == 2 && l.iter().all(ready)).then_some(l)
        })
        .await?;
        for p in &list {
            let name = p.metadata.name.clone().unwrap_or_default();
            let ip = pod_ip(p);
            ensure!(
                ip.to_string().starts_with("192.0.2."),
                "{name}: a pod address {ip}"
            );
            let to = SocketAddr::new(ip, 80);
            step(&format!(
                "{name} at {to}: /hostname, /echo, /clientip, UDP hostname"
            ));
            self.expect(to, "/hostname", &name).await?;
            self.expect(to, "/echo?msg=lab-x", "lab-x").await?;
            let seen = self.get(to, "/clientip").await?;
            ensure!(
                seen.starts_with(&format!("{}:", CLIENT.v4)),
                "/clientip of {name}: {seen}"
            );
            let cond = p.status.as_ref().and_then(|s| s.conditions.as_ref());
            let cond = cond.and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
            ensure!(
                cond.is_some_and(|c| c.reason.is_none() && c.message.is_none()),
                "{name} is Ready without a not-ready reason: {cond:?}"
            );
            let host = udp(self, to, "hostname").await?;
            ensure!(host == name, "UDP hostname of {name}: {host:?}");
            let netns = p.metadata.annotations.as_ref().unwrap()[agent::ANN_NETNS].clone();
            ensure!(
                self.exec_entry(&name).as_deref() == Some(netns.as_str()),
                "exec map of {name}: {:?}, want {netns}",
                self.exec_entry(&name)
            );
        }
        deployments
            .delete("netexec", &DeleteParams::default())
            .await?;
        Ok(())
    }

    /// A readiness probe on a port nothing listens on keeps the Pod running and not Ready.
    async fn readiness_follows_the_probe(&self) -> anyhow::Result<()> {
        step("a readiness probe on a closed port: running, never Ready");
        self.create(json!({"metadata": {"name": "closed-probe"}, "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": IMAGE, "args": ["netexec", "--http-port=80"],
                "readinessProbe": {"tcpSocket": {"port": 81}, "periodSeconds": 1}}]}}))
            .await?;
        let p = self.running("closed-probe").await?;
        let to = SocketAddr::new(pod_ip(&p), 80);
        // Running is not yet listening: wait until it serves.
        let serving = wait_for("closed-probe serving", LIMIT, || async {
            let (code, body) = self.lab.http_get("client", to, "/hostname").ok()?;
            (code == 200).then_some(body)
        })
        .await?;
        ensure!(
            serving == "closed-probe",
            "/hostname of closed-probe: {serving:?}"
        );
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let p = self.pods.get("closed-probe").await?;
            ensure!(!ready(&p), "closed-probe became Ready: {:?}", p.status);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let events: Api<Event> = Api::namespaced(self.pods.clone().into_client(), "default");
        let lp = ListParams::default().fields("involvedObject.name=closed-probe");
        let said = events.list(&lp).await?.items.iter().any(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("Readiness probe failed"))
        });
        ensure!(said, "an Unhealthy event for the readiness probe");
        self.delete_and_wait("closed-probe").await
    }

    /// A hostNetwork Pod pinned to node-b: the node's addresses as its own, answering there,
    /// the node's name as its host name, the node's namespace in the exec map.
    async fn host_network_on_the_nodes_address(&self) -> anyhow::Result<()> {
        step("a hostNetwork netexec Pod on node-b answers on the node's address");
        let node = &NODES[1];
        self.create(json!({"metadata": {"name": "on-host"}, "spec": {
            "hostNetwork": true, "nodeName": node.name(), "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": IMAGE,
                "args": ["netexec", "--http-port=8085", "--udp-port=8085"],
                "readinessProbe": {"httpGet": {"port": 8085, "path": "/healthz"},
                    "periodSeconds": 1}}]}}))
            .await?;
        let p = self.ready("on-host").await?;
        let ips: Vec<String> = p
            .status
            .as_ref()
            .unwrap()
            .pod_ips
            .iter()
            .flatten()
            .map(|i| i.ip.clone())
            .collect();
        ensure!(
            ips == [node.host.v4.to_string(), node.host.v6.to_string()],
            "podIPs {ips:?}"
        );
        for ip in [IpAddr::from(node.host.v4), IpAddr::from(node.host.v6)] {
            let to = SocketAddr::new(ip, 8085);
            self.expect(to, "/hostname", node.name()).await?;
        }
        ensure!(
            self.exec_entry("on-host") == Some(self.lab.names.netns(node.name())),
            "exec map of on-host: {:?}",
            self.exec_entry("on-host")
        );
        self.delete_and_wait("on-host").await?;
        self.exec_entry_removed("on-host").await?;
        Ok(())
    }

    /// agnhost killed from outside: restarted at once, restartCount 1, ready again.
    async fn exited_container_restarts(&self) -> anyhow::Result<()> {
        step("a killed agnhost process is restarted, its restart counted");
        self.create(json!({"metadata": {"name": "crash"}, "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": IMAGE, "args": ["netexec", "--http-port=80"]}]}}))
            .await?;
        self.ready("crash").await?;
        let pid = self
            .lab
            .containers()?
            .into_iter()
            .find(|c| c.pod == "crash")
            .and_then(|c| c.pid)
            .context("crash's pid from the agent")?;
        ferrolb_e2e::lab::process::signal(pid, nix::sys::signal::Signal::SIGKILL);
        let s = wait_for("crash restarted", LIMIT, || async {
            let p = self.pods.get("crash").await.ok()?;
            let s = status(&p)?;
            (s.restart_count == 1 && ready(&p)).then_some(s)
        })
        .await?;
        let last = s
            .last_state
            .and_then(|l| l.terminated)
            .context("last state")?;
        ensure!(last.exit_code == 137, "killed: {last:?}");
        self.delete_and_wait("crash").await
    }

    /// A command other than agnhost is not run: the container waits with the reason.
    async fn other_commands_are_refused(&self) -> anyhow::Result<()> {
        step("a command other than agnhost: CreateContainerError naming it");
        self.create(json!({"metadata": {"name": "shell"}, "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": IMAGE, "command": ["/bin/sh", "-c", "sleep 1"]}]}}))
            .await?;
        let waiting = wait_for("shell waiting", LIMIT, || async {
            let p = self.pods.get("shell").await.ok()?;
            status(&p)?
                .state?
                .waiting
                .filter(|w| w.reason.as_deref() == Some("CreateContainerError"))
        })
        .await?;
        let msg = waiting.message.unwrap_or_default();
        ensure!(msg.contains("/bin/sh"), "{msg}");
        self.delete_and_wait("shell").await
    }

    /// netexec --delay-shutdown=5 with a grace period of 20 s, behind a Service: deleted, it
    /// keeps answering and stays a serving, terminating endpoint (its readiness probe still
    /// passes, as the kubelet keeps probing readiness during termination) while its /readyz
    /// says it got SIGTERM; it goes after about 5 s, well within its grace.
    async fn serves_through_its_grace_period(&self) -> anyhow::Result<()> {
        step("netexec --delay-shutdown=5: serving and terminating after deletion, then gone");
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "slow"},
            "spec": {"selector": {"app": "slow"}, "ports": [{"port": 80}]}}))?;
        let client = self.pods.clone().into_client();
        Api::<Service>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &svc)
            .await?;
        self.create(
            json!({"metadata": {"name": "slow", "labels": {"app": "slow"}}, "spec": {
            "terminationGracePeriodSeconds": 20,
            "containers": [{"name": "c", "image": IMAGE,
                "args": ["netexec", "--http-port=80", "--delay-shutdown=5"],
                "readinessProbe": {"httpGet": {"port": 80, "path": "/hostName"},
                    "periodSeconds": 1}}]}}),
        )
        .await?;
        let p = self.ready("slow").await?;
        let to = SocketAddr::new(pod_ip(&p), 80);
        self.pods.delete("slow", &DeleteParams::default()).await?;
        let deleted = Instant::now();
        let slices: Api<EndpointSlice> = Api::namespaced(client, "default");
        let lp = ListParams::default().labels("kubernetes.io/service-name=slow");
        wait_for(
            "slow serving and terminating in its slice",
            Duration::from_secs(4),
            || async {
                let list = slices.list(&lp).await.ok()?;
                let c = list
                    .items
                    .iter()
                    .flat_map(|s| s.endpoints.iter())
                    .find_map(|e| e.conditions.clone())?;
                (c.terminating == Some(true) && c.serving == Some(true)).then_some(())
            },
        )
        .await?;
        let (code, _) = self.lab.http_get("client", to, "/readyz")?;
        ensure!(code == 503, "/readyz after SIGTERM: {code}");
        self.expect(to, "/hostname", "slow").await?;
        ensure!(self.exec_entry("slow").is_some(), "still in the exec map");
        wait_for("slow gone", Duration::from_secs(30), || async {
            self.pods
                .get_opt("slow")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await?;
        let took = deleted.elapsed();
        ensure!(
            (Duration::from_secs(4)..Duration::from_secs(15)).contains(&took),
            "slow went {took:?} after deletion; netexec waits 5 s"
        );
        self.exec_entry_removed("slow").await?;
        Ok(())
    }
}
