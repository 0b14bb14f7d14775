//! Who may announce, as the operator configures it: an L2AnnouncementPolicy's `serviceSelector` and
//! `interfaces`, and the well-known exclude label on a Node; each silence says why in the
//! `ServiceAnnouncement`, and nobody answers meanwhile.

use std::net::IpAddr;

use ferrolb_api::names::LABEL_EXCLUDE_FROM_LB;
use ferrolb_e2e::lab::topology::UPLINK;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{NS, Spk, step};

impl Spk<'_> {
    async fn label_service(&self, name: &str, value: Option<&str>) {
        let api: Api<Service> = Api::namespaced(self.client.clone(), NS);
        let patch = json!({"metadata": {"labels": {"announce": value}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("labelling the Service");
    }

    async fn exclude_node(&self, node: &str, excluded: bool) {
        let api: Api<Node> = Api::all(self.client.clone());
        let value = excluded.then_some("true");
        let patch = json!({"metadata": {"labels": {LABEL_EXCLUDE_FROM_LB: value}}});
        api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("labelling the Node");
    }

    /// Waits until nobody answers for `ip` (the announcer stopped at once).
    async fn unanswered(&self, ip: IpAddr) {
        ferrolb_e2e::wait_for(&format!("{ip} unanswered"), super::WIRE, || async move {
            self.answers(ip).is_empty().then_some(())
        })
        .await
        .expect("nobody answers");
    }

    /// `ip` is the Service `web`'s address, announced.
    pub async fn policy(&self, ip: IpAddr) {
        step("serviceSelector: a Service it does not select goes silent, and says why");
        let selector = json!({"matchLabels": {"announce": "yes"}});
        self.l2(
            "lan",
            json!({"ipPools": ["lan"], "serviceSelector": selector}),
        )
        .await;
        let reason = self.silent_reason("web", ip).await;
        assert!(
            reason.contains("serviceSelector"),
            "silent reason: {reason}"
        );
        self.unanswered(ip).await;
        self.label_service("web", Some("yes")).await;
        let node = self.announcer("web", ip).await;
        self.answered_by(ip, &node).await;
        self.l2("lan", json!({"ipPools": ["lan"]})).await;
        self.label_service("web", None).await;

        step("interfaces: only matching interfaces answer; none matching → silent");
        self.l2(
            "lan",
            json!({"ipPools": ["lan"], "interfaces": ["nomatch*"]}),
        )
        .await;
        let reason = self.silent_reason("web", ip).await;
        assert!(
            reason.contains("no usable interface"),
            "silent reason: {reason}"
        );
        self.unanswered(ip).await;
        self.l2(
            "lan",
            json!({"ipPools": ["lan"], "interfaces": [format!("{}*", &UPLINK[..2])]}),
        )
        .await;
        let node = self.settled("web", ip).await;
        self.l2("lan", json!({"ipPools": ["lan"]})).await;

        step("the exclude-from-external-load-balancers label moves the VIP off a node");
        self.exclude_node(&node, true).await;
        let other = self.announcer_not("web", ip, &node).await;
        self.answered_by(ip, &other).await;
        self.exclude_node(&node, false).await;
        // Rendezvous hashing: the VIP goes back to the node that wins it.
        let back = self.announcer_not("web", ip, &other).await;
        assert_eq!(back, node, "the highest-scoring node wins again");
        assert_eq!(self.settled("web", ip).await, node);
    }
}
