//! Which Services are owned, type changes, and status written by someone else.

use ferrolb_e2e::k8s;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{Scenarios, only, v6};

impl Scenarios<'_> {
    pub async fn classes_and_type_changes(&self) {
        let ns = "s-cls";
        self.ns(ns, json!({})).await;
        self.pool("cls", only(ns, &["2001:db8:400::7:0/120"])).await;
        let mut other = v6();
        other["loadBalancerClass"] = json!("example.com/other");
        self.svc(ns, "other", json!({}), other).await;
        let mut ours = v6();
        ours["loadBalancerClass"] = json!("ferrolb.io/lb");
        self.svc(ns, "ours", json!({}), ours).await;
        self.svc(ns, "plain", json!({}), v6()).await;
        self.allocated(ns, "ours", 1).await;
        self.allocated(ns, "plain", 1).await;
        // A pass ran after "other" was created (ours and plain came later): it stays untouched.
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
        let other = api.get("other").await.unwrap();
        assert!(k8s::ips(&other).is_empty() && k8s::condition(&other).is_none());
        assert!(
            !other
                .annotations()
                .contains_key("ferrolb.io/allocated-from")
        );

        // Type changed away: released, status and annotation cleared, with an event.
        let mut cluster_ip = k8s::service_body("plain", json!({}), v6());
        cluster_ip["spec"]["type"] = json!("ClusterIP");
        let since = jiff::Timestamp::now();
        k8s::apply_service(&self.client, ns, &cluster_ip)
            .await
            .unwrap();
        k8s::wait_service(&self.client, ns, "plain", "released", |s| {
            k8s::ips(s).is_empty()
                && k8s::condition(s).is_none()
                && !s.annotations().contains_key("ferrolb.io/allocated-from")
        })
        .await
        .unwrap();
        k8s::wait_event(&self.client, ns, "plain", ("IPReleased", "released"), since)
            .await
            .unwrap();
        // And back.
        self.svc(ns, "plain", json!({}), v6()).await;
        self.allocated(ns, "plain", 1).await;
        self.drop_pools(&["cls"]).await;
    }

    pub async fn forged_status(&self) {
        let ns = "s-forge";
        self.ns(ns, json!({})).await;
        self.pool("forge", only(ns, &["2001:db8:400::9:0/120"]))
            .await;
        self.svc(ns, "a", json!({}), v6()).await;
        assert_eq!(self.allocated(ns, "a", 1).await, ["2001:db8:400::9:0"]);
        // Someone else writes an address into the status: the controller puts its own back.
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
        let forged = json!({"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.240"}]}}});
        api.patch_status(
            "a",
            &PatchParams {
                field_manager: Some("intruder".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&forged),
        )
        .await
        .unwrap();
        let svc = k8s::wait_service(&self.client, ns, "a", "forged address replaced", |s| {
            k8s::ips(s) == ["2001:db8:400::9:0"]
                && s.managed_fields().iter().any(|m| {
                    m.manager.as_deref() == Some("ferrolb-controller")
                        && m.subresource.as_deref() == Some("status")
                })
        })
        .await
        .unwrap();
        assert!(!k8s::ips(&svc).contains(&"198.51.100.240".to_string()));
        self.drop_pools(&["forge"]).await;
    }
}
