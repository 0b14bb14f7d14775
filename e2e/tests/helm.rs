//! ferrolb installed, upgraded and uninstalled with the Helm chart (charts/ferrolb) and the
//! pinned helm, on an IPv6-only lab of its own without kube-proxy (so `dataplane: nftables` and
//! every node has table `inet ferrolb`): nodes, Pods, Services and the control plane have no
//! IPv4 address, and every listener of ferrolb (the controllers' health and webhook — the
//! apiserver calls it —, the speakers' health API and private metrics) answers over IPv6; a
//! LoadBalancer Service gets an IPv6 address that exactly one node answers NDP for and that the
//! client reaches;
//! `helm upgrade` with other log levels rolls both workloads and keeps the addresses, the
//! answers and every node's table (checked every 200 ms throughout); `helm uninstall` runs the
//! pre-delete hook and leaves no webhook configuration, no table on any node, no hook
//! resource, and the Service, whose finalizer the hook removed, is deleted at once.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use ferrolb_e2e::lab::components::Binary;
use ferrolb_e2e::lab::plan::{CONTROL_PLANE, IpStack};
use ferrolb_e2e::lab::{COMPONENTS, KubeProxyMode};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::PostParams;
use serde_json::json;

use ferrolb_api::names::LOAD_BALANCER_CLEANUP_FINALIZER;
use ferrolb_e2e::lab::helm::RELEASE;
use ferrolb_e2e::lab::install::{self, Method, NAMESPACE, SPEAKER_DAEMONSET};
use ferrolb_e2e::lab::plan::NODES;
use ferrolb_e2e::testlab::{TestLab, build_binaries, repo_root};
use ferrolb_e2e::{Lab, demo, k8s, wait_for};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::{Api, Client};

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-lab");
/// The pre-delete hook's Job.
const HOOK_JOB: &str = "ferrolb-release-finalizers";
/// The namespace of the Service the webhook refuses.
const REFUSED_NS: &str = "refused";

fn step(s: &str) {
    eprintln!("--- {s}");
}

fn all_nodes() -> Vec<&'static str> {
    NODES.iter().map(|n| n.host.role).collect()
}

async fn service(client: &Client) -> Service {
    let api: Api<Service> = Api::namespaced(client.clone(), demo::NS);
    api.get(demo::NAME).await.expect("the example Service")
}

fn addresses(svc: &Service) -> Vec<String> {
    let mut ips = k8s::ips(svc);
    ips.sort();
    ips
}

/// `kubectl rollout status` of `what` in ferrolb's namespace, every node's table checked every
/// 200 ms meanwhile.
async fn rollout_keeping_tables(lab: &Lab, what: &str) {
    let mut status = lab.kubectl();
    status.args(["rollout", "status", "-n", NAMESPACE, what, "--timeout=180s"]);
    let rollout = tokio::task::spawn_blocking(move || status.output());
    let started = Instant::now();
    while !rollout.is_finished() {
        assert_eq!(
            lab.nodes_with_table(),
            all_nodes(),
            "a node lost table inet ferrolb during the rollout of {what} after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = rollout.await.unwrap().expect("kubectl rollout status");
    assert!(
        out.status.success(),
        "rollout of {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn helm_install_upgrade_uninstall() {
    build_binaries().expect("ferrolb's binaries");
    let lab = TestLab::start_in(BIN, KubeProxyMode::None, IpStack::Ipv6Only)
        .await
        .expect("an IPv6-only lab without kube-proxy");
    let repo = repo_root();
    let client = lab.client().await.expect("client");

    step("helm upgrade --install of charts/ferrolb (dataplane nftables)");
    lab.install_with(&repo, Method::Helm)
        .await
        .expect("ferrolb installed with helm");
    let listed = install::helm(&lab, &["list", "--namespace", NAMESPACE], &[]).unwrap();
    assert!(
        listed.contains(RELEASE) && listed.contains("deployed"),
        "{listed}"
    );

    ipv6_only(&lab, &client)
        .await
        .expect("an IPv6-only cluster");

    step("a LoadBalancer Service gets an IPv6 address, answered on the LAN by one node");
    let vips: Vec<IpAddr> = demo::example(&lab, &client).await.expect("the example");
    let (first, last): (IpAddr, IpAddr) = (
        "2001:db8:100::200".parse().unwrap(),
        "2001:db8:100::2ff".parse().unwrap(),
    );
    assert!(
        vips.len() == 1 && (first..=last).contains(&vips[0]),
        "one address from the pool's IPv6 range: {vips:?}"
    );
    let macs: Vec<String> = NODES.iter().map(|n| lab.mac(n.name()).unwrap()).collect();
    wait_for(
        &format!("{} answered by exactly one node", vips[0]),
        Duration::from_secs(15),
        || {
            let answers = lab.ndisc("client", vips[0]).unwrap_or_default();
            let one = answers.len() == 1 && macs.contains(&answers[0]);
            async move { one.then_some(()) }
        },
    )
    .await
    .unwrap();
    let before = addresses(&service(&client).await);
    assert!(!before.is_empty());
    wait_for(
        "table inet ferrolb on every node",
        Duration::from_secs(30),
        || async { (lab.nodes_with_table() == all_nodes()).then_some(()) },
    )
    .await
    .unwrap();

    step("helm upgrade with debug log levels: both workloads roll, addresses and tables stay");
    install::helm_upgrade(
        &lab,
        &repo,
        &[
            "controller.logLevel=debug".into(),
            "speaker.logLevel=debug".into(),
        ],
    )
    .expect("helm upgrade");
    rollout_keeping_tables(&lab, &format!("daemonset/{SPEAKER_DAEMONSET}")).await;
    rollout_keeping_tables(&lab, "deployment/ferrolb-controller").await;
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let args = ds
        .get(SPEAKER_DAEMONSET)
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .args
        .clone()
        .unwrap_or_default();
    assert!(args.contains(&"--log-level=debug".to_string()), "{args:?}");
    install::workloads_ready(&lab, Duration::from_secs(120))
        .await
        .expect("ready after the upgrade");
    assert_eq!(
        addresses(&service(&client).await),
        before,
        "the upgrade changed the Service's addresses"
    );
    demo::answered(&lab, &vips)
        .await
        .expect("answered after the upgrade");
    assert!(
        service(&client)
            .await
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&LOAD_BALANCER_CLEANUP_FINALIZER.to_string()),
        "the controller added its finalizer"
    );

    step("helm uninstall: the pre-delete hook runs, then everything goes");
    let started = Instant::now();
    install::helm(
        &lab,
        &[
            "uninstall",
            RELEASE,
            "--namespace",
            NAMESPACE,
            "--wait",
            "--timeout",
            "180s",
        ],
        &[],
    )
    .expect("helm uninstall");
    step(&format!(
        "helm uninstall returned after {:?}",
        started.elapsed()
    ));
    lab.wait_uninstalled(Duration::from_secs(30))
        .await
        .expect("no webhook configuration, no table");
    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    assert!(
        jobs.get_opt(HOOK_JOB).await.unwrap().is_none(),
        "the hook's Job outlived the uninstall"
    );
    let svc = service(&client).await;
    assert!(
        !svc.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&LOAD_BALANCER_CLEANUP_FINALIZER.to_string()),
        "the pre-delete hook left the finalizer"
    );

    step("the Service is deleted at once (no finalizer waits for a controller that is gone)");
    k8s::delete_service(&client, demo::NS, demo::NAME)
        .await
        .unwrap();
    let api: Api<Service> = Api::namespaced(client.clone(), demo::NS);
    wait_for("the Service gone", Duration::from_secs(15), || {
        let api = api.clone();
        async move { matches!(api.get_opt(demo::NAME).await, Ok(None)).then_some(()) }
    })
    .await
    .unwrap();
}

/// What makes the lab IPv6-only, seen from the API and the hosts: no IPv4 address on Nodes,
/// ferrolb's Pods, the `kubernetes` Service or any cluster host's interface. Then every
/// listener of the cluster's components answers over IPv6, and the apiserver calls the
/// webhook over IPv6.
async fn ipv6_only(lab: &Lab, client: &Client) -> anyhow::Result<()> {
    step("no IPv4 in the cluster: Nodes, Pods, the kubernetes Service, the hosts' interfaces");
    for node in Api::<Node>::all(client.clone())
        .list(&Default::default())
        .await?
    {
        let name = node.metadata.name.clone().unwrap_or_default();
        let addresses = node.status.and_then(|s| s.addresses).unwrap_or_default();
        all_v6(
            &format!("Node {name}"),
            addresses
                .iter()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.as_str()),
        )?;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "ferrolb-system");
    for pod in pods.list(&Default::default()).await? {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.unwrap_or_default();
        let ips = status.pod_ips.unwrap_or_default();
        all_v6(&format!("Pod {name}"), ips.iter().map(|p| p.ip.as_str()))?;
        let hosts = status.host_ips.unwrap_or_default();
        all_v6(
            &format!("Pod {name}'s host"),
            hosts.iter().map(|p| p.ip.as_str()),
        )?;
    }
    let kubernetes = Api::<Service>::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await?;
    let cluster_ips = kubernetes
        .spec
        .and_then(|s| s.cluster_ips)
        .unwrap_or_default();
    all_v6("Service kubernetes", cluster_ips.iter().map(String::as_str))?;
    for host in NODES.iter().map(|n| n.name()).chain([CONTROL_PLANE.role]) {
        let argv = ["ip", "-4", "-o", "addr", "show", "dev", "eth0"].map(String::from);
        let out = lab.exec(host, &argv)?.output()?;
        ensure!(out.status.success(), "ip -4 addr in {host}");
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(text.trim().is_empty(), "{host}'s eth0 has IPv4: {text}");
    }

    step("every listener of the cluster's components answers over IPv6");
    lab.controllers_serving(Duration::from_secs(60))
        .await
        .context("controllers ready and their webhook reached by the apiserver")?;
    for c in COMPONENTS
        .into_iter()
        .filter(|c| c.binary() != Binary::Edge)
    {
        let health = lab.health_addr(c)?;
        ensure!(health.is_ipv6(), "{c}'s health address {health}");
        let (code, body) = lab.http_get("client", health, c.ready_path())?;
        ensure!(code == 200, "{c} {health}{}: {code} {body}", c.ready_path());
        let (code, body) = lab.private_get(c, "/metrics").await?;
        ensure!(
            code == 200 && body.contains("build_info"),
            "{c}'s /metrics at {}: {code}",
            lab.private_addr(c)?
        );
    }

    step("the apiserver calls the webhook over IPv6: an externalIP no policy allows is refused");
    k8s::namespace(client, REFUSED_NS, json!({})).await?;
    let refused = "2001:db8:100::7:1";
    let mut body = k8s::service_body("outside", json!({}), json!({"type": "ClusterIP"}));
    body["spec"]["externalIPs"] = json!([refused]);
    let services: Api<Service> = Api::namespaced(client.clone(), REFUSED_NS);
    let created = services
        .create(&PostParams::default(), &serde_json::from_value(body)?)
        .await;
    let message = match created {
        Ok(_) => anyhow::bail!("a Service with externalIP {refused} was accepted"),
        Err(e) => e.to_string(),
    };
    ensure!(
        message.contains("denied the request") && message.contains(refused),
        "not the webhook's refusal: {message}"
    );

    Ok(())
}

/// `what`'s addresses `ips`: at least one, every one IPv6.
fn all_v6<'a>(what: &str, ips: impl IntoIterator<Item = &'a str>) -> anyhow::Result<()> {
    let ips: Vec<&str> = ips.into_iter().collect();
    ensure!(!ips.is_empty(), "{what}: no address");
    for ip in &ips {
        let parsed: IpAddr = ip.parse().with_context(|| format!("{what}: {ip:?}"))?;
        ensure!(
            parsed.is_ipv6(),
            "{what} has IPv4 address {ip} (all: {ips:?})"
        );
    }
    Ok(())
}
