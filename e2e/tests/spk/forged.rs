//! Statuses forged by a client with `services/status` rights, under the controller's own field
//! manager name, on the wire: an address nobody allocated and the address of `web` are never
//! answered (web's is answered by its announcer alone), and the controller, once back, replaces
//! them with a Warning event.

use std::net::IpAddr;

use ferrolb_core::names::MANAGER_CONTROLLER;
use ferrolb_e2e::k8s;
use ferrolb_e2e::lab::components::CONTROLLERS;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::{NS, Spk, WIRE, step};

/// A free address of pool `lan`, forged on a Service that asks for a pool that does not exist
/// (so the controller allocates nothing).
const FREE: &str = "198.51.100.237";
/// Another free address, forged on a Service that names ferrolb's class (speakers report why
/// they refuse it, which shows they have seen every forgery before it).
const MARKER: &str = "198.51.100.236";

impl Spk<'_> {
    pub async fn forged_status(&self, web: IpAddr) {
        step(
            "statuses forged under the controller's manager name are never answered, then replaced",
        );
        let owner = self.settled("web", web).await;
        let owner_mac = self.lab.mac(&owner).expect("mac");
        let since = jiff::Timestamp::now();
        // Without a controller nothing rewrites the forged statuses while the speakers judge them.
        for c in CONTROLLERS {
            self.lab.stop(c).expect("controller stopped");
        }
        let web_ip = web.to_string();
        let thieves = [
            ("thief", FREE, json!({})),
            ("thief-web", web_ip.as_str(), json!({})),
            (
                "thief-marker",
                MARKER,
                json!({"loadBalancerClass": "ferrolb.io/lb"}),
            ),
        ];
        for (name, ip, spec) in &thieves {
            self.forge(name, ip, spec.clone()).await;
        }
        let reason = self
            .silent_reason("thief-marker", MARKER.parse().expect("ip"))
            .await;
        assert!(
            reason.contains("ferrolb.io/allocation-proof"),
            "why {MARKER} is refused: {reason}"
        );
        for ip in [FREE, MARKER] {
            assert_eq!(
                self.answers(ip.parse().expect("ip")),
                Vec::<String>::new(),
                "{ip} is forged: nobody may answer it"
            );
        }
        assert_eq!(
            self.answers(web),
            std::slice::from_ref(&owner_mac),
            "{web}: web's announcer alone"
        );
        let sharing = k8s::wait_announcement(&self.client, NS, "web", "announced", WIRE, |s| {
            Some(s.announcements.into_iter().find(|a| a.ip == web_ip)?.node)
        })
        .await
        .expect("web's announcement");
        assert_eq!(sharing, owner, "web's announcer moved");

        step("the controller, back, replaces each forged address with a Warning event");
        self.lab
            .start_ready(&CONTROLLERS, std::time::Duration::from_secs(60))
            .await
            .expect("controllers back");
        for (name, ip, _) in &thieves[..2] {
            let svc = k8s::wait_service(&self.client, NS, name, "forgery removed", |s| {
                k8s::ips(s).is_empty()
            })
            .await
            .expect("replaced");
            let message = k8s::condition(&svc).map(|c| c.2).unwrap_or_default();
            assert!(!message.contains("keeping"), "{name}: {message}");
            k8s::wait_event(
                &self.client,
                NS,
                name,
                ("UnprovenAddressReplaced", ip),
                since,
            )
            .await
            .expect("a Warning event");
        }
        for (name, _, _) in &thieves {
            k8s::delete_service(&self.client, NS, name)
                .await
                .expect("deleted");
        }
        assert_eq!(self.answers(web), [owner_mac], "{web} after the cleanup");
    }

    /// A Service `name` of pool "nonexistent" whose status says `ip` from pool `lan`, written
    /// under the controller's field manager name.
    async fn forge(&self, name: &str, ip: &str, spec: Value) {
        let annotations =
            json!({"ferrolb.io/ip-pool": "nonexistent", "ferrolb.io/allocated-from": "lan"});
        let mut body = k8s::service_body(name, annotations, spec);
        body["spec"]["selector"] = json!({"app": "web"});
        k8s::apply_service(&self.client, NS, &body)
            .await
            .expect("the thief's Service");
        let api: Api<Service> = Api::namespaced(self.client.clone(), NS);
        let status =
            json!({"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}});
        let params = PatchParams {
            field_manager: Some(MANAGER_CONTROLLER.into()),
            ..PatchParams::default()
        };
        api.patch_status(name, &params, &Patch::Merge(&status))
            .await
            .expect("forging a status");
    }
}
