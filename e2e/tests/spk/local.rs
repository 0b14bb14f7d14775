//! `externalTrafficPolicy: Local`: only nodes with a ready local endpoint are elected; the VIP
//! follows the endpoints; no endpoints anywhere → nobody answers.

use serde_json::json;

use super::{Spk, step};

impl Spk<'_> {
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

        step("eTP=Local: the last local pod goes unready, the VIP moves to the node that has one");
        self.pod("loc-c", "loc", "node-c", true).await;
        self.pod("loc-b", "loc", "node-b", false).await;
        let node = self.announcer_not("loc", ip, "node-b").await;
        assert_eq!(node, "node-c");
        self.answered_by(ip, "node-c").await;

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
