//! Gossip timings. The defaults aim at noticing a dead speaker in well under a second on a LAN
//! of a few nodes; every field can be set from the speaker's flags.

use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

/// Timings and sizes of the gossip. See the module documentation of
/// [`membership`](super) for what the defaults give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipConfig {
    /// Each speaker probes one member (round-robin over a shuffled list) this often; a probe
    /// not answered by the next period makes the member suspect. Default 150 ms (with 300 ms of
    /// suspicion, a crash is noticed by every speaker within about 0.5–0.85 s on a LAN).
    pub probe_period: Duration,
    /// How long a direct ping may go unanswered before asking others to ping indirectly.
    /// A LAN round trip is well under 1 ms; 75 ms leaves room for a busy node. Must be below
    /// `probe_period` (default 75 ms).
    pub probe_rtt: Duration,
    /// How many members are asked to ping indirectly. Default 3.
    pub num_indirect_probes: NonZeroUsize,
    /// A suspect member that does not refute within this time is declared down. Default 300 ms:
    /// a live member refutes within one round trip of hearing the suspicion, which the periodic
    /// gossip spreads every `gossip_period`.
    pub suspect_to_down_after: Duration,
    /// Updates (suspicion, down, new members, interface lists) are also pushed to
    /// `gossip_fanout` random members this often while any is pending. Default 100 ms.
    pub gossip_period: Duration,
    /// Members per periodic gossip. Default 3.
    pub gossip_fanout: NonZeroUsize,
    /// How many messages carry each update. Default 8 (plenty below ~50 nodes).
    pub max_transmissions: NonZeroU8,
    /// Ask one member for its member list this often (finds members a join missed).
    /// Default 5 s.
    pub announce_period: Duration,
    /// Announce to members considered down this often, to heal partitions. Default 1 s.
    pub announce_to_down_period: Duration,
    /// Announce to seeds that are not live members this often (joining, rejoining after a
    /// partition or a restart). Default 1 s.
    pub join_interval: Duration,
    /// Seeds announced to per `join_interval` at most (taken in turn). Default 8.
    pub max_seeds_per_join: NonZeroUsize,
    /// Re-send this node's interface list this often even without a change, so that a member
    /// that missed it catches up. Default 10 s.
    pub info_refresh: Duration,
    /// A down member is forgotten after this long. Default 1 h.
    pub remove_down_after: Duration,
    /// Largest datagram sent or accepted (below a 1500-byte MTU). Default 1400.
    pub max_packet_size: NonZeroUsize,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            probe_period: Duration::from_millis(150),
            probe_rtt: Duration::from_millis(75),
            num_indirect_probes: NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
            suspect_to_down_after: Duration::from_millis(300),
            gossip_period: Duration::from_millis(100),
            gossip_fanout: NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
            max_transmissions: NonZeroU8::new(8).unwrap_or(NonZeroU8::MIN),
            announce_period: Duration::from_secs(5),
            announce_to_down_period: Duration::from_secs(1),
            join_interval: Duration::from_secs(1),
            max_seeds_per_join: NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN),
            info_refresh: Duration::from_secs(10),
            remove_down_after: Duration::from_secs(3600),
            max_packet_size: NonZeroUsize::new(1400).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// A configuration foca would misbehave with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} must not be zero")]
    Zero(&'static str),
    #[error("probe_rtt ({rtt:?}) must be below probe_period ({period:?})")]
    RttNotBelowPeriod { rtt: Duration, period: Duration },
    #[error("max_packet_size {0} is outside 512..=65000")]
    PacketSize(usize),
}

impl MembershipConfig {
    /// Checks the values foca relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let durations = [
            ("probe_period", self.probe_period),
            ("probe_rtt", self.probe_rtt),
            ("suspect_to_down_after", self.suspect_to_down_after),
            ("gossip_period", self.gossip_period),
            ("announce_period", self.announce_period),
            ("announce_to_down_period", self.announce_to_down_period),
            ("join_interval", self.join_interval),
            ("info_refresh", self.info_refresh),
            ("remove_down_after", self.remove_down_after),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(ConfigError::Zero(name));
        }
        if self.probe_rtt >= self.probe_period {
            return Err(ConfigError::RttNotBelowPeriod {
                rtt: self.probe_rtt,
                period: self.probe_period,
            });
        }
        let size = self.max_packet_size.get();
        if !(512..=65000).contains(&size) {
            return Err(ConfigError::PacketSize(size));
        }
        Ok(())
    }

    /// The foca configuration.
    pub fn foca(&self) -> foca::Config {
        let mut c = foca::Config::simple();
        c.probe_period = self.probe_period;
        c.probe_rtt = self.probe_rtt;
        c.num_indirect_probes = self.num_indirect_probes;
        c.max_transmissions = self.max_transmissions;
        c.suspect_to_down_after = self.suspect_to_down_after;
        c.remove_down_after = Some(self.remove_down_after);
        c.max_packet_size = self.max_packet_size;
        // Tell a member we consider down, so that it renews its identity and rejoins.
        c.notify_down_members = true;
        c.periodic_announce = Some(foca::PeriodicParams {
            frequency: self.announce_period,
            num_members: NonZeroUsize::MIN,
        });
        c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
            frequency: self.announce_to_down_period,
            num_members: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        });
        c.periodic_gossip = Some(foca::PeriodicParams {
            frequency: self.gossip_period,
            num_members: self.gossip_fanout,
        });
        c
    }

    /// Budget for this node's encoded interface list: what is left of a datagram after a
    /// header with two identities and a few member updates.
    pub fn info_budget(&self) -> usize {
        self.max_packet_size.get().saturating_sub(400)
    }
}
