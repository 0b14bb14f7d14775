//! The cluster the externalIPs test judges against, and kubectl as different users.

mod outage;
mod table;
mod uninstall;

use std::time::Duration;

use ferrolb_e2e::k8s;
use ferrolb_e2e::testlab::{TestLab, Turn};
use kube::Client;
use serde_json::{Value, json};

pub struct Eip<'a> {
    pub lab: &'a TestLab,
    pub client: Client,
}

/// alice: groups tenant-a-devs (may edit tenant-a).
pub const ALICE: (&str, &[&str]) = ("alice", &["tenant-a-devs"]);
/// alice in the ops group too.
pub const ALICE_OPS: (&str, &[&str]) = ("alice", &["tenant-a-devs", "ops"]);

impl Eip<'_> {
    /// The scenarios on the lab of `turn`.
    pub fn of(turn: &Turn) -> Eip<'static> {
        Eip {
            lab: turn.lab,
            client: turn.client.clone(),
        }
    }

    /// The ground every scenario starts from, whatever ran (or failed) before: both
    /// controllers running and ready, then [`Eip::setup`].
    pub async fn begin(&self) {
        self.lab
            .controllers_serving(Duration::from_secs(60))
            .await
            .expect("both controllers ready, their webhook reached");
        self.setup().await;
    }

    /// kubectl apply of `body` as `user` (None: the admin). Ok(stdout + stderr) or Err(stderr).
    pub fn apply_as(&self, body: &Value, user: Option<(&str, &[&str])>) -> Result<String, String> {
        let mut args: Vec<String> = vec!["apply".into(), "-f".into(), "-".into()];
        if let Some((name, groups)) = user {
            args.push(format!("--as={name}"));
            args.extend(groups.iter().map(|g| format!("--as-group={g}")));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self
            .lab
            .kubectl_input(&args, &body.to_string())
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.success() {
            Ok(format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)))
        } else {
            Err(stderr)
        }
    }

    /// A ClusterIP Service with `ips` as externalIPs.
    pub fn service(ns: &str, name: &str, ips: &[&str]) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"port": 80}], "externalIPs": ips}})
    }

    pub async fn setup(&self) {
        k8s::namespace(&self.client, "tenant-a", json!({"team": "a"}))
            .await
            .unwrap();
        k8s::namespace(&self.client, "other-ns", json!({"env": "lab"}))
            .await
            .unwrap();
        let policy = |name: &str, spec: Value| {
            json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "ExternalIPPolicy",
                "metadata": {"name": name}, "spec": spec})
        };
        for p in [
            // Also lists node, pool and ClusterIP ranges: the fixed rules win over any policy.
            policy(
                "tenant-a-public",
                json!({
                "allowedCIDRs": ["198.51.100.0/24", "2001:db8:100::/64", "203.0.113.0/25", "192.0.2.0/26"],
                "namespaceSelector": {"matchLabels": {"team": "a"}}}),
            ),
            policy(
                "ops-reserved",
                json!({"allowedCIDRs": ["192.0.2.240/28"], "allowedGroups": ["ops"]}),
            ),
            policy(
                "lab-anything",
                json!({"allowedCIDRs": ["0.0.0.0/0", "::/0"],
                "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["lab"]}]}}),
            ),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "devs-edit", "namespace": "tenant-a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "tenant-a-devs"}]}),
        ] {
            self.apply_as(&p, None).expect("setup object");
        }
        k8s::pool(
            &self.client,
            "pool-a",
            json!({"addresses": ["192.0.2.0/26"], "serviceAllocation": {"namespaces": ["none"]}}),
        )
        .await
        .unwrap();
        k8s::pool(&self.client, "pool-other",
            json!({"addresses": ["198.51.100.51/32"], "serviceAllocation": {"namespaces": ["other-ns"]}}))
            .await
            .unwrap();
        self.apply_as(&Self::service("other-ns", "web", &["198.51.100.50"]), None)
            .expect("other-ns/web");
        let lb = k8s::service_body("lb", json!({}), json!({}));
        k8s::apply_service(&self.client, "other-ns", &lb)
            .await
            .unwrap();
        // Allocated: the controller (and so its webhook) has seen everything above.
        k8s::wait_service(&self.client, "other-ns", "lb", "allocated", |s| {
            k8s::ips(s) == ["198.51.100.51"]
        })
        .await
        .unwrap();
    }

    pub async fn allowed_and_removal(&self) {
        let svc = Self::service("tenant-a", "web", &["198.51.100.20", "2001:db8:100::20"]);
        self.apply_as(&svc, Some(ALICE))
            .expect("allowed addresses pass");
        let s = k8s::wait_service(&self.client, "tenant-a", "web", "allowed condition", |s| {
            condition(s, "ferrolb.io/ExternalIPsAllowed").is_some_and(|c| c.0 == "True")
        })
        .await
        .unwrap();
        assert!(condition(&s, "ferrolb.io/ExternalIPsAllowed").is_some());
        // Removal always passes, even for an address no longer allowed.
        self.apply_as(&Self::service("tenant-a", "web", &[]), Some(ALICE))
            .expect("removal passes");
    }

    pub async fn user_and_group_limits(&self) {
        let ops = Self::service("tenant-a", "ops", &["192.0.2.241"]);
        let refused = self.apply_as(&ops, Some(ALICE)).expect_err("not in ops");
        assert!(
            refused.contains("applies to namespace tenant-a and user \"alice\""),
            "{refused}"
        );
        self.apply_as(&ops, Some(ALICE_OPS))
            .expect("ops members may");
        // The reconcile path knows who admitted it (a signed stamp) and agrees.
        let s = k8s::wait_service(
            &self.client,
            "tenant-a",
            "ops",
            "allowed at reconcile",
            |s| condition(s, "ferrolb.io/ExternalIPsAllowed").is_some_and(|c| c.0 == "True"),
        )
        .await
        .unwrap();
        let stamp = s.metadata.annotations.clone().unwrap_or_default();
        assert!(
            stamp
                .get("ferrolb.io/external-ips-admitted-by")
                .is_some_and(|v| v.contains("\"alice\"")),
            "{stamp:?}"
        );
        // Another namespace's user may not take tenant-a's policy.
        let other = Self::service("other-ns", "x", &["2001:db8:100::30"]);
        self.apply_as(&other, None)
            .expect("lab-anything applies to other-ns");
        let taken = Self::service("tenant-a", "dup", &["2001:db8:100::30"]);
        let refused = self
            .apply_as(&taken, Some(ALICE))
            .expect_err("claimed elsewhere");
        assert!(refused.contains("other-ns/x"), "{refused}");
    }

    pub async fn pool_admission(&self) {
        let pool = |name: &str, addresses: &[&str]| {
            json!({"apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": name},
                "spec": {"addresses": addresses, "serviceAllocation": {"namespaces": ["none"]}}})
        };
        let refused = self
            .apply_as(&pool("ov-x", &["192.0.2.60-192.0.2.70"]), None)
            .expect_err("overlap refused");
        assert!(refused.contains("pool-a"), "{refused}");
        let mut shrunk = pool("pool-other", &["198.51.100.52/32"]);
        shrunk["spec"]["serviceAllocation"]["namespaces"] = json!(["other-ns"]);
        let refused = self
            .apply_as(&shrunk, None)
            .expect_err("shrink below use refused");
        assert!(
            refused.contains("other-ns/lb") && refused.contains("ferrolb.io/force"),
            "{refused}"
        );
        let out = self
            .lab
            .kubectl()
            .args(["delete", "vippool", "pool-other"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("other-ns/lb"),
            "{err}"
        );
        let warned = self
            .apply_as(&pool("with-nodes", &["198.51.100.10-198.51.100.14"]), None)
            .expect("node addresses admitted");
        assert!(
            warned.contains("Warning") && warned.contains("node-a"),
            "{warned}"
        );
    }
}

/// A condition of a Service: (status, reason, message).
pub fn condition(
    svc: &k8s_openapi::api::core::v1::Service,
    type_: &str,
) -> Option<(String, String, String)> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}
