//! Pools: selectors and priorities, disabled and manual pools, shrinking and deleting, overlap
//! and Node addresses.

use ferrolb_e2e::k8s;
use serde_json::json;

use super::{Scenarios, only, v6};

impl Scenarios<'_> {
    pub async fn selectors_and_priorities(&self) {
        let (a, b) = ("s-sel-a", "s-sel-b");
        self.ns(a, json!({"team": "a"})).await;
        self.ns(b, json!({"team": "b"})).await;
        self.pool(
            "sel-team-a",
            json!({"addresses": ["2001:db8:400::1:0/120"],
                "serviceAllocation": {"priority": 1, "namespaceSelector": {"matchLabels": {"team": "a"}}}}),
        )
        .await;
        self.pool(
            "sel-both",
            json!({"addresses": ["2001:db8:400::2:0/120"],
                "serviceAllocation": {"priority": 5, "namespaces": [a, b]}}),
        )
        .await;
        self.pool(
            "sel-gold",
            json!({"addresses": ["2001:db8:400::3:0/120"],
                "serviceAllocation": {"priority": 0, "namespaces": [a, b],
                    "serviceSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}}}),
        )
        .await;
        self.svc(a, "x", json!({}), v6()).await;
        assert_eq!(
            self.allocated_from(a, "x").await,
            "sel-team-a",
            "priority 1 beats 5"
        );
        self.svc(b, "y", json!({}), v6()).await;
        assert_eq!(
            self.allocated_from(b, "y").await,
            "sel-both",
            "team-a pool does not match b"
        );
        let mut gold = k8s::service_body("z", json!({}), v6());
        gold["metadata"]["labels"] = json!({"tier": "gold"});
        k8s::apply_service(&self.client, b, &gold).await.unwrap();
        assert_eq!(
            self.allocated_from(b, "z").await,
            "sel-gold",
            "serviceSelector, priority 0"
        );
        self.drop_pools(&["sel-team-a", "sel-both", "sel-gold"])
            .await;
    }

    pub async fn disabled_and_manual(&self) {
        let ns = "s-dis";
        self.ns(ns, json!({})).await;
        self.pool("dis", only(ns, &["2001:db8:400::4:0/120"])).await;
        self.svc(ns, "a", json!({}), v6()).await;
        let before = self.allocated(ns, "a", 1).await;
        let mut spec = only(ns, &["2001:db8:400::4:0/120"]);
        spec["disabled"] = json!(true);
        self.pool("dis", spec).await;
        k8s::wait_pool(&self.client, "dis", "Ready=False Disabled", |p| {
            k8s::pool_condition(p, "Ready").is_some_and(|c| c.1 == "Disabled")
        })
        .await
        .unwrap();
        self.svc(ns, "b", json!({}), v6()).await;
        let (status, _, _) = self.reason(ns, "b", "NoEligiblePool").await;
        assert_eq!(status, "False");
        assert_eq!(
            self.allocated(ns, "a", 1).await,
            before,
            "disabled keeps existing"
        );

        let mut manual = only(ns, &["2001:db8:400::5:0/120"]);
        manual["autoAssign"] = json!(false);
        self.pool("manual", manual).await;
        self.svc(ns, "c", json!({"ferrolb.io/ip-pool": "manual"}), v6())
            .await;
        assert_eq!(self.allocated(ns, "c", 1).await, ["2001:db8:400::5:0"]);
        // b asks for nothing explicitly: the manual pool does not serve it.
        let (_, _, ips) = self.reason(ns, "b", "NoEligiblePool").await;
        assert!(ips.is_empty());
        self.drop_pools(&["dis", "manual"]).await;
    }

    pub async fn pool_shrunk_and_deleted(&self) {
        let ns = "s-shr";
        self.ns(ns, json!({})).await;
        self.pool("shr", only(ns, &["2001:db8:400::6:0/124"])).await;
        self.svc(ns, "a", json!({}), v6()).await;
        assert_eq!(self.allocated(ns, "a", 1).await, ["2001:db8:400::6:0"]);
        self.svc(ns, "b", json!({}), v6()).await;
        assert_eq!(self.allocated(ns, "b", 1).await, ["2001:db8:400::6:1"]);
        // The webhook refuses to take a held address away without the force annotation.
        let refused = k8s::pool(
            &self.client,
            "shr",
            only(ns, &["2001:db8:400::6:1-2001:db8:400::6:f"]),
        )
        .await
        .expect_err("shrinking below an address in use is refused");
        assert!(refused.to_string().contains("s-shr/a"), "{refused}");
        let since = jiff::Timestamp::now();
        k8s::force_pool(&self.client, "shr").await.unwrap();
        self.pool("shr", only(ns, &["2001:db8:400::6:1-2001:db8:400::6:f"]))
            .await;
        let moved = k8s::wait_service(&self.client, ns, "a", "moved", |s| {
            !k8s::ips(s).is_empty() && k8s::ips(s) != ["2001:db8:400::6:0"]
        })
        .await
        .unwrap();
        assert_eq!(k8s::ips(&moved), ["2001:db8:400::6:2"]);
        k8s::wait_event(
            &self.client,
            ns,
            "a",
            ("IPChanged", "2001:db8:400::6:0"),
            since,
        )
        .await
        .unwrap();
        assert_eq!(
            self.allocated(ns, "b", 1).await,
            ["2001:db8:400::6:1"],
            "b untouched"
        );

        self.drop_pools(&["shr"]).await;
        let (_, _, ips) = self.reason(ns, "b", "NoEligiblePool").await;
        assert!(ips.is_empty(), "a deleted pool's addresses are released");
    }

    pub async fn overlap_and_node_addresses(&self) {
        self.pool("ov-old", only("s-none", &["2001:db8:400::8:0/120"]))
            .await;
        // The webhook refuses an overlapping pool, naming the other one. (A pool that slipped
        // past it is flagged with a Conflict condition: see the externalIPs test, which
        // stops the webhook.)
        let refused = k8s::pool(
            &self.client,
            "ov-new",
            only("s-none", &["2001:db8:400::8:80/121"]),
        )
        .await
        .expect_err("an overlapping pool is refused");
        assert!(refused.to_string().contains("ov-old"), "{refused}");

        self.pool("nodes", only("s-none", &["198.51.100.10-198.51.100.14"]))
            .await;
        let p = k8s::wait_pool(&self.client, "nodes", "reserved addresses", |p| {
            p.status
                .as_ref()
                .is_some_and(|s| !s.reserved_node_addresses.is_empty())
        })
        .await
        .unwrap();
        let st = p.status.unwrap();
        assert_eq!(
            st.reserved_node_addresses,
            ["198.51.100.11", "198.51.100.12", "198.51.100.13"]
        );
        assert_eq!(
            st.ipv4.unwrap().available,
            "2",
            "5 addresses, 3 of them nodes'"
        );
        self.drop_pools(&["ov-old", "nodes"]).await;
    }
}
