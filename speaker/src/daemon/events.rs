//! Events on Services when this node takes over one of their addresses, rate-limited per
//! Service, sent from their own task (an apiserver outage only loses events).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
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
}

/// The addresses `node` wins in `new` and did not in `old` (pure).
pub fn takeovers(old: &Election, new: &Election, node: &str) -> Vec<Takeover> {
    let before: BTreeSet<IpAddr> = old.for_node(node).into_iter().map(|(ip, _)| ip).collect();
    new.per_ip
        .iter()
        .filter(|(ip, d)| d.winner.as_deref() == Some(node) && !before.contains(ip))
        .map(|(ip, d)| Takeover {
            ip: *ip,
            services: d.services.clone(),
            reason: d.reason.clone(),
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
) -> mpsc::Sender<(Takeover, Vec<std::sync::Arc<Service>>)> {
    let (tx, mut rx) = mpsc::channel::<(Takeover, Vec<std::sync::Arc<Service>>)>(256);
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
                let Some(svc) = services.iter().find(|s| {
                    s.metadata.namespace.as_deref() == Some(key.namespace.as_str())
                        && s.metadata.name.as_deref() == Some(key.name.as_str())
                }) else {
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
                if let Err(e) = recorder.publish(&event, &svc.object_ref(&())).await {
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
        let mut e = Election::default();
        e.per_ip.insert(
            "198.51.100.200".parse().unwrap(),
            IpDecision {
                winner: winner.map(str::to_string),
                interfaces: vec!["eth0".into()],
                candidates: vec![],
                reason: "highest score".into(),
                services: vec![ServiceKey {
                    namespace: "ns".into(),
                    name: "web".into(),
                }],
            },
        );
        e
    }

    #[test]
    fn only_gained_addresses_are_takeovers() {
        let t = takeovers(&election(Some("b")), &election(Some("a")), "a");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].services[0].name, "web");
        assert!(takeovers(&election(Some("a")), &election(Some("a")), "a").is_empty());
        assert!(takeovers(&election(None), &election(Some("b")), "a").is_empty());
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
