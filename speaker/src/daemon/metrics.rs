//! The speaker's Prometheus metrics (served on the health API's `/metrics`).

use std::sync::Mutex;
use std::time::Duration;

use ferrolb_runtime::metrics::{Registrar, ResultLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::announcer::StatsSnapshot;
use crate::dataplane::DecisionMetrics;
use crate::membership::GossipDrops;

use super::gossip_keys::KeyMetrics;

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
            silent: r.metric("silent_addresses", "Addresses nobody answers for"),
            live_speakers: r.metric("live_speakers", "Speakers gossip says are alive"),
            computations: r.metric("computations", "Desired states computed"),
            rule_syncs: r.metric("rule_syncs", "Syncs of table inet ferrolb"),
            rule_sync_seconds: r.register(
                "rule_sync_seconds",
                "Time of successful rule syncs",
                Histogram::new(exponential_buckets(0.002, 2.0, 14)),
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
        (m, r.into_registry())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::ChangeLabels;

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
