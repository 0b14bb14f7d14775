//! A set of numeric addresses stored as merged runs, so that finding the lowest free address
//! skips a whole run of used ones in one lookup, whatever the size of the range.

use std::collections::BTreeMap;

/// Set of `u128` addresses kept as disjoint, non-adjacent inclusive runs `start -> end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct AddrSet {
    runs: BTreeMap<u128, u128>,
}

impl AddrSet {
    /// The run containing `value`, if any.
    fn run_of(&self, value: u128) -> Option<(u128, u128)> {
        let (&start, &end) = self.runs.range(..=value).next_back()?;
        (value <= end).then_some((start, end))
    }

    /// Whether `value` is in the set.
    pub(super) fn contains(&self, value: u128) -> bool {
        self.run_of(value).is_some()
    }

    /// Adds `value`; merges with neighbouring runs.
    pub(super) fn insert(&mut self, value: u128) {
        if self.contains(value) {
            return;
        }
        let mut start = value;
        let mut end = value;
        if let Some(before) = value.checked_sub(1).and_then(|b| self.run_of(b)) {
            start = before.0;
            self.runs.remove(&before.0);
        }
        if let Some(after_end) = value.checked_add(1).and_then(|a| self.runs.remove(&a)) {
            end = after_end;
        }
        self.runs.insert(start, end);
    }

    /// Removes `value`; splits its run if needed.
    pub(super) fn remove(&mut self, value: u128) {
        let Some((start, end)) = self.run_of(value) else {
            return;
        };
        self.runs.remove(&start);
        if start < value {
            self.runs.insert(start, value - 1);
        }
        if value < end {
            self.runs.insert(value + 1, end);
        }
    }

    /// The lowest value `>= from` that is not in the set; `None` only if everything from
    /// `from` up to `u128::MAX` is taken.
    pub(super) fn next_free(&self, from: u128) -> Option<u128> {
        match self.run_of(from) {
            Some((_, end)) => end.checked_add(1),
            None => Some(from),
        }
    }

    /// The parts of runs that fall inside `first..=last`, in ascending order.
    pub(super) fn runs_within(
        &self,
        first: u128,
        last: u128,
    ) -> impl Iterator<Item = (u128, u128)> + '_ {
        let straddling = self
            .runs
            .range(..first)
            .next_back()
            .filter(|(_, end)| **end >= first);
        straddling
            .into_iter()
            .chain(self.runs.range(first..=last))
            .map(move |(&start, &end)| (start.max(first), end.min(last)))
    }

    /// How many values of `first..=last` are in the set (saturating).
    pub(super) fn count_within(&self, first: u128, last: u128) -> u128 {
        self.runs_within(first, last).fold(0u128, |acc, (a, b)| {
            acc.saturating_add((b - a).saturating_add(1))
        })
    }
}

/// Whether the IPv4 value ends in `.0` or `.255` (the "buggy" addresses some clients mishandle).
pub(super) fn is_buggy_v4(value: u128) -> bool {
    matches!(value & 0xff, 0 | 0xff)
}

/// How many values in `first..=last` end in `.0` or `.255` (IPv4 values only).
pub(super) fn buggy_count_v4(first: u128, last: u128) -> u128 {
    // Values v in 0..=n with v % 256 == 0 plus those with v % 256 == 255.
    let upto = |n: u128| n / 256 + 1 + (n + 1) / 256;
    if first > last {
        return 0;
    }
    upto(last) - first.checked_sub(1).map_or(0, upto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(set: &AddrSet) -> Vec<(u128, u128)> {
        set.runs.iter().map(|(a, b)| (*a, *b)).collect()
    }

    #[test]
    fn insert_merges_neighbours() {
        let mut set = AddrSet::default();
        for v in [5, 7, 6, 1, 2, 9] {
            set.insert(v);
        }
        assert_eq!(runs(&set), vec![(1, 2), (5, 7), (9, 9)]);
        set.insert(8);
        assert_eq!(runs(&set), vec![(1, 2), (5, 9)]);
        set.insert(6);
        assert_eq!(runs(&set), vec![(1, 2), (5, 9)]);
    }

    #[test]
    fn remove_splits_runs() {
        let mut set = AddrSet::default();
        (10..=20).for_each(|v| set.insert(v));
        set.remove(15);
        assert_eq!(runs(&set), vec![(10, 14), (16, 20)]);
        set.remove(10);
        set.remove(20);
        set.remove(99);
        assert_eq!(runs(&set), vec![(11, 14), (16, 19)]);
        assert!(!set.contains(15) && set.contains(16));
    }

    #[test]
    fn next_free_skips_runs() {
        let mut set = AddrSet::default();
        (0..1000).for_each(|v| set.insert(v));
        assert_eq!(set.next_free(0), Some(1000));
        assert_eq!(set.next_free(1000), Some(1000));
        set.insert(u128::MAX);
        assert_eq!(set.next_free(u128::MAX), None);
        assert_eq!(set.next_free(u128::MAX - 1), Some(u128::MAX - 1));
    }

    #[test]
    fn counting_within_bounds() {
        let mut set = AddrSet::default();
        [1, 2, 3, 10, 11, 20]
            .into_iter()
            .for_each(|v| set.insert(v));
        assert_eq!(set.count_within(2, 10), 3);
        assert_eq!(set.count_within(0, u128::MAX), 6);
        assert_eq!(set.count_within(4, 9), 0);
        assert_eq!(
            set.runs_within(2, 10).collect::<Vec<_>>(),
            vec![(2, 3), (10, 10)]
        );
        let mut full = AddrSet::default();
        full.runs.insert(0, u128::MAX);
        assert_eq!(full.count_within(0, u128::MAX), u128::MAX, "saturates");
    }

    #[test]
    fn buggy_addresses() {
        assert!(is_buggy_v4(0x0a00_0000) && is_buggy_v4(0x0a00_00ff) && !is_buggy_v4(0x0a00_0001));
        assert_eq!(buggy_count_v4(0, 255), 2);
        assert_eq!(buggy_count_v4(1, 254), 0);
        assert_eq!(buggy_count_v4(255, 256), 2);
        assert_eq!(buggy_count_v4(0, u128::from(u32::MAX)), 2 * (1 << 24));
        let brute = (300u128..=1000).filter(|v| is_buggy_v4(*v)).count() as u128;
        assert_eq!(buggy_count_v4(300, 1000), brute);
    }
}
