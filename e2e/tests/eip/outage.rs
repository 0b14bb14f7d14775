//! The webhook is down and failurePolicy is Ignore: bad objects get in; the reconcile path
//! flags them.

use std::time::Duration;

use ferrolb_e2e::k8s;
use ferrolb_e2e::lab::components::CONTROLLERS;

use super::{Eip, condition};

impl Eip<'_> {
    pub async fn outage_with_ignore(&self) {
        for c in CONTROLLERS {
            self.lab.stop(c).unwrap();
        }
        let patch = r#"[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"},
                        {"op":"replace","path":"/webhooks/1/failurePolicy","value":"Ignore"}]"#;
        let out = self
            .lab
            .kubectl()
            .args([
                "patch",
                "validatingwebhookconfiguration",
                "ferrolb-webhook",
                "--type=json",
                "-p",
                patch,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A node's address as externalIP, and a pool overlapping pool-a: both admitted.
        let since = jiff::Timestamp::now();
        self.apply_as(
            &Self::service("tenant-a", "sneaky", &["198.51.100.12"]),
            None,
        )
        .expect("admitted while the webhook is down");
        k8s::pool(
            &self.client,
            "ov-new",
            serde_json::json!({"addresses": ["192.0.2.32/27"],
            "serviceAllocation": {"namespaces": ["none"]}}),
        )
        .await
        .expect("admitted while the webhook is down");

        self.lab
            .start_ready(&CONTROLLERS, Duration::from_secs(60))
            .await
            .unwrap();
        let s = k8s::wait_service(&self.client, "tenant-a", "sneaky", "flagged", |s| {
            condition(s, "ferrolb.io/ExternalIPsAllowed").is_some_and(|c| c.0 == "False")
        })
        .await
        .unwrap();
        let (_, reason, message) = condition(&s, "ferrolb.io/ExternalIPsAllowed").unwrap();
        assert_eq!(reason, "ExternalIPRefused");
        assert!(message.contains("node node-b"), "{message}");
        k8s::wait_event(
            &self.client,
            "tenant-a",
            "sneaky",
            ("ExternalIPRefused", "node node-b"),
            since,
        )
        .await
        .unwrap();
        let p = k8s::wait_pool(&self.client, "ov-new", "Conflict=True", |p| {
            k8s::pool_condition(p, "Conflict").is_some_and(|c| c.0 == "True")
        })
        .await
        .unwrap();
        assert!(
            k8s::pool_condition(&p, "Conflict")
                .unwrap()
                .2
                .contains("pool-a")
        );
        self.never_announced().await;
        // The controller put its failure policy back.
        let out = self
            .lab
            .kubectl()
            .args([
                "get",
                "validatingwebhookconfiguration",
                "ferrolb-webhook",
                "-o",
                "jsonpath={.webhooks[*].failurePolicy}",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Fail Fail");
        self.clean_up_outage();
    }

    /// Removes what the outage let in, so the other scenarios see the usual ground.
    fn clean_up_outage(&self) {
        for args in [
            &[
                "delete",
                "service",
                "-n",
                "tenant-a",
                "sneaky",
                "--ignore-not-found",
                "--wait=false",
            ][..],
            &[
                "delete",
                "vippool",
                "ov-new",
                "--ignore-not-found",
                "--wait=false",
            ],
            &[
                "delete",
                "l2announcementpolicy",
                "with-external-ips",
                "--ignore-not-found",
                "--wait=false",
            ],
        ] {
            let out = self.lab.kubectl().args(args).output().unwrap();
            assert!(
                out.status.success(),
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// With an L2AnnouncementPolicy that announces allowed externalIPs, the sneaky address is still
    /// never announced: its ServiceAnnouncement says why, and no node other than node-b (whose
    /// own kernel answers for its own address) answers ARP for it.
    async fn never_announced(&self) {
        let l2 = serde_json::json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "L2AnnouncementPolicy",
            "metadata": {"name": "with-external-ips"}, "spec": {"externalIPs": true}});
        let out = self
            .lab
            .kubectl_input(&["apply", "-f", "-"], &l2.to_string())
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reason = k8s::wait_announcement(
            &self.client,
            "tenant-a",
            "sneaky",
            "the address reported silent",
            Duration::from_secs(20),
            |s| {
                let s = s.silent.into_iter().find(|s| s.ip == "198.51.100.12")?;
                Some(s.reason)
            },
        )
        .await
        .unwrap();
        eprintln!("sneaky 198.51.100.12 silent: {reason}");
        let ip = "198.51.100.12".parse().unwrap();
        let macs = self.lab.arping("client", ip, 2).unwrap();
        assert_eq!(
            macs,
            [self.lab.mac("node-b").unwrap()],
            "only node-b's kernel answers"
        );
        // Nor programmed: the other nodes' rules never mention it (node-b's own rules list it
        // as a NodePort address, which it is).
        for node in ["node-a", "node-c"] {
            let argv: Vec<String> = ["nft", "list", "table", "inet", "ferrolb"]
                .map(String::from)
                .to_vec();
            let out = self.lab.exec(node, &argv).unwrap().output().unwrap();
            let rules = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && rules.contains("table inet ferrolb"),
                "{node}: no table"
            );
            assert!(
                !rules.contains("198.51.100.12"),
                "{node} programs the refused address"
            );
        }
    }
}
