//! The speaker's Prometheus metrics (served on `--metrics-addr`, behind the access review).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrolb_runtime::metrics::{Registrar, ResultLabels};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::announcer::StatsSnapshot;
use crate::dataplane::DecisionMetrics;
use crate::election::Election;
use crate::health::HealthRequests;
use crate::membership::GossipDrops;

use super::events::TakeoverCause;
use super::gossip_keys::KeyMetrics;

/// Labels of one address this node announces, per interface and Service.
#[derive(Debug, EncodeLabelSet)]
struct VipLabels {
    /// This node.
    node: String,
    /// The interface answering ARP/NDP for it.
    interface: String,
    /// `namespace/name` of a Service using the address (one series per sharing Service).
    service: String,
    /// The address.
    address: String,
}

/// Labels of the takeovers counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TakeoverLabels {
    /// `speaker_down`, `ineligible`, `outranked` or `unassigned` ([`TakeoverCause`]).
    pub reason: String,
}

/// `vip_announced`, encoded at each scrape from the last election this node computed: one
/// series per address it wins, interface and Service, none kept between scrapes. (Kept as a
/// `Family` with the set of the last series beside it, they took about 1.7 MB for the 3,300
/// addresses one of three speakers answers at 10,000 Services, and the `Family`'s hash table
/// kept the size of the most the node ever announced: 4.8 MB in one heap profile; issue 21.)
#[derive(Clone, Debug, Default)]
pub struct AnnouncedVips {
    /// The last election and this node's name (shared by the clone the registry holds).
    last: Arc<Mutex<Option<NodeElection>>>,
}

/// An election and the node whose wins it exports.
type NodeElection = (Arc<Election>, String);

impl AnnouncedVips {
    /// Series from now on: what `node` wins in `election` (the step's, shared, not copied).
    pub fn set(&self, election: Arc<Election>, node: &str) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((election, node.to_string()));
        }
    }
}

impl Collector for AnnouncedVips {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let last = self.last.lock().ok().and_then(|l| l.clone());
        let mut family = encoder.encode_descriptor(
            "vip_announced",
            "1 while this node answers ARP/NDP for the address on the interface for the Service; gone when it stops",
            None,
            MetricType::Gauge,
        )?;
        let Some((election, node)) = last else {
            return Ok(());
        };
        for (ip, d) in &election.per_ip {
            if d.winner.as_deref() != Some(node.as_str()) {
                continue;
            }
            let address = ip.to_string();
            for interface in d.interfaces.iter() {
                for service in &d.services {
                    let labels = VipLabels {
                        node: node.clone(),
                        interface: interface.clone(),
                        service: service.to_string(),
                        address: address.clone(),
                    };
                    ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// A histogram of durations from 2 ms to 16 s (buckets doubling).
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.002, 2.0, 14))
}

/// Every metric the speaker exports.
#[derive(Debug)]
pub struct Metrics {
    /// Addresses this node answers ARP/NDP for.
    pub announced: Gauge,
    /// 1 per address, interface and Service this node announces; gone when it stops.
    pub vip_announced: AnnouncedVips,
    /// Addresses this node took over, by [`TakeoverCause`].
    pub takeovers: Family<TakeoverLabels, Counter>,
    /// Health API requests by kind of path and code.
    pub health_requests: HealthRequests,
    /// Addresses of ferrolb's Services nobody answers for.
    pub silent: Gauge,
    /// Speakers gossip says are alive (this one included).
    pub live_speakers: Gauge,
    /// Desired states computed.
    pub computations: Counter,
    /// Changes after which the desired state was not computed: nothing it is computed from
    /// changed ([`crate::nodestate::Basis`]).
    pub unchanged: Counter,
    /// Time of each step, computed or not: from the snapshot to every part handed over (the
    /// ruleset built, when the node programs rules).
    pub step_seconds: Histogram,
    /// Of the steps that computed a desired state, the time from the snapshot to the
    /// announcer handed its part (the rows and the election).
    pub elect_seconds: Histogram,
    /// Of the same steps, the time from noticing the change they answer to the announcer
    /// handed its part: the pause for the last step to cool down ([`ferrolb_runtime::pace`])
    /// and the step's own time to the election.
    pub to_announce_seconds: Histogram,
    /// Rule syncs by result.
    pub rule_syncs: Family<ResultLabels, Counter>,
    /// Time of successful rule syncs.
    pub rule_sync_seconds: Histogram,
    /// Times the table was found deleted or written by someone else.
    pub rules_lost: Counter,
    /// ARP replies sent.
    pub arp_replies: Counter,
    /// Neighbour advertisements sent in answer to solicitations.
    pub na_replies: Counter,
    /// Gratuitous ARP / unsolicited NA frames sent.
    pub announcements_sent: Counter,
    /// Announcer failures (interface could not be opened, socket errors).
    pub announcer_errors: Counter,
    /// The dataplane decision: `dataplane_programming` and `dataplane_decision_changes{to}`.
    pub dataplane: DecisionMetrics,
    /// Gossip datagrams dropped, by reason.
    pub gossip_dropped: GossipDrops,
    /// The gossip keys: how many are accepted, whether the Secret is usable.
    pub gossip_keys: KeyMetrics,
    last_stats: Mutex<StatsSnapshot>,
}

impl Metrics {
    /// The metrics and the registry (prefix `ferrolb_speaker`) that exports them.
    pub fn new() -> (Metrics, Registry) {
        let mut r = Registrar::new("ferrolb_speaker");
        let m = Metrics {
            announced: r.metric(
                "announced_addresses",
                "Addresses this node answers ARP/NDP for",
            ),
            vip_announced: AnnouncedVips::default(),
            takeovers: r.metric(
                "takeovers",
                "Addresses this node started answering for, by what became of the node that answered before (speaker_down, ineligible, outranked, unassigned)",
            ),
            health_requests: HealthRequests::new(r.metric(
                "health_requests",
                "Health API requests by kind of path (healthz, livez, service, node_port, other) and code",
            )),
            silent: r.metric("silent_addresses", "Addresses nobody answers for"),
            live_speakers: r.metric("live_speakers", "Speakers gossip says are alive"),
            computations: r.metric("computations", "Desired states computed"),
            unchanged: r.metric(
                "unchanged_inputs",
                "Changes of watched objects after which nothing the desired state is computed from had changed (no step)",
            ),
            step_seconds: r.register(
                "step_seconds",
                "Time of each step, computed or not: from the snapshot to every part handed over",
                seconds_histogram(),
            ),
            elect_seconds: r.register(
                "elect_seconds",
                "Of the steps that computed a desired state, the time from the snapshot to the announcer handed its part",
                seconds_histogram(),
            ),
            to_announce_seconds: r.register(
                "to_announce_seconds",
                "Of the steps that computed a desired state, the time from noticing the change they answer to the announcer handed its part (the pause for the last step included)",
                seconds_histogram(),
            ),
            rule_syncs: r.metric("rule_syncs", "Syncs of table inet ferrolb"),
            rule_sync_seconds: r.register(
                "rule_sync_seconds",
                "Time of successful rule syncs",
                seconds_histogram(),
            ),
            rules_lost: r.metric(
                "rules_lost",
                "Times table inet ferrolb was found deleted or written by someone else",
            ),
            arp_replies: r.metric("arp_replies", "ARP replies sent"),
            na_replies: r.metric("na_replies", "Neighbour advertisements sent in answer"),
            announcements_sent: r.metric(
                "announcements_sent",
                "Gratuitous ARP / unsolicited NA frames sent",
            ),
            announcer_errors: r.metric("announcer_errors", "Announcer failures"),
            dataplane: DecisionMetrics {
                programming: r.metric(
                    "dataplane_programming",
                    "1 while this node programs table inet ferrolb, 0 while announce-only",
                ),
                changes: r.metric(
                    "dataplane_decision_changes",
                    "Changes of the dataplane decision, by what it changed to (nftables or announce-only)",
                ),
            },
            gossip_dropped: r.metric(
                "gossip_dropped",
                "Gossip datagrams dropped unread, by reason (malformed, unknown_key, bad_tag, stale, replayed)",
            ),
            gossip_keys: KeyMetrics {
                keys: r.metric(
                    "gossip_keys",
                    "Gossip keys accepted (0 until a usable key is loaded: no gossip)",
                ),
                usable: r.metric(
                    "gossip_secret_usable",
                    "1 when the gossip keys' Secret is usable, 0 when missing or invalid (the last usable keys stay in use)",
                ),
            },
            last_stats: Mutex::new(StatsSnapshot::default()),
        };
        r.collector(m.vip_announced.clone());
        // Every reason from 0, so that rate() sees the first takeover.
        for cause in TakeoverCause::ALL {
            m.takeovers
                .get_or_create(&TakeoverLabels::of(cause))
                .inc_by(0);
        }
        (m, r.into_registry())
    }

    /// `vip_announced` from now on: what `node` wins in `election`.
    pub fn announcing(&self, election: &Arc<Election>, node: &str) {
        self.vip_announced.set(Arc::clone(election), node);
    }

    /// Counts one takeover.
    pub fn took_over(&self, cause: TakeoverCause) {
        self.takeovers
            .get_or_create(&TakeoverLabels::of(cause))
            .inc();
    }

    /// Counts one rules sync.
    pub fn rules_synced(&self, ok: bool, took: Duration) {
        self.rule_syncs.get_or_create(&ResultLabels::of(ok)).inc();
        if ok {
            self.rule_sync_seconds.observe(took.as_secs_f64());
        }
    }

    /// Counts one table found deleted or written by someone else.
    pub fn rules_lost(&self) {
        self.rules_lost.inc();
    }

    /// Brings the announcer counters up to `now` (the announcer counts in its own atomics).
    pub fn announcer(&self, now: StatsSnapshot) {
        let Ok(mut last) = self.last_stats.lock() else {
            return;
        };
        self.arp_replies
            .inc_by(now.arp_replies.saturating_sub(last.arp_replies));
        self.na_replies
            .inc_by(now.na_replies.saturating_sub(last.na_replies));
        self.announcements_sent
            .inc_by(now.gratuitous_sent.saturating_sub(last.gratuitous_sent));
        self.announcer_errors
            .inc_by(now.errors.saturating_sub(last.errors));
        *last = now;
    }
}

impl TakeoverLabels {
    /// The labels of `cause`.
    pub fn of(cause: TakeoverCause) -> TakeoverLabels {
        TakeoverLabels {
            reason: cause.label().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::ChangeLabels;
    use crate::election::IpDecision;
    use crate::health::PathKind;
    use ferrolb_core::ServiceKey;

    fn encoded(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    fn svc(name: &str) -> ServiceKey {
        ServiceKey {
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    /// `198.51.100.10` (shared by web and api) won by `a` on eth0 and eth1; `198.51.100.11`
    /// won by `winner11`.
    fn election(winner11: &str) -> Election {
        let mut e = Election::default();
        let decision = |winner: &str, interfaces: &[&str], services: Vec<ServiceKey>| IpDecision {
            winner: Some(winner.into()),
            interfaces: interfaces.iter().map(|i| i.to_string()).collect(),
            candidates: vec!["a".into(), "b".into()].into(),
            reason: "highest score".into(),
            services,
        };
        e.per_ip.insert(
            "198.51.100.10".parse().unwrap(),
            std::sync::Arc::new(decision(
                "a",
                &["eth0", "eth1"],
                vec![svc("api"), svc("web")],
            )),
        );
        e.per_ip.insert(
            "198.51.100.11".parse().unwrap(),
            std::sync::Arc::new(decision(winner11, &["eth0"], vec![svc("db")])),
        );
        e
    }

    #[test]
    fn each_announced_vip_is_a_series_until_it_stops() {
        let (m, registry) = Metrics::new();
        m.announcing(&Arc::new(election("a")), "a");
        let text = encoded(&registry);
        for (iface, service, ip) in [
            ("eth0", "shop/api", "198.51.100.10"),
            ("eth1", "shop/api", "198.51.100.10"),
            ("eth0", "shop/web", "198.51.100.10"),
            ("eth1", "shop/web", "198.51.100.10"),
            ("eth0", "shop/db", "198.51.100.11"),
        ] {
            let series = format!(
                "ferrolb_speaker_vip_announced{{node=\"a\",interface=\"{iface}\",service=\"{service}\",address=\"{ip}\"}} 1"
            );
            assert!(text.contains(&series), "{series} not in:\n{text}");
        }
        // b took 198.51.100.11 over: its series is gone, the others stay.
        m.announcing(&Arc::new(election("b")), "a");
        let text = encoded(&registry);
        assert!(!text.contains("198.51.100.11"), "{text}");
        assert_eq!(
            text.matches("ferrolb_speaker_vip_announced{").count(),
            4,
            "{text}"
        );
        // Nothing announced: no series at all.
        m.announcing(&Arc::default(), "a");
        let text = encoded(&registry);
        assert!(!text.contains("ferrolb_speaker_vip_announced{"), "{text}");
    }

    #[test]
    fn takeovers_are_counted_by_reason_from_zero() {
        let (m, registry) = Metrics::new();
        m.took_over(TakeoverCause::SpeakerDown);
        m.took_over(TakeoverCause::SpeakerDown);
        m.took_over(TakeoverCause::Outranked);
        let text = encoded(&registry);
        for (reason, n) in [
            ("speaker_down", 2),
            ("outranked", 1),
            ("ineligible", 0),
            ("unassigned", 0),
        ] {
            let series = format!("ferrolb_speaker_takeovers_total{{reason=\"{reason}\"}} {n}");
            assert!(text.contains(&series), "{series} not in:\n{text}");
        }
    }

    #[test]
    fn health_requests_are_counted_by_path_kind_and_code() {
        let (m, registry) = Metrics::new();
        let requests = m.health_requests.clone();
        requests.count(PathKind::Healthz, 200);
        requests.count(PathKind::Healthz, 200);
        requests.count(PathKind::NodePort, 503);
        let text = encoded(&registry);
        for series in [
            "ferrolb_speaker_health_requests_total{path=\"healthz\",code=\"200\"} 2",
            "ferrolb_speaker_health_requests_total{path=\"node_port\",code=\"503\"} 1",
        ] {
            assert!(text.contains(series), "{series} not in:\n{text}");
        }
    }

    #[test]
    fn the_build_is_exported() {
        let (_, registry) = Metrics::new();
        let text = encoded(&registry);
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!(
                "ferrolb_speaker_build_info{{version=\"{version}\""
            )),
            "{text}"
        );
    }

    #[test]
    fn the_dataplane_metrics_are_exported_under_their_names() {
        let (m, registry) = Metrics::new();
        m.dataplane.programming.set(1);
        let to = ChangeLabels {
            to: "announce-only".into(),
        };
        m.dataplane.changes.get_or_create(&to).inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("ferrolb_speaker_dataplane_programming 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "ferrolb_speaker_dataplane_decision_changes_total{to=\"announce-only\"} 1"
            ),
            "{text}"
        );
    }
}
