//! The node's Service rules seen from outside: UDP and TCP through a VIP, NodePorts on the
//! nodes' addresses, the client address the backend sees (Cluster: the node's; Local: the
//! client's, in `local`), loadBalancerSourceRanges, hairpin and node-local access.

use std::net::{IpAddr, SocketAddr};

use ferrolb_e2e::k8s;
use ferrolb_e2e::lab::plan;
use serde_json::json;

use super::{NS, PORT, Spk, step};

impl Spk<'_> {
    pub async fn rules(&self) {
        step("rules: TCP and UDP through a VIP and a NodePort; Cluster masquerades");
        let spec = json!({"ports": [
            {"name": "t", "port": 80, "targetPort": PORT, "protocol": "TCP"},
            {"name": "u", "port": 80, "targetPort": PORT, "protocol": "UDP"}]});
        let ip = self.service("mix", "web", spec, 1).await[0];
        self.announcer("mix", ip).await;
        let lab = self.lab;
        let to = SocketAddr::new(ip, 80);
        let udp = ferrolb_e2e::wait_for("UDP through the VIP", super::WIRE, || async move {
            lab.probe("client", "udp", to).ok()
        })
        .await
        .expect("udp");
        let tcp = lab.probe("client", "tcp", to).expect("tcp");
        let nodes: Vec<IpAddr> = ["node-a", "node-b", "node-c"]
            .iter()
            .filter_map(|n| plan::node(n))
            .map(|n| IpAddr::V4(n.host.v4))
            .collect();
        // Masqueraded: the backend sees the forwarding node's address on its way out (the
        // node's LAN address, or its pod-side gateway address for a local backend).
        let client = IpAddr::V4(plan::CLIENT.v4);
        for r in [&udp, &tcp] {
            assert_ne!(r.client, client, "Cluster masquerades the client");
        }
        let svc = k8s::wait_service(&self.client, NS, "mix", "nodePorts", |s| {
            s.spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .is_some_and(|p| p.iter().all(|p| p.node_port.is_some()))
        })
        .await
        .expect("node ports");
        let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
        for (p, proto) in ports.iter().zip(["tcp", "udp"]) {
            let port = u16::try_from(p.node_port.unwrap_or_default()).expect("port");
            for node in &nodes {
                let r = lab.probe("client", proto, SocketAddr::new(*node, port));
                assert!(r.is_ok(), "{proto} NodePort {node}:{port}: {r:?}");
            }
        }

        step("rules: hairpin (a backend through the VIP) and the node itself");
        for from in ["web/web-a", "node-a", "node-c"] {
            let r = lab.probe(from, "tcp", to);
            assert!(r.is_ok(), "from {from} to {to}: {r:?}");
        }

        step("rules: loadBalancerSourceRanges");
        let ranged = json!({"loadBalancerSourceRanges": ["203.0.113.0/24"]});
        let ip = self.service("ranged", "web", ranged, 1).await[0];
        self.announcer("ranged", ip).await;
        let to = SocketAddr::new(ip, 80);
        let refused = ferrolb_e2e::wait_for(
            "the client refused by source ranges",
            super::WIRE,
            || async move { lab.probe("client", "tcp", to).is_err().then_some(()) },
        )
        .await;
        assert!(
            refused.is_ok(),
            "a client outside loadBalancerSourceRanges got through"
        );
        let allowed = json!({"loadBalancerSourceRanges": ["198.51.100.100/32"]});
        self.service("ranged", "web", allowed, 1).await;
        ferrolb_e2e::wait_for(
            "the client allowed by source ranges",
            super::WIRE,
            || async move { lab.probe("client", "tcp", to).ok() },
        )
        .await
        .expect("allowed source");
    }
}
