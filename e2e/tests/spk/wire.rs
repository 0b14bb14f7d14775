//! What the client sees on the wire: the elected node answers ARP and NDP for each VIP, TCP
//! reaches the backends through it, and nothing else is answered.

use std::net::IpAddr;

use ferrolb_e2e::k8s;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{NS, Spk, step};

impl Spk<'_> {
    /// A dual-stack Cluster Service with one pod per node: answered by the node the
    /// `ServiceAnnouncement` names, over ARP and NDP, by that node only; TCP over both
    /// families reaches several pods.
    pub async fn announce(&self) -> Vec<IpAddr> {
        step("a dual-stack VIP is answered by the elected node only, and TCP reaches the pods");
        let ips = self.web().await;
        for ip in &ips {
            let node = self.announcer("web", *ip).await;
            self.answered_by(*ip, &node).await;
            let pods = self.pods_via(*ip, 12);
            assert!(
                pods.len() >= 2,
                "12 connections to {ip} reached only {pods:?}"
            );
            eprintln!("{ip}: answered by {node}; pods {pods:?}");
        }
        ips
    }

    /// A status address written by someone else (a Service of another class) and a pool no
    /// L2AnnouncementPolicy covers are never answered; the reason is recorded.
    pub async fn never_answered(&self) {
        step("forged status and uncovered pools are never answered");
        let forged: IpAddr = "198.51.100.238".parse().expect("ip");
        let body = k8s::service_body(
            "forged",
            json!({}),
            json!({"loadBalancerClass": "other.example/lb"}),
        );
        k8s::apply_service(&self.client, NS, &body)
            .await
            .expect("forged service");
        let api: Api<Service> = Api::namespaced(self.client.clone(), NS);
        let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": forged.to_string(), "ipMode": "VIP"}]}}});
        api.patch_status("forged", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("forging a status");

        // A Service from the pool without L2AnnouncementPolicy, created after the forged one: once
        // its silence is recorded, every speaker has seen the forged status too.
        let ann = json!({"ferrolb.io/ip-pool": "quiet"});
        let mut body = k8s::service_body("quiet", ann, json!({}));
        body["spec"]["selector"] = json!({"app": "web"});
        k8s::apply_service(&self.client, NS, &body)
            .await
            .expect("quiet service");
        let svc = k8s::wait_service(&self.client, NS, "quiet", "address", |s| {
            !k8s::ips(s).is_empty()
        })
        .await
        .expect("quiet allocated");
        let quiet: IpAddr = k8s::ips(&svc)[0].parse().expect("ip");
        let reason = self.silent_reason("quiet", quiet).await;
        assert!(
            reason.contains("L2AnnouncementPolicy"),
            "silent reason: {reason}"
        );
        assert_eq!(
            self.answers(quiet),
            Vec::<String>::new(),
            "{quiet} is not covered"
        );
        assert_eq!(
            self.answers(forged),
            Vec::<String>::new(),
            "{forged} is forged"
        );
    }

    /// nodeSelector: only the selected node may announce.
    pub async fn node_selector(&self, ip: IpAddr) {
        step("an L2AnnouncementPolicy nodeSelector moves the VIP to the one node it selects");
        let current = self.settled("web", ip).await;
        let target = if current == "node-c" {
            "node-b"
        } else {
            "node-c"
        };
        self.l2(
            "lan",
            json!({"ipPools": ["lan"], "nodeSelector": {"matchLabels": {"kubernetes.io/hostname": target}}}),
        )
        .await;
        let node = self.announcer_not("web", ip, &current).await;
        assert_eq!(node, target);
        self.answered_by(ip, target).await;
        assert_eq!(self.settled("web", ip).await, target);
        self.l2("lan", json!({"ipPools": ["lan"]})).await;
    }
}
