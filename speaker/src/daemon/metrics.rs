//! The speaker's Prometheus metrics (served on the health API's `/metrics`).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::announcer::StatsSnapshot;

/// Labels of the rules-sync counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: String,
}

/// Every metric the speaker exports.
#[derive(Debug)]
pub struct Metrics {
    /// Addresses this node answers ARP/NDP for.
    pub announced: Gauge,
    /// Addresses of ferrolb's Services nobody answers for.
    pub silent: Gauge,
    /// Speakers gossip says are alive (this one included).
    pub live_speakers: Gauge,
    /// Desired states computed.
    pub computations: Counter,
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
    last_stats: Mutex<StatsSnapshot>,
}

impl Metrics {
    /// The metrics and the registry (prefix `ferrolb_speaker`) that exports them.
    pub fn new() -> (Metrics, Registry) {
        let mut registry = Registry::with_prefix("ferrolb_speaker");
        let m = Metrics {
            announced: Gauge::default(),
            silent: Gauge::default(),
            live_speakers: Gauge::default(),
            computations: Counter::default(),
            rule_syncs: Family::default(),
            rule_sync_seconds: Histogram::new(exponential_buckets(0.002, 2.0, 14)),
            rules_lost: Counter::default(),
            arp_replies: Counter::default(),
            na_replies: Counter::default(),
            announcements_sent: Counter::default(),
            announcer_errors: Counter::default(),
            last_stats: Mutex::new(StatsSnapshot::default()),
        };
        registry.register(
            "announced_addresses",
            "Addresses this node answers ARP/NDP for",
            m.announced.clone(),
        );
        registry.register(
            "silent_addresses",
            "Addresses nobody answers for",
            m.silent.clone(),
        );
        registry.register(
            "live_speakers",
            "Speakers gossip says are alive",
            m.live_speakers.clone(),
        );
        registry.register(
            "computations",
            "Desired states computed",
            m.computations.clone(),
        );
        registry.register(
            "rule_syncs",
            "Syncs of table inet ferrolb",
            m.rule_syncs.clone(),
        );
        registry.register(
            "rule_sync_seconds",
            "Time of successful rule syncs",
            m.rule_sync_seconds.clone(),
        );
        registry.register(
            "rules_lost",
            "Times table inet ferrolb was found deleted or written by someone else",
            m.rules_lost.clone(),
        );
        registry.register("arp_replies", "ARP replies sent", m.arp_replies.clone());
        registry.register(
            "na_replies",
            "Neighbour advertisements sent in answer",
            m.na_replies.clone(),
        );
        registry.register(
            "announcements_sent",
            "Gratuitous ARP / unsolicited NA frames sent",
            m.announcements_sent.clone(),
        );
        registry.register(
            "announcer_errors",
            "Announcer failures",
            m.announcer_errors.clone(),
        );
        (m, registry)
    }

    /// Counts one rules sync.
    pub fn rules_synced(&self, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" }.to_string();
        self.rule_syncs
            .get_or_create(&ResultLabels { result })
            .inc();
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
