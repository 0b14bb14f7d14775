//! The speakers' answers to `kubectl ferrolb why`'s wire and data-path questions:
//! `/debug/probe` from a peer sees exactly the announcer's MAC, from the announcer no other
//! one; `/debug/rules` on the announcer lists Service `web`'s port and backends from the
//! kernel's table `inet ferrolb` (the lab runs without kube-proxy). The lab's scraper reads
//! them through deploy/'s ClusterRole `ferrolb-diagnostics`.

use std::net::IpAddr;

use ferrolb_api::names::DIAGNOSTICS_ROLE;
use ferrolb_e2e::k8s;
use ferrolb_e2e::lab::install::NAMESPACE;
use ferrolb_e2e::lab::scraper::SCRAPER;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::Api;
use serde_json::{Value, json};

use super::{PORT, Spk, speaker_on, step};

/// The lab's scraper's binding to deploy/'s ClusterRole granting `/debug/probe` and
/// `/debug/rules` (what `kubectl ferrolb why`'s ServiceAccount is bound to).
const DEBUG_BINDING: &str = "lab-scraper-diagnostics";

impl Spk<'_> {
    /// Binds the lab's scraper to deploy/'s [`DIAGNOSTICS_ROLE`].
    async fn grant_debug(&self) {
        let bindings: Api<ClusterRoleBinding> = Api::all(self.client.clone());
        k8s::apply(
            &bindings,
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": DEBUG_BINDING},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DIAGNOSTICS_ROLE},
                "subjects": [{"kind": "ServiceAccount", "name": SCRAPER, "namespace": NAMESPACE}]}),
        )
        .await
        .expect("debug ClusterRoleBinding");
    }

    /// `GET path` of `node`'s speaker: the status and the body as JSON (or text).
    async fn debug_get(&self, node: &str, path: &str) -> (u16, Value, String) {
        let (code, body) = self
            .lab
            .private_get(speaker_on(node), path)
            .await
            .expect("private endpoint");
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        (code, json, body)
    }

    pub async fn debug_probe(&self, web: IpAddr) {
        step("/debug/probe: a peer sees exactly the announcer's MAC; /debug/rules: web's backends");
        self.grant_debug().await;
        let announcer = self.settled("web", web).await;
        let mac = self.lab.mac(&announcer).expect("mac").to_lowercase();
        let peer = ["node-a", "node-b", "node-c"]
            .into_iter()
            .find(|n| *n != announcer)
            .expect("a peer");

        let path = format!("/debug/probe?address={web}");
        let (code, report, body) = self.debug_get(peer, &path).await;
        assert_eq!(code, 200, "{peer}: {body}");
        assert_eq!(report["node"], peer, "{body}");
        assert_eq!(report["announced"], false, "{body}");
        assert_eq!(report["windowMs"], 500, "{body}");
        let answers = report["answers"].as_array().expect("answers");
        let mut macs: Vec<&str> = answers.iter().filter_map(|a| a["mac"].as_str()).collect();
        macs.dedup();
        assert_eq!(macs, [mac.as_str()], "{peer} probing {web}: {body}");

        let (code, own, body) = self.debug_get(&announcer, &path).await;
        assert_eq!(code, 200, "{announcer}: {body}");
        assert_eq!(own["announced"], true, "{body}");
        assert_eq!(own["answers"], json!([]), "nobody else answers: {body}");

        let (code, _, body) = self
            .debug_get(peer, "/debug/probe?address=192.0.2.250")
            .await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("is not a LoadBalancer address"), "{body}");

        let (code, rules, body) = self
            .debug_get(&announcer, &format!("/debug/rules?address={web}"))
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(rules["ferrolb"]["present"], true, "{body}");
        assert_eq!(rules["kubeProxy"]["present"], false, "{body}");
        let ports = rules["ferrolb"]["ports"].as_array().expect("ports");
        assert_eq!(ports.len(), 1, "{body}");
        assert_eq!(
            (&ports[0]["protocol"], &ports[0]["port"]),
            (&json!("TCP"), &json!(80))
        );
        let endpoints = ports[0]["endpoints"].as_array().expect("endpoints");
        assert!(
            !endpoints.is_empty()
                && endpoints
                    .iter()
                    .all(|e| e.as_str().is_some_and(|e| e.ends_with(&format!(":{PORT}")))),
            "{body}"
        );
        eprintln!("{web}: {peer} sees {macs:?}; rules on {announcer}: {endpoints:?}");
    }
}
