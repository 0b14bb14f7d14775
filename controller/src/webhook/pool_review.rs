//! Admission review of a VIPPool change against the other pools, the addresses Services hold
//! and the Nodes' addresses. Pure: plain inputs, no Kubernetes types.
//!
//! # Rules
//! - **Invalid entries** of the new `spec.addresses` are refused with the parse error, unless
//!   the same entry was already there before (an update that leaves it alone is not blamed).
//!   Entries that do not parse are otherwise ignored, in every pool.
//! - **Overlap.** Addresses the change adds (new minus old; all of new on create) that another
//!   pool also covers are refused, naming each such pool and the first shared stretch. An
//!   update that adds no address is never refused for overlap, so that pools that already
//!   overlap (created concurrently, or before the webhook) can still be edited and fixed.
//!   Ranges are compared as numbers: `::/0` costs as little as a /32.
//! - **Shrink or delete.** Addresses in use that the old pool covered and the new one does not
//!   (all of old on delete) are refused, listing the Services, unless the force annotation
//!   ([`ANN_FORCE`] = `"true"`) is set; with it the change is admitted with a warning naming
//!   the Services that will get new addresses.
//! - **Node addresses** inside the new pool are admitted with one warning: they are never
//!   allocated.
//!
//! A refusal lists every reason; refused changes carry no warnings (nothing happens).
//! Messages and warnings are kept under [`MAX_MESSAGE`] characters.

use std::cmp::{max, min};
use std::net::IpAddr;

use ferrolb_api::names::ANN_FORCE;

use ferrolb_core::{AddrRange, IpFamily, parse_address};

/// Longest admission message or warning, in characters.
pub const MAX_MESSAGE: usize = 1000;
/// How many Services or Nodes a message lists before "and N more".
const MAX_LISTED: usize = 10;
/// How many overlapping pools or invalid entries a message lists before "and N more".
const MAX_REASONS: usize = 5;

/// The change under review.
#[derive(Debug, Clone, Copy)]
pub struct PoolChange<'a> {
    /// The pool's name.
    pub name: &'a str,
    /// `spec.addresses` before the change; `None` on create.
    pub old: Option<&'a [String]>,
    /// `spec.addresses` after the change; `None` on delete.
    pub new: Option<&'a [String]>,
    /// Whether the force annotation is `"true"`.
    pub force: bool,
}

/// Another existing pool (a pool named like the change is skipped).
#[derive(Debug, Clone, Copy)]
pub struct OtherPool<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its `spec.addresses`.
    pub addresses: &'a [String],
}

/// An address a Service holds now.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InUse {
    /// `namespace/name`.
    pub service: String,
    /// The address.
    pub ip: IpAddr,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolReview {
    /// Admit the change?
    pub allowed: bool,
    /// Why not: every reason, for the user. `None` when allowed.
    pub message: Option<String>,
    /// Admission warnings (only when allowed).
    pub warnings: Vec<String>,
}

/// Reviews `change`; see the module documentation for the rules.
pub fn review_pool(
    change: &PoolChange<'_>,
    others: &[OtherPool<'_>],
    in_use: &[InUse],
    node_addresses: &[(String, IpAddr)],
) -> PoolReview {
    let old = covered(change.old.unwrap_or_default());
    let new = change.new.map(covered);
    let mut refusals = Vec::new();
    let mut warnings = Vec::new();
    refusals.extend(invalid_entries(change));
    if let Some(new) = &new {
        refusals.extend(overlaps(change.name, &subtract(new, &old), others));
    }
    let moved: Vec<String> = {
        let mut moved: Vec<&InUse> = (in_use.iter())
            .filter(|u| covers(&old, u.ip) && !new.as_ref().is_some_and(|n| covers(n, u.ip)))
            .collect();
        moved.sort();
        moved.dedup();
        moved
            .iter()
            .map(|u| format!("{} {}", u.service, u.ip))
            .collect()
    };
    if !moved.is_empty() {
        let who = listed("", &moved, MAX_LISTED, ", ");
        if change.force {
            warnings.push(format!(
                "{ANN_FORCE} is \"true\": these Services lose their addresses and will get new \
                 ones: {who}; remove the annotation afterwards so that later changes are checked"
            ));
        } else if change.new.is_none() {
            refusals.push(format!(
                "deleting VIPPool {:?} would take addresses Services hold: {who}; to delete it \
                 anyway, first annotate it (kubectl annotate vippool {} {ANN_FORCE}=true), then \
                 delete it: the Services will get new addresses",
                change.name, change.name
            ));
        } else {
            refusals.push(format!(
                "the change removes addresses Services hold: {who}; keep them in spec.addresses, \
                 or set the annotation {ANN_FORCE}: \"true\" to proceed anyway: the Services will \
                 get new addresses"
            ));
        }
    }
    if let Some(new) = &new {
        warnings.extend(node_warning(change.name, new, node_addresses));
    }
    if refusals.is_empty() {
        let warnings = warnings.into_iter().map(capped).collect();
        PoolReview {
            allowed: true,
            message: None,
            warnings,
        }
    } else {
        let message = format!("VIPPool {:?} refused: {}", change.name, refusals.join("; "));
        PoolReview {
            allowed: false,
            message: Some(capped(message)),
            warnings: Vec::new(),
        }
    }
}

/// The refusal for entries of the new spec that do not parse and were not there before.
fn invalid_entries(change: &PoolChange<'_>) -> Option<String> {
    let old = change.old.unwrap_or_default();
    let invalid: Vec<String> = (change.new.unwrap_or_default().iter())
        .filter(|e| !old.contains(e))
        .filter_map(|e| parse_address(e).err().map(|err| err.to_string()))
        .collect();
    (!invalid.is_empty()).then(|| listed("spec.addresses", &invalid, MAX_REASONS, "; "))
}

/// The warning for node addresses inside the new pool, sorted by address.
fn node_warning(name: &str, new: &[AddrRange], nodes: &[(String, IpAddr)]) -> Option<String> {
    let mut inside: Vec<(IpAddr, &str)> = (nodes.iter())
        .filter(|(_, ip)| covers(new, *ip))
        .map(|(node, ip)| (*ip, node.as_str()))
        .collect();
    inside.sort();
    inside.dedup();
    let list: Vec<String> = inside.iter().map(|(ip, n)| format!("{n} {ip}")).collect();
    (!list.is_empty()).then(|| {
        format!(
            "VIPPool {name:?} covers node addresses, which are never allocated to Services: {}",
            listed("", &list, MAX_LISTED, ", ")
        )
    })
}

/// The overlap refusal, naming every pool (sorted) that shares an address with `added`.
fn overlaps(name: &str, added: &[AddrRange], others: &[OtherPool<'_>]) -> Option<String> {
    if added.is_empty() {
        return None;
    }
    let mut others: Vec<&OtherPool<'_>> = others.iter().filter(|o| o.name != name).collect();
    others.sort_by_key(|o| o.name);
    let shared: Vec<String> = others
        .iter()
        .filter_map(|o| {
            let stretches = intersect(added, &covered(o.addresses));
            let first = stretches.first()?;
            let more = match stretches.len() - 1 {
                0 => String::new(),
                n => format!(" and {n} more stretch(es)"),
            };
            Some(format!("VIPPool {:?} ({first}{more})", o.name))
        })
        .collect();
    (!shared.is_empty()).then(|| {
        format!(
            "addresses overlap {}; an address belongs to one pool only: remove the shared \
             addresses from this pool's spec.addresses or from the other pool",
            listed("", &shared, MAX_REASONS, ", ")
        )
    })
}

/// `prefix: a, b, c and N more`, listing at most `cap` items.
fn listed(prefix: &str, items: &[String], cap: usize, sep: &str) -> String {
    let mut out = String::from(prefix);
    if !prefix.is_empty() {
        out.push_str(": ");
    }
    out.push_str(&items[..min(cap, items.len())].join(sep));
    if items.len() > cap {
        out.push_str(&format!("{sep}and {} more", items.len() - cap));
    }
    out
}

/// `text` cut to [`MAX_MESSAGE`] characters, ending in "…" when cut.
fn capped(text: String) -> String {
    if text.chars().count() <= MAX_MESSAGE {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_MESSAGE - 1).collect();
    cut.push('…');
    cut
}

/// The addresses the valid entries cover, as sorted, disjoint, non-adjacent ranges.
fn covered(entries: &[String]) -> Vec<AddrRange> {
    let mut ranges: Vec<AddrRange> = entries
        .iter()
        .filter_map(|e| parse_address(e).ok())
        .collect();
    ranges.sort();
    let mut out: Vec<AddrRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        if let Some(last) = out.last_mut()
            && last.family() == r.family()
            && last
                .last_value()
                .checked_add(1)
                .is_none_or(|next| r.first_value() <= next)
        {
            let end = max(last.last_value(), r.last_value());
            *last = range(r.family(), last.first_value(), end).unwrap_or(*last);
            continue;
        }
        out.push(r);
    }
    out
}

fn range(family: IpFamily, first: u128, last: u128) -> Option<AddrRange> {
    AddrRange::from_values(family, first, last)
}

/// Sort key of a range's end: ranges are ordered by family, then by value.
fn end_key(r: &AddrRange) -> (IpFamily, u128) {
    (r.family(), r.last_value())
}

/// Whether the ranges from [`covered`] hold `ip`.
fn covers(ranges: &[AddrRange], ip: IpAddr) -> bool {
    let key = AddrRange::single(ip);
    let at = ranges.partition_point(|r| end_key(r) < end_key(&key));
    ranges.get(at).is_some_and(|r| r.contains(ip))
}

/// The addresses in both `a` and `b` (both from [`covered`]), in the same form.
fn intersect(a: &[AddrRange], b: &[AddrRange]) -> Vec<AddrRange> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if x.overlaps(y) {
            let first = max(x.first_value(), y.first_value());
            let last = min(x.last_value(), y.last_value());
            out.extend(range(x.family(), first, last));
        }
        if end_key(x) < end_key(y) {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The addresses in `a` and not in `b` (both from [`covered`]), in the same form.
fn subtract(a: &[AddrRange], b: &[AddrRange]) -> Vec<AddrRange> {
    let mut out = Vec::new();
    let mut j = 0;
    for r in a {
        let family = r.family();
        while b
            .get(j)
            .is_some_and(|c| end_key(c) < (family, r.first_value()))
        {
            j += 1;
        }
        // `next` is the lowest address of `r` not yet known to be in `b`.
        let mut next = Some(r.first_value());
        for c in b[j..].iter().take_while(|c| c.overlaps(r)) {
            let Some(from) = next else { break };
            if c.first_value() > from {
                out.extend(range(family, from, c.first_value() - 1));
            }
            next = c
                .last_value()
                .checked_add(1)
                .filter(|n| *n <= r.last_value());
        }
        if let Some(from) = next {
            out.extend(range(family, from, r.last_value()));
        }
    }
    out
}

#[cfg(test)]
mod tests;
