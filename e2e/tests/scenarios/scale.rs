//! 1,000 Services: a full restart and a leader killed in the middle of churn change no
//! address and never give one address to two Services.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferrolb_e2e::lab::components::CONTROLLERS;
use ferrolb_e2e::{Component, k8s, wait_for};
use futures::{StreamExt, stream};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

use super::{Scenarios, only, v6};

const NS: &str = "s-scale";
const COUNT: usize = 1000;

impl Scenarios<'_> {
    async fn create_many(&self, names: impl Iterator<Item = String>) {
        let spec = {
            let mut s = v6();
            s["allocateLoadBalancerNodePorts"] = json!(false);
            s
        };
        let bodies: Vec<_> = names
            .map(|n| k8s::service_body(&n, json!({}), spec.clone()))
            .collect();
        stream::iter(bodies)
            .for_each_concurrent(16, |b| async move {
                k8s::apply_service(&self.client, NS, &b)
                    .await
                    .expect("create");
            })
            .await;
    }

    /// Waits until every Service of the namespace has one address; returns them all.
    async fn all_allocated(
        &self,
        expected: usize,
        limit: Duration,
    ) -> BTreeMap<String, Vec<String>> {
        wait_for(&format!("{expected} Services allocated"), limit, || async {
            let all = k8s::all_ips(&self.client, NS).await.ok()?;
            (all.len() == expected && all.values().all(|ips| ips.len() == 1)).then_some(all)
        })
        .await
        .expect("allocation")
    }

    async fn leader(&self) -> String {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), "ferrolb-system");
        wait_for("a leader", Duration::from_secs(30), || async {
            api.get("ferrolb-controller")
                .await
                .ok()?
                .spec?
                .holder_identity
        })
        .await
        .expect("leader")
    }

    pub async fn restart_and_failover(&self) {
        self.ns(NS, json!({})).await;
        self.pool("scale", only(NS, &["2001:db8:400:0:1::/80"]))
            .await;
        self.create_many((0..COUNT).map(|i| format!("s{i:04}")))
            .await;
        let before = self.all_allocated(COUNT, Duration::from_secs(180)).await;
        assert_unique(&before);

        // Both replicas crash and come back: nothing moves.
        for c in CONTROLLERS {
            self.lab.kill(c).unwrap();
        }
        self.lab
            .start_ready(&CONTROLLERS, Duration::from_secs(60))
            .await
            .unwrap();
        // A new Service allocated proves the new leader has planned the whole snapshot.
        self.create_many(std::iter::once("after-restart".to_string()))
            .await;
        let after = self.all_allocated(COUNT + 1, Duration::from_secs(60)).await;
        assert_same(&before, &after, "restart");

        // The leader dies in the middle of churn: 100 new Services, 50 deleted.
        let leader = self.leader().await;
        // The leader's identity is its Pod's name (POD_NAME, the Downward API's metadata.name).
        let leader_component: Component = self
            .lab
            .component_of_pod(&leader)
            .expect("the leader is a controller Pod");
        let churn_new = (0..100).map(|i| format!("n{i:03}"));
        let create = self.create_many(churn_new);
        let delete = stream::iter(0..50).for_each_concurrent(8, |i| async move {
            k8s::delete_service(&self.client, NS, &format!("s{i:04}"))
                .await
                .unwrap();
        });
        // Kill once the churn is under way (20 of the new Services exist).
        let kill = async {
            wait_for("churn under way", Duration::from_secs(30), || async {
                let all = k8s::all_ips(&self.client, NS).await.ok()?;
                (all.keys().filter(|n| n.starts_with('n')).count() >= 20).then_some(())
            })
            .await
            .unwrap();
            self.lab.kill(leader_component).unwrap();
        };
        tokio::join!(create, delete, kill);
        let final_ = self
            .all_allocated(COUNT + 1 + 100 - 50, Duration::from_secs(90))
            .await;
        assert_unique(&final_);
        let survivors: BTreeMap<_, _> = after
            .iter()
            .filter(|(n, _)| final_.contains_key(*n))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let kept: BTreeMap<_, _> = final_
            .iter()
            .filter(|(n, _)| survivors.contains_key(*n))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        assert_same(&survivors, &kept, "leader killed during churn");
        assert_ne!(self.leader().await, leader, "the standby took over");
        self.lab.start(leader_component).unwrap();
        self.lab
            .wait_ready(leader_component, Duration::from_secs(60))
            .await
            .unwrap();
        self.drop_pools(&["scale"]).await;
        // Cleaned up for the scenarios after it: the controller has released every address of
        // the dropped pool (a thousand status writes), so it is idle again.
        wait_for(
            "every s-scale address released",
            Duration::from_secs(180),
            || async {
                let all = k8s::all_ips(&self.client, NS).await.ok()?;
                all.values().all(Vec::is_empty).then_some(())
            },
        )
        .await
        .expect("released");
    }
}

fn assert_unique(all: &BTreeMap<String, Vec<String>>) {
    let mut seen = BTreeSet::new();
    for (name, ips) in all {
        for ip in ips {
            assert!(
                seen.insert(ip.clone()),
                "{ip} given twice (again to {name})"
            );
        }
    }
}

fn assert_same(a: &BTreeMap<String, Vec<String>>, b: &BTreeMap<String, Vec<String>>, when: &str) {
    let changed: Vec<_> = a
        .iter()
        .filter(|(n, ips)| b.get(*n) != Some(ips))
        .map(|(n, ips)| format!("{n}: {ips:?} -> {:?}", b.get(n)))
        .collect();
    assert!(
        changed.is_empty(),
        "{when}: {} addresses changed: {changed:?}",
        changed.len()
    );
}
