//! Per-pool address accounting, computed arithmetically from ranges and held-address runs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::addrset::{AddrSet, buggy_count_v4, is_buggy_v4};
use super::outcome::{FamilyUsage, PoolUsage};
use super::pool::{PoolInfo, PoolTable, Span};
use super::reserved::Reservations;
use ferrolb_core::{IpFamily, value_to_ip};

fn span_size((first, last): Span) -> u128 {
    (last - first).saturating_add(1)
}

fn family_usage(
    info: &PoolInfo<'_>,
    family: IpFamily,
    used: &AddrSet,
    reserved: &Reservations,
) -> FamilyUsage {
    let ranges = &info.ranges[family.index()];
    let total = ranges
        .iter()
        .fold(0u128, |acc, &s| acc.saturating_add(span_size(s)));
    let held = ranges.iter().fold(0u128, |acc, &(a, b)| {
        acc.saturating_add(used.count_within(a, b))
    });
    let skip_buggy = family == IpFamily::V4 && info.pool.avoid_buggy_ips;
    let available = if info.pool.disabled || info.selector_invalid() {
        0
    } else {
        info.owned[family.index()]
            .iter()
            .fold(0u128, |acc, &(a, b)| {
                let mut usable = span_size((a, b));
                let mut taken = used.count_within(a, b);
                if skip_buggy {
                    usable -= buggy_count_v4(a, b);
                    let taken_buggy = used
                        .runs_within(a, b)
                        .map(|(s, e)| buggy_count_v4(s, e))
                        .sum::<u128>();
                    taken -= taken_buggy;
                }
                // Reserved addresses not already left out above (never held in practice).
                let blocked = reserved
                    .within(family, a, b)
                    .filter(|&v| !(used.contains(v) || (skip_buggy && is_buggy_v4(v))))
                    .count() as u128;
                acc.saturating_add(usable.saturating_sub(taken).saturating_sub(blocked))
            })
    };
    FamilyUsage {
        total,
        used: held,
        available,
    }
}

/// Reserved addresses inside the pool's valid entries, ascending (IPv4 first).
fn reserved_in(info: &PoolInfo<'_>, reserved: &Reservations) -> Vec<IpAddr> {
    IpFamily::ALL
        .into_iter()
        .flat_map(|family| {
            info.ranges[family.index()]
                .iter()
                .flat_map(move |&(a, b)| reserved.within(family, a, b))
                .map(move |v| value_to_ip(family, v))
        })
        .collect()
}

/// Usage of every pool given the held addresses per family. With duplicate pool names the
/// oldest pool's figures are reported.
pub(super) fn pool_usage(
    table: &PoolTable<'_>,
    used: &[AddrSet; 2],
    reserved: &Reservations,
) -> BTreeMap<String, PoolUsage> {
    let mut out = BTreeMap::new();
    for info in &table.pools {
        out.entry(info.pool.name.clone())
            .or_insert_with(|| PoolUsage {
                ipv4: family_usage(info, IpFamily::V4, &used[0], reserved),
                ipv6: family_usage(info, IpFamily::V6, &used[1], reserved),
                conflicts: info.conflicts.clone(),
                invalid_entries: info.invalid.clone(),
                reserved: reserved_in(info, reserved),
                selector_problems: info
                    .pool
                    .allocation
                    .as_ref()
                    .map(|a| a.selector_problems())
                    .unwrap_or_default(),
            });
    }
    out
}
