//! The daemons' memory allocator and what it says about itself.
//!
//! [`Allocator`] is each binary's `#[global_allocator]` (and what the speaker's heap harness
//! counts on top of): jemalloc, with its background thread returning freed pages. With glibc's
//! malloc a speaker's step at 10,000 Services spent about a third of its time in malloc and
//! free, and its resident set stayed well above the live heap (issue 21; heap harness,
//! bench-release: steady step 76 → 60 ms, resident set 133 → 121 MB; mimalloc gave 61 ms but
//! 182–191 MB).
//!
//! Its settings are built in (`JEMALLOC_SYS_WITH_MALLOC_CONF` in `.cargo/config.toml`): freed
//! pages return to the kernel within 250 ms (jemalloc's default is 10 s, which at 10,000
//! Services kept about 30 MB of a speaker's 120 MB resident set in freed pages; 1 s until
//! issue 21's last cuts), and two arenas, not four per core. `_RJEM_MALLOC_CONF` overrides them at run time.
//!
//! [`AllocatorStats`] exports jemalloc's own counters on every scrape
//! (`PREFIX_allocator_bytes{kind}`), so that an operator (and `bench speaker`) can tell a live
//! heap that grew from pages the allocator keeps: `allocated` is what the program holds,
//! `resident` what the allocator has in RAM, `metadata` its own bookkeeping.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use tikv_jemalloc_ctl::{epoch, stats};

/// The daemons' memory allocator.
pub type Allocator = tikv_jemallocator::Jemalloc;

/// The one value of [`Allocator`].
pub const ALLOCATOR: Allocator = tikv_jemallocator::Jemalloc;

/// jemalloc's counters at one moment, in bytes (all zero in a binary whose global allocator
/// is not [`Allocator`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes the program has allocated and not freed.
    pub allocated: u64,
    /// Bytes in pages holding at least one allocation.
    pub active: u64,
    /// Bytes of the allocator's own bookkeeping.
    pub metadata: u64,
    /// Bytes the allocator has in physical memory (active, metadata and dirty pages not yet
    /// returned).
    pub resident: u64,
    /// Bytes mapped in active extents.
    pub mapped: u64,
}

/// The counters jemalloc failed to give.
#[derive(Debug, thiserror::Error)]
#[error("reading jemalloc's {what}: {source}")]
pub struct StatsError {
    what: &'static str,
    source: tikv_jemalloc_ctl::Error,
}

impl Stats {
    /// The counters now (jemalloc caches them until its epoch advances).
    pub fn read() -> Result<Stats, StatsError> {
        let at = |what: &'static str| move |source| StatsError { what, source };
        epoch::advance().map_err(at("epoch"))?;
        let bytes = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Ok(Stats {
            allocated: bytes(stats::allocated::read().map_err(at("stats.allocated"))?),
            active: bytes(stats::active::read().map_err(at("stats.active"))?),
            metadata: bytes(stats::metadata::read().map_err(at("stats.metadata"))?),
            resident: bytes(stats::resident::read().map_err(at("stats.resident"))?),
            mapped: bytes(stats::mapped::read().map_err(at("stats.mapped"))?),
        })
    }

    /// Each counter by its `kind` label.
    fn by_kind(&self) -> [(&'static str, u64); 5] {
        [
            ("allocated", self.allocated),
            ("active", self.active),
            ("metadata", self.metadata),
            ("resident", self.resident),
            ("mapped", self.mapped),
        ]
    }
}

/// Exports [`Stats`] as `allocator_bytes{kind}` on every scrape (nothing when jemalloc does
/// not answer: a scrape never fails for it).
#[derive(Debug, Default)]
pub struct AllocatorStats;

/// The `kind` label of `allocator_bytes`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

impl Collector for AllocatorStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(stats) = Stats::read() else {
            return Ok(());
        };
        let mut family = encoder.encode_descriptor(
            "allocator_bytes",
            "Memory allocator counters, by kind: allocated (held by the program), active (pages holding allocations), metadata (the allocator's own), resident (in RAM), mapped",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (kind, bytes) in stats.by_kind() {
            let value = i64::try_from(bytes).unwrap_or(i64::MAX);
            ConstGauge::new(value).encode(family.encode_family(&Kind { kind })?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // This crate's tests allocate as the daemons do, so that jemalloc has something to count.
    #[global_allocator]
    static TESTS_ALLOCATOR: Allocator = ALLOCATOR;

    #[test]
    fn what_the_program_holds_is_counted() {
        const HELD: usize = 16 << 20;
        let before = Stats::read().unwrap();
        let block = vec![7u8; HELD];
        let during = Stats::read().unwrap();
        drop(block);
        let after = Stats::read().unwrap();
        assert!(
            during.allocated >= before.allocated + HELD as u64 / 2,
            "{before:?} {during:?}"
        );
        assert!(during.resident >= HELD as u64, "{during:?}");
        assert!(
            after.allocated + (HELD as u64) / 2 <= during.allocated,
            "{during:?} {after:?}"
        );
    }

    #[test]
    fn the_built_in_settings_are_in_effect() {
        assert_eq!(tikv_jemalloc_ctl::opt::narenas::read().unwrap(), 2);
        assert!(tikv_jemalloc_ctl::opt::background_thread::read().unwrap());
    }

    #[test]
    fn every_registry_exports_the_counters() {
        let mut text = String::new();
        let registry = crate::metrics::Registrar::new("test").into_registry();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for kind in ["allocated", "active", "metadata", "resident", "mapped"] {
            let series = format!("test_allocator_bytes{{kind=\"{kind}\"}} ");
            let line = text.lines().find(|l| l.starts_with(&series));
            let value: Option<u64> = line.and_then(|l| l[series.len()..].parse().ok());
            assert!(value.is_some_and(|v| v > 0), "{series} not in:\n{text}");
        }
    }
}
