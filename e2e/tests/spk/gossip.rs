//! The sealed gossip in the lab: forged SWIM traffic from the client changes nothing and is
//! counted; the key rotated in three steps while `web`'s VIP is served loses nothing.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrolb_core::names::GOSSIP_SECRET;
use ferrolb_e2e::lab::install::GOSSIP_PORT;
use ferrolb_e2e::lab::plan::{CLIENT, NODES};
use ferrolb_e2e::traffic::gossip::forge;
use ferrolb_e2e::wait_for;
use ferrolb_speaker::membership::Keyring;
use ferrolb_speaker::membership::keyring::new_items;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::{Spk, WIRE, speaker_on, step};

/// The speakers' namespace.
const SYSTEM: &str = "ferrolb-system";
/// A forged "down" acts within a probe period and the suspicion (about 0.5 s): watched for
/// several times that.
const AFTERMATH: Duration = Duration::from_secs(3);

/// Who answers `ip` and since when, as `web`'s ServiceAnnouncement says (a takeover, even one
/// undone at once, changes `since`).
type Owner = (String, String);

impl Spk<'_> {
    async fn owner(&self, ip: IpAddr) -> Owner {
        let want = ip.to_string();
        ferrolb_e2e::k8s::wait_announcement(&self.client, super::NS, "web", "owner", WIRE, |s| {
            let a = s.announcements.into_iter().find(|a| a.ip == want)?;
            Some((a.node, format!("{:?}", a.since)))
        })
        .await
        .expect("web's announcement")
    }

    /// One speaker's private document at `path` (`/metrics`, `/debug/state`), read as the lab's
    /// scraper (TokenReview + SubjectAccessReview).
    async fn speaker_get(&self, node: &str, path: &str) -> String {
        let (code, body) = self
            .lab
            .private_get(speaker_on(node), path)
            .await
            .expect(path);
        assert_eq!(code, 200, "{node} {path}: {body}");
        body
    }

    /// Sum over the speakers of the samples of `metric` (a name with its `_total`, labels
    /// ignored).
    async fn metric_sum(&self, metric: &str) -> f64 {
        let mut sum = 0.0;
        for n in NODES {
            sum += metric_value(&self.speaker_get(n.name(), "/metrics").await, metric);
        }
        sum
    }

    /// Every speaker's gossip members: node → alive.
    async fn members(&self) -> BTreeMap<String, BTreeMap<String, bool>> {
        let mut all = BTreeMap::new();
        for n in NODES {
            let state: Value =
                serde_json::from_str(&self.speaker_get(n.name(), "/debug/state").await)
                    .expect("json");
            let nodes = state["observed"]["gossip"]["nodes"].as_object().cloned();
            let alive = nodes
                .unwrap_or_default()
                .into_iter()
                .map(|(node, m)| (node, m["alive"].as_bool().unwrap_or(false)))
                .collect();
            all.insert(n.name().to_string(), alive);
        }
        all
    }

    async fn assert_everyone_sees_everyone(&self) {
        let all: BTreeMap<String, bool> =
            NODES.iter().map(|n| (n.name().to_string(), true)).collect();
        for (speaker, seen) in self.members().await {
            assert_eq!(seen, all, "{speaker}'s members (a forged or lost member?)");
        }
    }

    pub async fn forged_gossip(&self, ip: IpAddr) {
        step(
            "forged SWIM from the client (in clear, and sealed with a wrong key): nothing changes, all counted",
        );
        let before = self.owner(ip).await;
        self.settled("web", ip).await;
        self.assert_everyone_sees_everyone().await;
        let dropped = self
            .metric_sum("ferrolb_speaker_gossip_dropped_total")
            .await;
        let speakers: Vec<(String, SocketAddr)> = NODES
            .iter()
            .map(|n| {
                (
                    n.name().to_string(),
                    SocketAddr::new(n.host.v4.into(), GOSSIP_PORT),
                )
            })
            .collect();
        let ns = self.lab.netns_of("client").expect("client");
        let from = SocketAddr::new(CLIENT.v4.into(), GOSSIP_PORT);
        let wrong = Keyring::from_items(&new_items(&[0x5a; 32])).expect("a keyring");
        let mut sent = 0;
        for keys in [None, Some(wrong)] {
            let sealed = keys.is_some();
            let forged = forge(&ns, from, speakers.clone(), &before.0, keys).expect("forged");
            eprintln!("forged (sealed with a wrong key: {sealed}): {forged:?}");
            assert!(
                forged.learnt.is_empty(),
                "a speaker answered a forged announce with its members: {:?}",
                forged.learnt
            );
            sent += forged.sent;
        }
        tokio::time::sleep(AFTERMATH).await;
        assert_eq!(self.owner(ip).await, before, "the announcement changed");
        assert_eq!(self.answers(ip), [self.lab.mac(&before.0).expect("mac")]);
        self.assert_everyone_sees_everyone().await;
        let counted = self
            .metric_sum("ferrolb_speaker_gossip_dropped_total")
            .await
            - dropped;
        eprintln!("{sent} forged datagrams, {counted} drops counted");
        assert!(
            counted >= sent as f64,
            "{sent} forged datagrams, only {counted} counted as dropped"
        );
    }

    pub async fn gossip_rotation(&self, ip: IpAddr) {
        step(
            "the gossip key rotated in three steps while web's VIP is served: no failover, no member lost",
        );
        let before = self.owner(ip).await;
        self.settled("web", ip).await;
        let unknown = self
            .metric_sum("ferrolb_speaker_gossip_dropped_total")
            .await;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), SYSTEM);
        let secret = api
            .get(GOSSIP_SECRET)
            .await
            .expect("the gossip Secret, created by a speaker");
        let data = secret.data.unwrap_or_default();
        let old: Vec<String> = data
            .keys()
            .filter(|k| k.starts_with("key-"))
            .cloned()
            .collect();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let new = format!("key-{stamp}");
        let hex: String = (0..32)
            .map(|i| format!("{:02x}", (i * 7 + 3) as u8))
            .collect();
        let pp = PatchParams::default();
        let merge = |v: Value| Patch::Merge(v);

        step("1. add the new key: every speaker accepts it (and still sends with the old)");
        let add = json!({"stringData": {&new: hex}});
        api.patch(GOSSIP_SECRET, &pp, &merge(add))
            .await
            .expect("add");
        self.wait_keys(old.len() + 1).await;
        step("2. make it primary");
        let primary = json!({"stringData": {"primary": &new}});
        api.patch(GOSSIP_SECRET, &pp, &merge(primary))
            .await
            .expect("primary");
        tokio::time::sleep(Duration::from_secs(1)).await;
        step("3. remove the old keys");
        let remove: Value = old
            .iter()
            .map(|k| (k.clone(), Value::Null))
            .collect::<serde_json::Map<_, _>>()
            .into();
        api.patch(GOSSIP_SECRET, &pp, &merge(json!({"data": remove})))
            .await
            .expect("remove");
        self.wait_keys(1).await;

        tokio::time::sleep(AFTERMATH).await;
        assert_eq!(
            self.owner(ip).await,
            before,
            "the VIP failed over during the rotation"
        );
        self.assert_everyone_sees_everyone().await;
        let dropped = self
            .metric_sum("ferrolb_speaker_gossip_dropped_total")
            .await
            - unknown;
        assert_eq!(dropped, 0.0, "datagrams dropped during the rotation");
        assert!(!self.pods_via(ip, 3).is_empty());
    }

    /// Waits until every speaker accepts `n` keys.
    async fn wait_keys(&self, n: usize) {
        wait_for(
            &format!("every speaker holding {n} gossip keys"),
            WIRE,
            || async move {
                for node in NODES {
                    let text = self.speaker_get(node.name(), "/metrics").await;
                    if metric_value(&text, "ferrolb_speaker_gossip_keys") != n as f64 {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await
        .expect("keys loaded");
    }
}

/// Sum of the samples of `metric` in Prometheus text (`name{labels} value` or `name value`).
fn metric_value(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
