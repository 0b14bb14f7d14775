//! An IPv6-only cluster: nodes, Pods, Services and the control plane without any IPv4 address.
//! ferrolb installs and becomes ready there (the lab waits for every component's health answer
//! from the client), every listener answers over IPv6 (the controllers' health and webhook —
//! the apiserver calls it —, the speakers' health API and private metrics), and a LoadBalancer
//! Service gets an IPv6 address that exactly one node answers NDP for and that the client
//! reaches over TCP through the speakers' rules.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, ensure};
use ferrolb_e2e::lab::components::Binary;
use ferrolb_e2e::lab::plan::{CONTROL_PLANE, IpStack, NODES};
use ferrolb_e2e::lab::{COMPONENTS, KubeProxyMode};
use ferrolb_e2e::testlab::{TestLab, build_binaries, repo_root};
use ferrolb_e2e::{k8s, wait_for};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, PostParams};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-lab");
const NS: &str = "web";
const PORT: u16 = 9376;
const WIRE: Duration = Duration::from_secs(15);

fn step(s: &str) {
    eprintln!("--- {s}");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
async fn ipv6_only_cluster() -> anyhow::Result<()> {
    build_binaries()?;
    let lab = TestLab::start_in(BIN, KubeProxyMode::None, IpStack::Ipv6Only)
        .await
        .context("starting an IPv6-only lab")?;
    step("ferrolb installs and every component answers its health check over IPv6");
    lab.install(&repo_root())
        .await
        .context("installing ferrolb")?;
    let client = lab.client().await?;

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
    k8s::namespace(&client, NS, json!({})).await?;
    let refused = "2001:db8:100::7:1";
    let mut body = k8s::service_body("outside", json!({}), json!({"type": "ClusterIP"}));
    body["spec"]["externalIPs"] = json!([refused]);
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
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

    step("a LoadBalancer Service gets an IPv6 address, answered by one node, reached over TCP");
    k8s::pool(
        &client,
        "lan",
        json!({"addresses": ["198.51.100.200-198.51.100.239", "2001:db8:100::200-2001:db8:100::2ff"]}),
    )
    .await?;
    let l2: Api<ferrolb_api::L2AnnouncementPolicy> = Api::all(client.clone());
    k8s::apply(
        &l2,
        &json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
            "metadata": {"name": "lan"}, "spec": {"ipPools": ["lan"]}}),
    )
    .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for node in NODES {
        let name = format!("web-{}", node.name());
        k8s::apply(
            &pods,
            &json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"}},
                "spec": {"nodeName": node.name(), "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "echo", "image": "echo",
                        "ports": [{"containerPort": PORT, "protocol": "TCP"}]}]}}),
        )
        .await?;
    }
    let mut body = k8s::service_body("web", json!({}), json!({}));
    body["spec"]["selector"] = json!({"app": "web"});
    body["spec"]["ports"] =
        json!([{"name": "p80", "port": 80, "targetPort": PORT, "protocol": "TCP"}]);
    k8s::apply_service(&client, NS, &body).await?;
    let svc = k8s::wait_service(&client, NS, "web", "an address", |s| {
        !k8s::ips(s).is_empty()
    })
    .await?;
    let ips = k8s::ips(&svc);
    ensure!(
        ips.len() == 1,
        "one address for a single-stack Service: {ips:?}"
    );
    let vip: IpAddr = ips[0].parse()?;
    let (first, last): (IpAddr, IpAddr) =
        ("2001:db8:100::200".parse()?, "2001:db8:100::2ff".parse()?);
    ensure!(
        (first..=last).contains(&vip),
        "{vip} is not from pool lan's IPv6 range"
    );
    let macs: Vec<String> = NODES
        .iter()
        .map(|n| lab.mac(n.name()))
        .collect::<Result<_, _>>()?;
    let answering = wait_for(&format!("{vip} answered by exactly one node"), WIRE, || {
        let answers = lab.ndisc("client", vip).unwrap_or_default();
        let one = answers.len() == 1 && macs.contains(&answers[0]);
        async move { one.then_some(answers) }
    })
    .await?;
    let to = SocketAddr::new(vip, 80);
    let reply = wait_for(&format!("TCP to {to} from the client"), WIRE, || {
        let reply = lab.probe("client", "tcp", to).ok();
        async move { reply }
    })
    .await?;
    ensure!(
        reply.pod.starts_with("web-"),
        "answered by {reply:?}, NDP by {answering:?}"
    );

    step("lab down");
    lab.down()?;
    Ok(())
}
