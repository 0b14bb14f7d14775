//! Scenarios with the real kube-proxy on every node: Service delivery is kube-proxy's, ferrolb
//! only announces. Shared by the nftables and iptables binaries (`kubeproxy`,
//! `kubeproxy_iptables`); the Service helpers are the speaker scenarios' ([`crate::spk`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrolb_e2e::lab::kubeproxy;
use ferrolb_e2e::{Node, wait_for};
use serde_json::json;

use crate::spk::{Spk, step};

pub mod health_api;

/// The client's address, as a backend sees it when the source is kept.
const CLIENT: &str = "198.51.100.100";

/// Runs `argv` in `node`'s namespace; its output.
fn run_in(s: &Spk<'_>, node: Node, argv: &[&str]) -> std::process::Output {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    s.lab
        .exec(node.name(), &argv)
        .expect("a command in the node")
        .output()
        .unwrap_or_else(|e| panic!("{argv:?} in {node}: {e}"))
}

/// Whether `node` has table `family name` (`nft list table`).
pub fn has_table(s: &Spk<'_>, node: Node, family: &str, name: &str) -> bool {
    run_in(s, node, &["nft", "list", "table", family, name])
        .status
        .success()
}

/// The programs listening on TCP `port` in `node`'s namespace (`ss -ltnp`), sorted.
pub fn listeners(s: &Spk<'_>, node: Node, port: u16) -> Vec<String> {
    let out = run_in(s, node, &["ss", "-Hltnp", &format!("sport = :{port}")]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names: Vec<String> = text
        .split("((\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(String::from)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Every node's ruleset text.
fn ruleset(s: &Spk<'_>, node: Node) -> String {
    let out = run_in(s, node, &["nft", "list", "ruleset"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The healthCheckNodePort of Service `name` in the scenarios' namespace.
async fn health_check_node_port(s: &Spk<'_>, name: &str) -> u16 {
    let api: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(s.client.clone(), crate::spk::NS);
    let svc = api.get(name).await.expect("service");
    let port = svc
        .spec
        .and_then(|s| s.health_check_node_port)
        .expect("healthCheckNodePort");
    u16::try_from(port).expect("a port")
}

/// Waits until `node`'s port `port` answers `/` with `code`; returns the body.
async fn answers(s: &Spk<'_>, node: Node, port: u16, code: u16) -> String {
    let to = SocketAddr::new(node.host().v4.into(), port);
    let lab = s.lab;
    wait_for(
        &format!("{node}:{port} answers {code}"),
        Duration::from_secs(15),
        || async move {
            let (got, body) = lab.http_get("client", to, "/").ok()?;
            (got == code).then_some(body)
        },
    )
    .await
    .expect("health answer")
}

/// VIPs (IPv4 and IPv6) reach the backends through kube-proxy's rules; ferrolb's speakers
/// announce them and program nothing.
pub async fn vips_through_kube_proxy(s: &Spk<'_>, web: &[IpAddr], table: (&str, &str)) {
    step("both families of web's VIPs carry TCP through kube-proxy's rules");
    assert_eq!(web.len(), 2, "dual-stack: {web:?}");
    for &ip in web {
        let node = s.settled("web", ip).await;
        eprintln!("{ip} answered by {node}");
        let pods = s.pods_via(ip, 6);
        assert!(!pods.is_empty(), "{ip}: no backend answered");
    }
    step("kube-proxy holds the VIPs; no node has ferrolb's table");
    for node in Node::ALL {
        assert!(
            has_table(s, node, table.0, table.1),
            "{node}: kube-proxy's {table:?} is missing"
        );
        assert!(
            !has_table(s, node, "inet", "ferrolb"),
            "{node}: the speaker programs table inet ferrolb beside kube-proxy"
        );
        let rules = ruleset(s, node);
        for ip in web {
            assert!(
                rules.contains(&ip.to_string()),
                "{node}: {ip} not in kube-proxy's rules"
            );
        }
    }
}

/// eTP=Local through kube-proxy: the client's address reaches the pod; the healthCheckNodePort is
/// kube-proxy's alone and answers as kube-proxy does.
pub async fn local_through_kube_proxy(s: &Spk<'_>) {
    step("eTP=Local: kube-proxy delivers, the backend sees the client's own address");
    s.pod("loc-b", "loc", "node-b", true).await;
    let spec = json!({"externalTrafficPolicy": "Local"});
    let ip = s.service("loc", "loc", spec, 1).await[0];
    assert_eq!(s.announcer("loc", ip).await, "node-b");
    s.answered_by(ip, "node-b").await;
    let reply = s
        .lab
        .probe("client", "tcp", SocketAddr::new(ip, 80))
        .expect("tcp through the Local VIP");
    assert_eq!(reply.pod, "loc-b");
    assert_eq!(
        reply.client.to_string(),
        CLIENT,
        "Local keeps the client address"
    );

    step("the healthCheckNodePort: kube-proxy's answer, kube-proxy's listener only");
    let hc = health_check_node_port(s, "loc").await;
    let body = answers(s, Node::B, hc, 200).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("kube-proxy's JSON");
    assert_eq!(v["localEndpoints"], 1, "{body}");
    assert_eq!(v["service"]["name"], "loc", "{body}");
    answers(s, Node::A, hc, 503).await;
    for node in Node::ALL {
        assert_eq!(
            listeners(s, node, hc),
            ["kube-proxy"],
            "{node}: exactly kube-proxy binds healthCheckNodePort {hc}"
        );
        assert_eq!(
            listeners(s, node, kubeproxy::HEALTH_PORT),
            ["kube-proxy"],
            "{node}: kube-proxy holds its health port"
        );
    }
    s.delete_pod("loc-b").await;
}

/// The speaker DaemonSet's `--dataplane*` flags set to `flags`, rolled out by the real
/// DaemonSet controller ([`ferrolb_e2e::lab::install::speaker_dataplane`]).
pub async fn speaker_dataplane(s: &Spk<'_>, flags: &[&str]) {
    ferrolb_e2e::lab::install::speaker_dataplane(&s.client, flags, &[])
        .await
        .expect("the speaker DaemonSet rolled out with the flags");
}

/// Polls `check` every 100 ms for `window`; the first time it holds, with when.
async fn first_within(window: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < window {
        if check() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits up to `within` until exactly `program` listens on TCP `port` of `node`.
async fn owned_by(s: &Spk<'_>, node: Node, port: u16, program: &str, within: Duration) {
    let owned = first_within(within, || listeners(s, node, port) == [program]).await;
    assert!(
        owned.is_some(),
        "{node}:{port} not {program}'s alone: {:?}",
        listeners(s, node, port)
    );
}

/// A TCP probe of `ip`:80 from the client reaches a backend that sees the client's address.
fn source_kept(s: &Spk<'_>, ip: IpAddr, through: &str) {
    let reply = s
        .lab
        .probe("client", "tcp", SocketAddr::new(ip, 80))
        .unwrap_or_else(|e| panic!("tcp through {through}: {e}"));
    assert_eq!(reply.client.to_string(), CLIENT, "through {through}");
}

/// kube-proxy on node-a stopped and started at once (after `kube-proxy --cleanup` when
/// `cleanup`: its rules flushed and rewritten): table `inet ferrolb` never shows on node-a
/// within `window`, then kube-proxy is healthy again.
async fn restart_never_grabbed(s: &Spk<'_>, cleanup: bool, window: Duration) {
    kubeproxy::stop(s.lab, Node::A);
    if cleanup {
        kubeproxy::cleanup(s.lab, Node::A).expect("kube-proxy --cleanup");
    }
    kubeproxy::start(s.lab, Node::A).expect("kube-proxy started");
    let seen = first_within(window, || has_table(s, Node::A, "inet", "ferrolb")).await;
    assert_eq!(
        seen, None,
        "the speaker programmed node-a while kube-proxy restarted (cleanup: {cleanup})"
    );
    kubeproxy::wait_ready(s.lab, Node::A, Duration::from_secs(30))
        .await
        .expect("kube-proxy ready");
}

/// `--dataplane=auto` follows kube-proxy on node-a: kube-proxy stopped and cleaned up (a node
/// without it, or a speaker that started first) → the speaker programs the node after the
/// takeover delay and serves the healthCheckNodePorts; kube-proxy back → the speaker withdraws
/// within a few detection intervals and kube-proxy gets the ports; kube-proxy restarted, or
/// cleaned up and restarted at once (flush and rewrite) → the speaker never programs.
pub async fn auto_follows_kube_proxy(s: &Spk<'_>) {
    const DELAY: Duration = Duration::from_secs(3);
    step(
        "the speakers switch to --dataplane=auto (takeover delay 3 s) through a DaemonSet rollout",
    );
    speaker_dataplane(s, &["--dataplane=auto", "--dataplane-takeover-delay=3s"]).await;
    s.pod("loc-a", "loca", "node-a", true).await;
    let ip = s
        .service("loca", "loca", json!({"externalTrafficPolicy": "Local"}), 1)
        .await[0];
    let hc = health_check_node_port(s, "loca").await;
    let table = || has_table(s, Node::A, "inet", "ferrolb");
    assert!(
        !table(),
        "auto beside a running kube-proxy programs nothing"
    );

    step("kube-proxy restarted on node-a (its rules stay): the speaker never programs");
    restart_never_grabbed(s, false, DELAY * 2).await;
    step("kube-proxy's rules flushed and rewritten (cleanup, start at once): never both");
    restart_never_grabbed(s, true, DELAY * 2).await;

    step("kube-proxy gone from node-a: the speaker takes over after the delay");
    kubeproxy::stop(s.lab, Node::A);
    kubeproxy::cleanup(s.lab, Node::A).expect("kube-proxy --cleanup");
    let took = first_within(DELAY * 4, table).await;
    let took = took.expect("the speaker never programmed node-a without kube-proxy");
    eprintln!("took over after {took:?} (delay {DELAY:?})");
    assert!(
        took >= DELAY - Duration::from_millis(500),
        "before the delay: {took:?}"
    );
    owned_by(s, Node::A, hc, "ferrolb-speaker", Duration::from_secs(10)).await;
    source_kept(s, ip, "the speaker's rules");

    step("kube-proxy back on node-a: the speaker withdraws, kube-proxy gets the port");
    kubeproxy::start(s.lab, Node::A).expect("kube-proxy started");
    let gone = first_within(Duration::from_secs(10), || !table()).await;
    let gone = gone.expect("the speaker kept programming beside kube-proxy");
    eprintln!("withdrew {gone:?} after kube-proxy started");
    // kube-proxy tries a healthCheckNodePort it could not bind again only at its next sync: the
    // next change of a Service's or EndpointSlice's contents (or its hourly full sync). Its
    // first sync ran while the speaker still held the port; a new endpoint brings the next one.
    s.pod("loc-a2", "loca", "node-b", true).await;
    owned_by(s, Node::A, hc, "kube-proxy", Duration::from_secs(20)).await;
    source_kept(s, ip, "kube-proxy's rules");

    step("back to deploy/'s announce-only");
    s.delete_pod("loc-a").await;
    s.delete_pod("loc-a2").await;
    speaker_dataplane(s, &["--dataplane=announce-only"]).await;
}

/// `n` TCP probes of `to` from the client: (pod, the address it saw) each; None if one failed.
fn probes(s: &Spk<'_>, to: SocketAddr, n: usize) -> Option<Vec<(String, IpAddr)>> {
    (0..n)
        .map(|_| {
            s.lab
                .probe("client", "tcp", to)
                .ok()
                .map(|r| (r.pod, r.client))
        })
        .collect()
}

/// Waits until `n` probes of `to` in a row succeed and satisfy `ok`.
async fn until(
    s: &Spk<'_>,
    what: &str,
    to: SocketAddr,
    n: usize,
    ok: impl Fn(&[(String, IpAddr)]) -> bool,
) {
    let ok = &ok;
    let done = wait_for(what, Duration::from_secs(30), || async move {
        let got = probes(s, to, n)?;
        ok(&got).then_some(())
    })
    .await;
    if let Err(e) = done {
        let last: Vec<_> = (0..n).map(|_| s.lab.probe("client", "tcp", to)).collect();
        panic!("{e}; the last probes: {last:?}");
    }
}

/// An edge Service (`ferrolb.io/mode: edge`) of `app` with `spec` merged in; its frontend.
async fn edge_service(s: &Spk<'_>, name: &str, app: &str, spec: serde_json::Value) -> IpAddr {
    use ferrolb_e2e::k8s;
    let mut body = k8s::service_body(name, json!({"ferrolb.io/mode": "edge"}), spec);
    body["spec"]["selector"] = json!({"app": app});
    k8s::apply_service(&s.client, crate::spk::NS, &body)
        .await
        .expect("edge service");
    let svc = k8s::wait_service(&s.client, crate::spk::NS, name, "a frontend", |svc| {
        !k8s::ips(svc).is_empty()
    })
    .await
    .expect("a frontend");
    k8s::ips(&svc)[0].parse().expect("an address")
}

/// The edge, outside the cluster, probes kube-proxy's answers: Cluster Services through every
/// node whose kube-proxy `/healthz` (10256) is healthy, eTP=Local ones through the nodes whose
/// kube-proxy healthCheckNodePort reports a local endpoint.
pub async fn edge_probes_kube_proxy(s: &Spk<'_>) {
    use ferrolb_e2e::lab::plan::forwarded_by;
    use ferrolb_e2e::{Component, k8s};
    s.lab
        .start_ready(&[Component::Edge], Duration::from_secs(60))
        .await
        .expect("the edge ready");
    let api: kube::Api<ferrolb_api::VIPPool> = kube::Api::all(s.client.clone());
    let pool = json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
        "metadata": {"name": "edge", "labels": {"ferrolb.io/mode": "edge"}},
        "spec": {"addresses": ["198.51.100.150-198.51.100.159"]}});
    k8s::apply(&api, &pool).await.expect("edge pool");

    step("edge, eTP=Local: only nodes whose kube-proxy counts a local endpoint get connections");
    s.pod("shop-b", "shop", "node-b", true).await;
    let ports =
        json!([{"name": "t", "port": 80, "targetPort": crate::spk::PORT, "protocol": "TCP"}]);
    let local = edge_service(
        s,
        "shop-local",
        "shop",
        json!({"externalTrafficPolicy": "Local", "ports": ports}),
    )
    .await;
    until(
        s,
        "only shop-b through the Local frontend, no failure",
        SocketAddr::new(local, 80),
        12,
        |got| got.iter().all(|(pod, _)| pod == "shop-b"),
    )
    .await;

    step(
        "edge, Cluster: every node with a healthy kube-proxy, node-c left out while its kube-proxy is down",
    );
    let cluster = edge_service(s, "shop-cluster", "shop", json!({"ports": ports})).await;
    let to = SocketAddr::new(cluster, 80);
    let nodes = |got: &[(String, IpAddr)]| -> std::collections::BTreeSet<&'static str> {
        got.iter()
            .filter_map(|(_, seen)| forwarded_by(*seen))
            .collect()
    };
    until(s, "every node carries connections", to, 24, |got| {
        nodes(got).len() == 3
    })
    .await;
    kubeproxy::stop(s.lab, Node::C);
    until(s, "node-c avoided", to, 16, |got| {
        !nodes(got).contains("node-c")
    })
    .await;
    kubeproxy::start(s.lab, Node::C).expect("kube-proxy on node-c");
    until(s, "node-c back", to, 24, |got| {
        nodes(got).contains("node-c")
    })
    .await;

    for name in ["shop-local", "shop-cluster"] {
        k8s::delete_service(&s.client, crate::spk::NS, name)
            .await
            .expect("delete");
    }
    s.delete_pod("shop-b").await;
}

/// IPv6 failover beside kube-proxy: the speaker answering NDP for `ip` is killed, another node
/// answers and TCP flows through kube-proxy there.
pub async fn kill_announcer_v6(s: &Spk<'_>, ip: IpAddr) {
    step("IPv6: the announcing speaker is killed, another node answers NDP, TCP flows");
    let old = s.settled("web", ip).await;
    let speaker = crate::spk::speaker_on(&old);
    s.lab.kill(speaker).expect("kill");
    let started = std::time::Instant::now();
    let old_mac = s.lab.mac(&old).expect("mac");
    let old_mac = &old_mac;
    let macs = wait_for(
        &format!("{ip} answered by a node other than {old}"),
        Duration::from_secs(15),
        || async move {
            let macs = s.answers(ip);
            (!macs.is_empty() && !macs.contains(old_mac)).then_some(macs)
        },
    )
    .await
    .expect("failover");
    eprintln!(
        "SIGKILL {old}: {:?} answer after {:?}",
        s.nodes_of(&macs),
        started.elapsed()
    );
    assert_eq!(s.nodes_of(&macs).len(), 1, "one node answers: {macs:?}");
    assert!(!s.pods_via(ip, 3).is_empty());
    s.lab
        .start_ready(&[speaker], Duration::from_secs(60))
        .await
        .expect("restarted");
}
