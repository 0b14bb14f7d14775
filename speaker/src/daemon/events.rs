//! Events on Services when this node takes over one of their addresses, rate-limited per
//! Service, sent from their own task (an apiserver outage only loses events).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrolb_adapter::node_service::NodeService;
use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::election::Election;
use ferrolb_core::ServiceKey;

/// At most one takeover event per Service this often; takeovers in between are summed up in
/// the next one.
pub const EVENT_INTERVAL: Duration = Duration::from_secs(10);

/// One takeover: this node started answering for `ip` of `services`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The address.
    pub ip: IpAddr,
    /// The Services using it.
    pub services: Vec<ServiceKey>,
    /// The election's reason.
    pub reason: String,
    /// What happened to the node that answered before (the metric's `reason` label).
    pub cause: TakeoverCause,
}

/// Why this node took an address over, from what the previous step decided for it: a few
/// fixed values, so that the takeovers counter's `reason` label stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TakeoverCause {
    /// The node that answered has no live speaker any more: it left the gossip (SIGTERM, the
    /// planned handover) or was declared dead (crash, node down, partition). The gossip
    /// carries no difference between the two.
    SpeakerDown,
    /// That node's speaker is alive but the node can no longer announce the address (NotReady,
    /// excluded, no ready local endpoint for eTP=Local, no usable interface, no
    /// L2AnnouncementPolicy covering it there).
    Ineligible,
    /// That node can still announce it, but a node with a higher rendezvous score became
    /// eligible (a speaker came back, a node joined or turned Ready).
    Outranked,
    /// Nobody answered before: a new address, or one that was silent.
    Unassigned,
}

impl TakeoverCause {
    /// Every cause, in label order.
    pub const ALL: [TakeoverCause; 4] = [
        TakeoverCause::SpeakerDown,
        TakeoverCause::Ineligible,
        TakeoverCause::Outranked,
        TakeoverCause::Unassigned,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            TakeoverCause::SpeakerDown => "speaker_down",
            TakeoverCause::Ineligible => "ineligible",
            TakeoverCause::Outranked => "outranked",
            TakeoverCause::Unassigned => "unassigned",
        }
    }

    /// Why `node` wins `ip` in `new`: what became of `old`'s winner, given the speakers alive
    /// now.
    fn of(old: &Election, new: &Election, ip: IpAddr, live: &BTreeSet<String>) -> TakeoverCause {
        let Some(previous) = old.winner(ip) else {
            return TakeoverCause::Unassigned;
        };
        if !live.contains(previous) {
            return TakeoverCause::SpeakerDown;
        }
        let candidate = new
            .per_ip
            .get(&ip)
            .is_some_and(|d| d.candidates.iter().any(|c| c == previous));
        if candidate {
            TakeoverCause::Outranked
        } else {
            TakeoverCause::Ineligible
        }
    }
}

/// The addresses `node` wins in `new` and did not in `old`, each with its cause, given the
/// speakers `live` now (pure).
pub fn takeovers(
    old: &Election,
    new: &Election,
    node: &str,
    live: &BTreeSet<String>,
) -> Vec<Takeover> {
    let before: BTreeSet<IpAddr> = old.for_node(node).into_iter().map(|(ip, _)| ip).collect();
    new.per_ip
        .iter()
        .filter(|(ip, d)| d.winner.as_deref() == Some(node) && !before.contains(ip))
        .map(|(ip, d)| Takeover {
            ip: *ip,
            services: d.services.clone(),
            reason: d.reason.to_string(),
            cause: TakeoverCause::of(old, new, *ip, live),
        })
        .collect()
}

/// Rate limiter per Service (pure, given the clock).
#[derive(Debug, Default)]
pub struct Limiter {
    last: HashMap<ServiceKey, Instant>,
}

impl Limiter {
    /// Whether an event for `key` may go out at `now` (and records it if so).
    pub fn allow(&mut self, key: &ServiceKey, now: Instant) -> bool {
        match self.last.get(key) {
            Some(t) if now.saturating_duration_since(*t) < EVENT_INTERVAL => false,
            _ => {
                self.last.insert(key.clone(), now);
                true
            }
        }
    }
}

/// Starts the event task; send takeovers with `try_send` (a full queue drops them).
pub fn spawn(
    client: Client,
    node: String,
) -> mpsc::Sender<(Takeover, Vec<std::sync::Arc<NodeService>>)> {
    let (tx, mut rx) = mpsc::channel::<(Takeover, Vec<std::sync::Arc<NodeService>>)>(256);
    tokio::spawn(async move {
        let reporter = Reporter {
            controller: "ferrolb-speaker".into(),
            instance: Some(node.clone()),
        };
        let mut limiter = Limiter::default();
        while let Some((t, services)) = rx.recv().await {
            for key in &t.services {
                if !limiter.allow(key, Instant::now()) {
                    debug!(service = %key, ip = %t.ip, "takeover event rate-limited");
                    continue;
                }
                let wanted = (&*key.namespace, &*key.name);
                let Some(svc) = services.iter().find(|s| s.key_parts() == wanted) else {
                    continue;
                };
                let recorder = Recorder::new(client.clone(), reporter.clone());
                let event = Event {
                    type_: EventType::Normal,
                    reason: "Announcing".into(),
                    note: Some(format!(
                        "{} answers ARP/NDP for {}: {}",
                        node, t.ip, t.reason
                    )),
                    action: "Announce".into(),
                    secondary: None,
                };
                if let Err(e) = recorder
                    .publish(&event, &svc.service().object_ref(&()))
                    .await
                {
                    warn!(service = %key, error = %e, "publishing a takeover event failed");
                }
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election::IpDecision;

    fn election(winner: Option<&str>) -> Election {
        elected(winner, &[])
    }

    fn elected(winner: Option<&str>, candidates: &[&str]) -> Election {
        let mut e = Election::default();
        e.per_ip.insert(
            "198.51.100.200".parse().unwrap(),
            std::sync::Arc::new(IpDecision {
                winner: winner.map(str::to_string),
                interfaces: vec!["eth0".into()].into(),
                candidates: candidates.iter().map(|c| c.to_string()).collect(),
                reason: "highest score".into(),
                services: vec![ServiceKey {
                    namespace: "ns".into(),
                    name: "web".into(),
                }],
            }),
        );
        e
    }

    fn live(nodes: &[&str]) -> BTreeSet<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn only_gained_addresses_are_takeovers() {
        let all = live(&["a", "b"]);
        let t = takeovers(&election(Some("b")), &election(Some("a")), "a", &all);
        assert_eq!(t.len(), 1);
        assert_eq!(&*t[0].services[0].name, "web");
        assert!(takeovers(&election(Some("a")), &election(Some("a")), "a", &all).is_empty());
        assert!(takeovers(&election(None), &election(Some("b")), "a", &all).is_empty());
    }

    #[test]
    fn each_takeover_says_what_became_of_the_previous_node() {
        let cause = |old: Election, new: Election, alive: &[&str]| {
            let t = takeovers(&old, &new, "a", &live(alive));
            assert_eq!(t.len(), 1, "{t:?}");
            t[0].cause
        };
        let a_wins = || elected(Some("a"), &["a", "b"]);
        assert_eq!(
            cause(election(Some("b")), elected(Some("a"), &["a"]), &["a"]),
            TakeoverCause::SpeakerDown
        );
        assert_eq!(
            cause(election(Some("b")), elected(Some("a"), &["a"]), &["a", "b"]),
            TakeoverCause::Ineligible
        );
        assert_eq!(
            cause(election(Some("b")), a_wins(), &["a", "b"]),
            TakeoverCause::Outranked
        );
        assert_eq!(
            cause(election(None), a_wins(), &["a", "b"]),
            TakeoverCause::Unassigned
        );
        assert_eq!(
            cause(Election::default(), a_wins(), &["a", "b"]),
            TakeoverCause::Unassigned
        );
    }

    #[test]
    fn one_event_per_service_per_interval() {
        let mut l = Limiter::default();
        let k = ServiceKey {
            namespace: "ns".into(),
            name: "web".into(),
        };
        let t0 = Instant::now();
        assert!(l.allow(&k, t0));
        assert!(!l.allow(&k, t0 + Duration::from_secs(1)));
        assert!(l.allow(&k, t0 + EVENT_INTERVAL));
    }
}
