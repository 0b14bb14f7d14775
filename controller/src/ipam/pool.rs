//! Compiled pools: parsed ranges per family, ownership of overlapping addresses, coverage
//! lookup and lowest-free-address search. Nothing here enumerates addresses.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::addrset::{AddrSet, is_buggy_v4};
use super::model::Pool;
use super::outcome::{InvalidEntry, PoolConflict};
use ferrolb_core::{AddrRange, IpFamily, max_value, parse_address};

/// Inclusive numeric range.
pub(super) type Span = (u128, u128);

/// One pool after parsing. Pools are identified by their rank (index in [`PoolTable::pools`]).
pub(super) struct PoolInfo<'a> {
    /// The pool as given.
    pub(super) pool: &'a Pool,
    /// Valid entries per family index, sorted and merged.
    pub(super) ranges: [Vec<Span>; 2],
    /// The part of `ranges` no older pool covers: only these may be allocated from this pool.
    pub(super) owned: [Vec<Span>; 2],
    /// Entries that failed to parse.
    pub(super) invalid: Vec<InvalidEntry>,
    /// Older pools this one overlaps.
    pub(super) conflicts: Vec<PoolConflict>,
    /// Invalid `serviceAllocation` selectors (see [`super::invalid_selector`]).
    pub(super) selector_errors: Vec<String>,
}

impl PoolInfo<'_> {
    /// Whether the pool has any valid address of `family`.
    pub(super) fn has_family(&self, family: IpFamily) -> bool {
        !self.ranges[family.index()].is_empty()
    }

    /// Whether a `serviceAllocation` selector is invalid: no new allocation, holders keep.
    pub(super) fn selector_invalid(&self) -> bool {
        !self.selector_errors.is_empty()
    }
}

/// A stretch of addresses covered by the same pools (ranks ascending: the owner first).
struct Segment {
    start: u128,
    end: u128,
    pools: Vec<usize>,
}

/// All pools, ranked by age (`creation_order`, then name), with a coverage index per family.
pub(super) struct PoolTable<'a> {
    /// Pools in rank order.
    pub(super) pools: Vec<PoolInfo<'a>>,
    segments: [Vec<Segment>; 2],
    by_name: HashMap<&'a str, usize>,
}

impl<'a> PoolTable<'a> {
    /// Parses and indexes `pools`.
    pub(super) fn new(pools: &'a [Pool]) -> PoolTable<'a> {
        let mut sorted: Vec<&Pool> = pools.iter().collect();
        sorted.sort_by(|a, b| (&a.creation_order, &a.name).cmp(&(&b.creation_order, &b.name)));
        let mut infos: Vec<PoolInfo<'a>> = sorted.into_iter().map(compile).collect();
        let mut by_name = HashMap::new();
        for (rank, info) in infos.iter().enumerate() {
            by_name.entry(info.pool.name.as_str()).or_insert(rank);
        }
        let segments = IpFamily::ALL.map(|family| build_segments(&infos, family));
        assign_ownership(&mut infos, &segments);
        PoolTable {
            pools: infos,
            segments,
            by_name,
        }
    }

    /// Rank of the pool called `name`.
    pub(super) fn rank_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Ranks of the pools whose valid entries contain `value`, oldest (the owner) first.
    pub(super) fn covering(&self, family: IpFamily, value: u128) -> &[usize] {
        let segments = &self.segments[family.index()];
        let after = segments.partition_point(|s| s.start <= value);
        match after.checked_sub(1).and_then(|i| segments.get(i)) {
            Some(seg) if value <= seg.end => &seg.pools,
            _ => &[],
        }
    }

    /// Lowest address of `family` that pool `rank` may allocate and `used` does not hold.
    /// Honours ownership and `avoid_buggy_ips`, but not `disabled`/`auto_assign` (callers do).
    pub(super) fn find_free(&self, rank: usize, family: IpFamily, used: &AddrSet) -> Option<u128> {
        let info = self.pools.get(rank)?;
        let skip_buggy = family == IpFamily::V4 && info.pool.avoid_buggy_ips;
        for &(first, last) in &info.owned[family.index()] {
            let mut candidate = first;
            while let Some(free) = used.next_free(candidate) {
                if free > last {
                    break;
                }
                if skip_buggy && is_buggy_v4(free) {
                    match free.checked_add(1) {
                        Some(next) => candidate = next,
                        None => break,
                    }
                    continue;
                }
                return Some(free);
            }
        }
        None
    }
}

fn compile(pool: &Pool) -> PoolInfo<'_> {
    let mut ranges: [Vec<Span>; 2] = [Vec::new(), Vec::new()];
    let mut invalid = Vec::new();
    for entry in &pool.addresses {
        match parse_address(entry) {
            Ok(range) => {
                ranges[range.family().index()].push((range.first_value(), range.last_value()))
            }
            Err(error) => invalid.push(InvalidEntry {
                entry: entry.clone(),
                error,
            }),
        }
    }
    let ranges = ranges.map(merge_spans);
    PoolInfo {
        pool,
        ranges,
        owned: [Vec::new(), Vec::new()],
        invalid,
        conflicts: Vec::new(),
        selector_errors: pool
            .allocation
            .as_ref()
            .map(|a| a.selector_errors())
            .unwrap_or_default(),
    }
}

/// Sorts spans and merges overlapping or adjacent ones.
pub(super) fn merge_spans(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if last.1.checked_add(1).is_none_or(|next| start <= next) => {
                last.1 = last.1.max(end);
            }
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Sweeps all pools' ranges of `family` into stretches covered by the same set of pools.
fn build_segments(infos: &[PoolInfo<'_>], family: IpFamily) -> Vec<Segment> {
    // (position, is_start, rank): ends are recorded at end + 1.
    let mut events: Vec<(u128, bool, usize)> = Vec::new();
    for (rank, info) in infos.iter().enumerate() {
        for &(start, end) in &info.ranges[family.index()] {
            events.push((start, true, rank));
            if let Some(after) = end.checked_add(1).filter(|_| end < max_value(family)) {
                events.push((after, false, rank));
            }
        }
    }
    events.sort_unstable();
    let mut active: BTreeSet<usize> = BTreeSet::new();
    let mut segments = Vec::new();
    let mut i = 0;
    while let Some(&(pos, _, _)) = events.get(i) {
        while let Some(&(_, is_start, rank)) = events.get(i).filter(|e| e.0 == pos) {
            if is_start {
                active.insert(rank);
            } else {
                active.remove(&rank);
            }
            i += 1;
        }
        if active.is_empty() {
            continue;
        }
        let end = match events.get(i) {
            Some(&(next, _, _)) => next - 1,
            None => max_value(family),
        };
        segments.push(Segment {
            start: pos,
            end,
            pools: active.iter().copied().collect(),
        });
    }
    segments
}

/// Fills `owned` (stretches whose oldest covering pool is this one) and `conflicts`.
fn assign_ownership(infos: &mut [PoolInfo<'_>], segments: &[Vec<Segment>; 2]) {
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    for family in IpFamily::ALL {
        for seg in &segments[family.index()] {
            let Some(&owner) = seg.pools.first() else {
                continue;
            };
            if let Some(info) = infos.get_mut(owner) {
                let owned = &mut info.owned[family.index()];
                match owned.last_mut() {
                    Some(last) if last.1.checked_add(1) == Some(seg.start) => last.1 = seg.end,
                    _ => owned.push((seg.start, seg.end)),
                }
            }
            for (i, &older) in seg.pools.iter().enumerate() {
                for &younger in seg.pools.iter().skip(i + 1) {
                    if !seen.insert((younger, older)) {
                        continue;
                    }
                    let Some(overlap) = AddrRange::from_values(family, seg.start, seg.end) else {
                        continue;
                    };
                    let older_name = infos
                        .get(older)
                        .map(|o| o.pool.name.clone())
                        .unwrap_or_default();
                    if let Some(info) = infos.get_mut(younger) {
                        let pool = info.pool.name.clone();
                        info.conflicts.push(PoolConflict {
                            pool,
                            overlaps_with: older_name,
                            overlap,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolb_core::ip_to_value;

    fn v(s: &str) -> u128 {
        ip_to_value(s.parse().unwrap())
    }

    fn pool(name: &str, created: i64, addrs: &[&str]) -> Pool {
        let mut p = Pool::new(name, addrs);
        p.creation_order = (created, name.to_string());
        p
    }

    #[test]
    fn merges_and_reports_invalid_entries() {
        let pools = [pool(
            "a",
            0,
            &[
                "10.0.0.0/30",
                "10.0.0.4-10.0.0.5",
                "nonsense",
                "2001:db8::/127",
            ],
        )];
        let table = PoolTable::new(&pools);
        let info = &table.pools[0];
        assert_eq!(info.ranges[0], vec![(v("10.0.0.0"), v("10.0.0.5"))]);
        assert_eq!(info.ranges[1].len(), 1);
        assert_eq!(info.invalid.len(), 1);
        assert_eq!(info.invalid[0].entry, "nonsense");
    }

    #[test]
    fn older_pool_owns_overlap_and_younger_reports_conflict() {
        let pools = [
            pool("young", 5, &["10.0.0.0/29"]),
            pool("old", 1, &["10.0.0.4-10.0.0.12"]),
        ];
        let table = PoolTable::new(&pools);
        assert_eq!(table.pools[0].pool.name, "old");
        assert_eq!(table.covering(IpFamily::V4, v("10.0.0.5")), &[0, 1]);
        assert_eq!(table.covering(IpFamily::V4, v("10.0.0.1")), &[1]);
        assert!(table.covering(IpFamily::V4, v("10.0.0.13")).is_empty());
        assert_eq!(
            table.pools[1].owned[0],
            vec![(v("10.0.0.0"), v("10.0.0.3"))]
        );
        assert_eq!(
            table.pools[0].owned[0],
            vec![(v("10.0.0.4"), v("10.0.0.12"))]
        );
        let conflicts = &table.pools[1].conflicts;
        assert_eq!(conflicts.len(), 1);
        assert_eq!(
            (
                conflicts[0].pool.as_str(),
                conflicts[0].overlaps_with.as_str()
            ),
            ("young", "old")
        );
        assert_eq!(conflicts[0].overlap.to_string(), "10.0.0.4-10.0.0.7");
        assert!(table.pools[0].conflicts.is_empty());
    }

    #[test]
    fn find_free_skips_used_runs_and_buggy_addresses() {
        let mut p = pool("a", 0, &["10.0.0.254-10.0.1.2"]);
        let table = PoolTable::new(std::slice::from_ref(&p));
        let mut used = AddrSet::default();
        assert_eq!(
            table.find_free(0, IpFamily::V4, &used),
            Some(v("10.0.0.254"))
        );
        used.insert(v("10.0.0.254"));
        assert_eq!(
            table.find_free(0, IpFamily::V4, &used),
            Some(v("10.0.0.255"))
        );
        p.avoid_buggy_ips = true;
        let table = PoolTable::new(std::slice::from_ref(&p));
        assert_eq!(table.find_free(0, IpFamily::V4, &used), Some(v("10.0.1.1")));
        used.insert(v("10.0.1.1"));
        used.insert(v("10.0.1.2"));
        assert_eq!(table.find_free(0, IpFamily::V4, &used), None);
        assert_eq!(table.find_free(0, IpFamily::V6, &used), None);
    }

    #[test]
    fn huge_ranges_cost_nothing() {
        let pools = [
            pool("all", 0, &["::/0"]),
            pool("big", 1, &["2001:db8::/32"]),
        ];
        let table = PoolTable::new(&pools);
        let mut used = AddrSet::default();
        (0..10_000u128).for_each(|x| used.insert(x));
        assert_eq!(table.find_free(0, IpFamily::V6, &used), Some(10_000));
        assert!(
            table.pools[1].owned[1].is_empty(),
            "fully shadowed by the older ::/0"
        );
        assert_eq!(table.covering(IpFamily::V6, u128::MAX), &[0]);
        assert_eq!(table.pools[1].conflicts.len(), 1);
        assert_eq!(table.rank_of("big"), Some(1));
    }
}
