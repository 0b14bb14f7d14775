//! The load-balancer cleanup finalizer on the real apiserver, as the upstream LoadBalancer e2e
//! suite expects it: there once the address is given, gone (with the ingress) after a change
//! to ClusterIP, back with LoadBalancer; a deletion completes within seconds and frees the
//! address; another controller's finalizer on the same Service is left alone throughout.

use std::time::{Duration, Instant};

use ferrolb_e2e::k8s;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{Scenarios, only, v6};

const CLEANUP: &str = "service.kubernetes.io/load-balancer-cleanup";
const OTHER: &str = "example.com/keep";
/// How long a deletion may take: the controller releases and removes its finalizer in one pass.
const DELETE_WITHIN: Duration = Duration::from_secs(5);

fn has(svc: &Service, finalizer: &str) -> bool {
    svc.finalizers().iter().any(|f| f == finalizer)
}

/// Whether the controller's field manager holds the cleanup finalizer (it wrote it).
fn written_by_controller(svc: &Service) -> bool {
    let member = format!("v:{}", json!(CLEANUP));
    svc.managed_fields().iter().any(|m| {
        m.manager.as_deref() == Some("ferrolb-controller")
            && m.fields_v1
                .as_ref()
                .and_then(|f| f.0.get("f:metadata")?.get("f:finalizers")?.get(&member))
                .is_some()
    })
}

impl Scenarios<'_> {
    /// Adds (`add`) or removes a finalizer the way another controller would: a strategic merge
    /// patch under its own field manager.
    async fn other_finalizer(&self, ns: &str, name: &str, add: bool) {
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
        let list = if add {
            "finalizers"
        } else {
            "$deleteFromPrimitiveList/finalizers"
        };
        let params = PatchParams {
            field_manager: Some("example.com-controller".into()),
            ..PatchParams::default()
        };
        api.patch(
            name,
            &params,
            &Patch::Strategic(json!({"metadata": {list: [OTHER]}})),
        )
        .await
        .unwrap();
    }

    pub async fn cleanup_finalizer(&self) {
        let ns = "s-fin";
        self.ns(ns, json!({})).await;
        self.pool("fin", only(ns, &["2001:db8:400::a:0/126"])).await;
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);

        // Given an address, the Service carries the finalizer, written by the controller.
        self.svc(ns, "a", json!({}), v6()).await;
        self.allocated(ns, "a", 1).await;
        let svc = api.get("a").await.unwrap();
        assert!(has(&svc, CLEANUP), "{:?}", svc.finalizers());
        assert!(written_by_controller(&svc), "{:?}", svc.managed_fields());
        // Another controller's finalizer joins; the controller keeps both.
        self.other_finalizer(ns, "a", true).await;

        // Type ClusterIP: ingress, condition and annotation gone, the finalizer removed; the
        // other finalizer stays.
        let mut cluster_ip = k8s::service_body("a", json!({}), v6());
        cluster_ip["spec"]["type"] = json!("ClusterIP");
        k8s::apply_service(&self.client, ns, &cluster_ip)
            .await
            .unwrap();
        let svc = k8s::wait_service(&self.client, ns, "a", "released, finalizer gone", |s| {
            k8s::ips(s).is_empty()
                && k8s::condition(s).is_none()
                && !s.annotations().contains_key("ferrolb.io/allocated-from")
                && !has(s, CLEANUP)
        })
        .await
        .unwrap();
        assert!(has(&svc, OTHER), "{:?}", svc.finalizers());

        // Back to LoadBalancer: an address and the finalizer again.
        self.svc(ns, "a", json!({}), v6()).await;
        self.allocated(ns, "a", 1).await;
        k8s::wait_service(&self.client, ns, "a", "finalizer back", |s| {
            has(s, CLEANUP) && has(s, OTHER)
        })
        .await
        .unwrap();

        // Deleted while the other finalizer holds it: the controller releases and removes
        // only its own.
        let since = jiff::Timestamp::now();
        k8s::delete_service(&self.client, ns, "a").await.unwrap();
        let svc = k8s::wait_service(&self.client, ns, "a", "released while deleted", |s| {
            s.metadata.deletion_timestamp.is_some()
                && !has(s, CLEANUP)
                && k8s::ips(s).is_empty()
                && k8s::condition(s).is_none()
        })
        .await
        .unwrap();
        assert!(has(&svc, OTHER), "{:?}", svc.finalizers());
        k8s::wait_event(
            &self.client,
            ns,
            "a",
            ("IPReleased", "being deleted"),
            since,
        )
        .await
        .unwrap();
        self.other_finalizer(ns, "a", false).await;

        // A plain deletion completes within seconds, and the address is free again: a new
        // Service asking for exactly it gets it.
        self.svc(ns, "b", json!({}), v6()).await;
        let ip = self.allocated(ns, "b", 1).await.remove(0);
        k8s::wait_service(&self.client, ns, "b", "finalizer", |s| has(s, CLEANUP))
            .await
            .unwrap();
        let start = Instant::now();
        k8s::delete_service(&self.client, ns, "b").await.unwrap();
        let mut gone = false;
        while start.elapsed() < DELETE_WITHIN {
            if api.get_opt("b").await.unwrap().is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = start.elapsed();
        assert!(gone, "b still there {took:?} after its deletion");
        eprintln!("deleting a LoadBalancer Service took {took:?}");
        self.svc(
            ns,
            "c",
            json!({"ferrolb.io/load-balancer-ips": ip.clone()}),
            v6(),
        )
        .await;
        assert_eq!(self.allocated(ns, "c", 1).await, [ip]);
        k8s::delete_service(&self.client, ns, "c").await.unwrap();
        self.drop_pools(&["fin"]).await;
    }
}
