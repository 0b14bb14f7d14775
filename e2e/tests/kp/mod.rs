//! Scenarios with the real kube-proxy on every node: Service delivery is kube-proxy's, ferrolb
//! only announces. Shared by the nftables and iptables binaries (`kubeproxy`,
//! `kubeproxy_iptables`); the Service helpers are the speaker scenarios' ([`crate::spk`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrolb_e2e::lab::kubeproxy;
use ferrolb_e2e::{Node, wait_for};
use serde_json::json;

use crate::spk::{Spk, step};

/// The client's address, as a backend sees it when the source is kept.
const CLIENT: &str = "198.51.100.100";

/// Whether `node` has table `family name` (`nft list table`).
pub fn has_table(s: &Spk<'_>, node: Node, family: &str, name: &str) -> bool {
    let argv: Vec<String> = ["nft", "list", "table", family, name]
        .into_iter()
        .map(String::from)
        .collect();
    s.lab
        .exec(node.name(), &argv)
        .expect("nft in the node")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The programs listening on TCP `port` in `node`'s namespace (`ss -ltnp`), sorted.
pub fn listeners(s: &Spk<'_>, node: Node, port: u16) -> Vec<String> {
    let argv: Vec<String> = ["ss", "-Hltnp", &format!("sport = :{port}")]
        .into_iter()
        .map(String::from)
        .collect();
    let out = s
        .lab
        .exec(node.name(), &argv)
        .expect("ss in the node")
        .output()
        .expect("ss ran");
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
    let argv: Vec<String> = ["nft", "list", "ruleset"]
        .into_iter()
        .map(String::from)
        .collect();
    let out = s
        .lab
        .exec(node.name(), &argv)
        .expect("nft in the node")
        .output()
        .expect("nft ran");
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
