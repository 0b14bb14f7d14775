//! `externalTrafficPolicy: Local`: only nodes with a ready local endpoint are elected; the VIP
//! follows the endpoints; no endpoints anywhere → nobody answers.

use serde_json::json;

use super::{Spk, step};

impl Spk<'_> {
    /// Waits until both the path API (`/services/web/loc` on the health port) and the
    /// Service's healthCheckNodePort on `node` answer `code`, as a cloud load balancer sees them.
    async fn health(&self, node: &str, code: u16) {
        let api: kube::Api<k8s_openapi::api::core::v1::Service> =
            kube::Api::namespaced(self.client.clone(), super::NS);
        let svc = api.get("loc").await.expect("service loc");
        let hc = svc
            .spec
            .and_then(|s| s.health_check_node_port)
            .expect("healthCheckNodePort");
        let hc = u16::try_from(hc).expect("port");
        let ip = ferrolb_e2e::lab::plan::node(node).expect("node").host.v4;
        let lab = self.lab;
        let checks = [
            (
                ferrolb_e2e::lab::install::SPEAKER_HEALTH_PORT,
                "/services/web/loc",
            ),
            (hc, "/"),
        ];
        for (port, path) in checks {
            let to = std::net::SocketAddr::new(ip.into(), port);
            ferrolb_e2e::wait_for(
                &format!("{node}:{port}{path} answers {code}"),
                super::WIRE,
                || async move {
                    let (got, body) = lab.http_get("client", to, path).ok()?;
                    (got == code).then_some(body)
                },
            )
            .await
            .expect("health answer");
        }
    }

    pub async fn local(&self) {
        step("eTP=Local: the VIP is answered by the node with the ready local endpoint");
        self.pod("loc-b", "loc", "node-b", true).await;
        let spec = json!({"externalTrafficPolicy": "Local"});
        let ip = self.service("loc", "loc", spec, 1).await[0];
        let node = self.announcer("loc", ip).await;
        assert_eq!(node, "node-b");
        self.answered_by(ip, "node-b").await;
        let reply = self
            .lab
            .probe("client", "tcp", std::net::SocketAddr::new(ip, 80))
            .expect("tcp through the Local VIP");
        assert_eq!(
            reply.client.to_string(),
            "198.51.100.100",
            "Local keeps the client address"
        );

        step("eTP=Local: hairpin, the local endpoint reaches its own Service through the VIP");
        // No masquerade mark on Local traffic: only the hairpin rule of nat_postrouting makes
        // the endpoint's reply to itself go back through the node's DNAT.
        let hairpin = self
            .lab
            .probe("web/loc-b", "tcp", std::net::SocketAddr::new(ip, 80));
        assert!(hairpin.is_ok(), "loc-b through its own VIP: {hairpin:?}");

        step("eTP=Local: the last local pod goes unready, the VIP moves to the node that has one");
        self.pod("loc-c", "loc", "node-c", true).await;
        self.pod("loc-b", "loc", "node-b", false).await;
        let node = self.announcer_not("loc", ip, "node-b").await;
        assert_eq!(node, "node-c");
        self.answered_by(ip, "node-c").await;
        self.health("node-b", 503).await;
        self.health("node-c", 200).await;

        step("eTP=Local: no endpoint anywhere, nobody answers");
        self.delete_pod("loc-b").await;
        self.delete_pod("loc-c").await;
        let reason = self.silent_reason("loc", ip).await;
        eprintln!("silent: {reason}");
        let lab = self.lab;
        ferrolb_e2e::wait_for(&format!("{ip} unanswered"), super::WIRE, || async move {
            lab.arping("client", ip, 1).ok().filter(|m| m.is_empty())
        })
        .await
        .expect("no answer without endpoints");
    }
}
