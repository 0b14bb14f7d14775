//! Allocation rules: the basics, requests, sharing, dual-stack.

use ferrolb_e2e::k8s;
use serde_json::json;

use super::{Scenarios, only, v6};

impl Scenarios<'_> {
    pub async fn basic(&self) {
        let ns = "s-basic";
        self.ns(ns, json!({})).await;
        self.pool("basic", only(ns, &["192.0.2.192/28"])).await;
        let since = jiff::Timestamp::now();
        self.svc(ns, "web", json!({}), json!({})).await;
        assert_eq!(self.allocated(ns, "web", 1).await, ["192.0.2.192"]);
        assert_eq!(self.allocated_from(ns, "web").await, "basic");
        let svc = k8s::wait_service(&self.client, ns, "web", "ipMode", |_| true)
            .await
            .unwrap();
        let ingress = svc.status.unwrap().load_balancer.unwrap().ingress.unwrap();
        assert_eq!(ingress[0].ip_mode.as_deref(), Some("VIP"));
        k8s::wait_event(
            &self.client,
            ns,
            "web",
            ("IPAllocated", "192.0.2.192"),
            since,
        )
        .await
        .unwrap();
        let pool = k8s::wait_pool(&self.client, "basic", "used 1", |p| {
            p.status.as_ref().and_then(|s| s.used.as_deref()) == Some("1")
        })
        .await
        .unwrap();
        let st = pool.status.clone().unwrap();
        let v4 = st.ipv4.unwrap();
        assert_eq!(
            (v4.total.as_str(), v4.used.as_str(), v4.available.as_str()),
            ("16", "1", "15")
        );
        assert_eq!(k8s::pool_condition(&pool, "Ready").unwrap().0, "True");
        assert_eq!(k8s::pool_condition(&pool, "Conflict").unwrap().0, "False");

        // No event flood: an unrelated change to the Service, then a second Service proving a
        // later pass ran, and still exactly one event about web.
        self.svc(ns, "web", json!({"unrelated": "x"}), json!({}))
            .await;
        self.svc(ns, "web2", json!({}), json!({})).await;
        assert_eq!(self.allocated(ns, "web2", 1).await, ["192.0.2.193"]);
        let events = k8s::events(&self.client, ns, "web").await.unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        self.drop_pools(&["basic"]).await;
    }

    pub async fn requests(&self) {
        let ns = "s-req";
        self.ns(ns, json!({})).await;
        self.pool("req", only(ns, &["192.0.2.208/28"])).await;
        let ann = |ips: &str| json!({"ferrolb.io/load-balancer-ips": ips});
        self.svc(ns, "a", ann("192.0.2.215"), json!({})).await;
        assert_eq!(self.allocated(ns, "a", 1).await, ["192.0.2.215"]);
        self.svc(ns, "b", json!({}), json!({"loadBalancerIP": "192.0.2.216"}))
            .await;
        assert_eq!(self.allocated(ns, "b", 1).await, ["192.0.2.216"]);

        let since = jiff::Timestamp::now();
        self.svc(ns, "outside", ann("198.51.100.99"), json!({}))
            .await;
        let (status, msg, ips) = self.reason(ns, "outside", "RequestRefused").await;
        assert_eq!(status, "False");
        assert!(msg.contains("198.51.100.99"), "{msg}");
        assert!(ips.is_empty());
        k8s::wait_event(
            &self.client,
            ns,
            "outside",
            ("RequestRefused", "198.51.100.99"),
            since,
        )
        .await
        .unwrap();

        self.svc(ns, "taken", ann("192.0.2.215"), json!({})).await;
        let (_, msg, ips) = self.reason(ns, "taken", "RequestRefused").await;
        assert!(msg.contains("192.0.2.215") && ips.is_empty(), "{msg}");

        self.svc(ns, "garbage", ann("not-an-ip"), json!({})).await;
        let (_, msg, _) = self.reason(ns, "garbage", "InvalidRequest").await;
        assert!(msg.contains("not-an-ip"), "{msg}");

        self.svc(
            ns,
            "by-pool",
            json!({"ferrolb.io/ip-pool": "req"}),
            json!({}),
        )
        .await;
        assert_eq!(self.allocated_from(ns, "by-pool").await, "req");
        self.svc(
            ns,
            "no-pool",
            json!({"ferrolb.io/ip-pool": "nope"}),
            json!({}),
        )
        .await;
        self.reason(ns, "no-pool", "RequestRefused").await;

        // Changing the request moves the address, with an event saying so.
        let since = jiff::Timestamp::now();
        self.svc(ns, "a", ann("192.0.2.217"), json!({})).await;
        k8s::wait_service(&self.client, ns, "a", "moved", |s| {
            k8s::ips(s) == ["192.0.2.217"]
        })
        .await
        .unwrap();
        let note = k8s::wait_event(&self.client, ns, "a", ("IPChanged", "192.0.2.217"), since)
            .await
            .unwrap();
        assert!(note.contains("192.0.2.215"), "{note}");
        self.drop_pools(&["req"]).await;
    }

    pub async fn sharing(&self) {
        let ns = "s-share";
        self.ns(ns, json!({})).await;
        self.pool("share", only(ns, &["192.0.2.224/28"])).await;
        let key = json!({"ferrolb.io/sharing-key": "k"});
        let port = |p: u16| json!({"ports": [{"name": "p", "port": p, "protocol": "TCP"}]});
        self.svc(ns, "a", key.clone(), port(80)).await;
        let ip = self.allocated(ns, "a", 1).await;
        self.svc(ns, "b", key.clone(), port(443)).await;
        assert_eq!(self.allocated(ns, "b", 1).await, ip, "b shares a's address");
        self.svc(ns, "c", key.clone(), port(80)).await;
        let (_, msg, ips) = self.reason(ns, "c", "SharingConflict").await;
        assert!(ips.is_empty() && msg.contains("80"), "{msg}");
        let mut local = port(8080);
        local["externalTrafficPolicy"] = json!("Local");
        self.svc(ns, "d", key, local).await;
        self.reason(ns, "d", "SharingConflict").await;
        self.drop_pools(&["share"]).await;
    }

    pub async fn dual_stack(&self) {
        let ns = "s-ds";
        self.ns(ns, json!({})).await;
        self.pool("ds4", only(ns, &["192.0.2.240/28"])).await;
        self.svc(ns, "single6", json!({}), v6()).await;
        let (status, _, _) = self.reason(ns, "single6", "NoEligiblePool").await;
        assert_eq!(status, "False");
        let both = |policy: &str| json!({"ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": policy});
        self.svc(ns, "prefer", json!({}), both("PreferDualStack"))
            .await;
        let (status, msg, ips) = self.reason(ns, "prefer", "PartiallyAllocated").await;
        let partial = ips.clone();
        assert_eq!((status.as_str(), ips.len()), ("True", 1), "{msg}");
        self.svc(ns, "require", json!({}), both("RequireDualStack"))
            .await;
        let (_, _, ips) = self.reason(ns, "require", "DualStackImpossible").await;
        assert!(ips.is_empty(), "never half a dual-stack Service");

        let since = jiff::Timestamp::now();
        self.pool("ds6", only(ns, &["2001:db8:400::/120"])).await;
        let single6 = self.allocated(ns, "single6", 1).await;
        assert!(single6[0].starts_with("2001:db8:400::"), "{single6:?}");
        // Same-second Services are ordered by uid, so which IPv6 address each gets varies.
        let prefer = self.allocated(ns, "prefer", 2).await;
        assert_eq!(
            prefer[0], partial[0],
            "PreferDualStack keeps its IPv4 address"
        );
        assert!(prefer[1].starts_with("2001:db8:400::"), "{prefer:?}");
        let added = format!("added {}", prefer[1]);
        k8s::wait_event(&self.client, ns, "prefer", ("IPAllocated", &added), since)
            .await
            .unwrap();
        assert_eq!(self.allocated(ns, "require", 2).await.len(), 2);
        self.drop_pools(&["ds4", "ds6"]).await;
    }
}
