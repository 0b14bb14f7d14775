//! Reserved addresses (typically Node addresses): pools may cover them, but they are never
//! allocated, a Service holding one gives it up, and an explicit request for one is refused.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::addrset::AddrSet;
use super::demand::Problem;
use super::model::Reserved;
use super::outcome::FailureReason;
use ferrolb_core::{IpFamily, ip_to_value, value_to_ip};

/// Reserved addresses per family index, numeric, with why each one is reserved.
#[derive(Debug, Default)]
pub(super) struct Reservations {
    by_family: [BTreeMap<u128, String>; 2],
}

impl Reservations {
    /// Indexes `reserved` by family.
    pub(super) fn new(reserved: &Reserved) -> Reservations {
        let mut out = Reservations::default();
        for (ip, why) in reserved {
            out.by_family[IpFamily::of(*ip).index()].insert(ip_to_value(*ip), why.clone());
        }
        out
    }

    /// Why `value` is reserved, if it is.
    pub(super) fn reason(&self, family: IpFamily, value: u128) -> Option<&str> {
        self.by_family[family.index()]
            .get(&value)
            .map(String::as_str)
    }

    /// Whether `value` is reserved.
    pub(super) fn contains(&self, family: IpFamily, value: u128) -> bool {
        self.by_family[family.index()].contains_key(&value)
    }

    /// Reserved values of `family` inside `first..=last`, ascending.
    pub(super) fn within(
        &self,
        family: IpFamily,
        first: u128,
        last: u128,
    ) -> impl Iterator<Item = u128> + '_ {
        let map = &self.by_family[family.index()];
        let range = (first <= last).then(|| map.range(first..=last));
        range.into_iter().flatten().map(|(v, _)| *v)
    }

    /// Adds the reserved values of each family to `sets` (per family index): a pass's blocked
    /// addresses.
    pub(super) fn block(&self, sets: &mut [AddrSet; 2]) {
        for (map, set) in self.by_family.iter().zip(sets.iter_mut()) {
            map.keys().for_each(|v| set.insert(*v));
        }
    }

    /// Why a current address that is reserved must be given up (for `Change::Moved`).
    pub(super) fn drop_reason(&self, family: IpFamily, value: u128) -> Option<String> {
        let why = self.reason(family, value)?;
        Some(format!(
            "it is reserved{}, and reserved addresses are never given to a LoadBalancer Service",
            because(why)
        ))
    }

    /// The refusal of an explicit request for a reserved address, if `ip` is reserved.
    pub(super) fn refusal(&self, ip: IpAddr) -> Option<Problem> {
        let (family, value) = (IpFamily::of(ip), ip_to_value(ip));
        let why = self.reason(family, value)?;
        let ip = value_to_ip(family, value);
        Some(Problem::new(
            FailureReason::RequestRefused,
            format!(
                "requested address {ip} is reserved{} and is never given to a LoadBalancer \
                 Service; request another address",
                because(why)
            ),
        ))
    }
}

/// ` (why)`, or nothing when no reason was given.
fn because(why: &str) -> String {
    if why.trim().is_empty() {
        String::new()
    } else {
        format!(" ({})", why.trim())
    }
}
