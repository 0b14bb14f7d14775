//! VIPPool address entries (`spec.addresses`) as inclusive numeric ranges: the one parser
//! the CRD's validation, the controller, the speaker and the edge agree with.
//!
//! An entry is a CIDR (`198.51.100.0/24`, `2001:db8::/64`), an inclusive range
//! (`198.51.100.10-198.51.100.20`, spaces around `-` tolerated) or a single address
//! (treated as a /32 or /128). Addresses are mapped to `u128` per family so that
//! ranges of any size cost the same memory: nothing is ever enumerated.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::IpFamily;

/// The numeric value of `ip` within its family (IPv4 uses the low 32 bits).
pub fn ip_to_value(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address with numeric `value` in `family`; IPv4 values above `u32::MAX` saturate.
pub fn value_to_ip(family: IpFamily, value: u128) -> IpAddr {
    match family {
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX))),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// Why an address entry could not be parsed. Every message names the entry and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The entry is empty or only whitespace.
    #[error(
        "address entry is blank; write a CIDR such as 198.51.100.0/24, a range such as \
         198.51.100.10-198.51.100.20, or a single address, or remove the entry"
    )]
    Blank,
    /// The entry is not a CIDR, range or address.
    #[error(
        "address entry {entry:?} is not valid: {problem}; write a CIDR such as 198.51.100.0/24, \
         a range such as 198.51.100.10-198.51.100.20, or a single address"
    )]
    Malformed {
        /// The entry as written.
        entry: String,
        /// What exactly is wrong.
        problem: String,
    },
    /// A range whose two ends are of different families.
    #[error(
        "address range {entry:?} mixes IPv4 and IPv6; both ends must be the same family: \
         split it into one IPv4 entry and one IPv6 entry"
    )]
    MixedFamilies {
        /// The entry as written.
        entry: String,
    },
    /// A range whose start is above its end.
    #[error("address range {entry:?} starts after it ends; write it as {end}-{start}")]
    StartAfterEnd {
        /// The entry as written.
        entry: String,
        /// The first address as written.
        start: IpAddr,
        /// The last address as written.
        end: IpAddr,
    },
    /// A CIDR whose address has bits set beyond the prefix (e.g. `198.51.100.7/24`).
    #[error(
        "CIDR {entry:?} has host bits set after the /{prefix} prefix: did you mean \
         {network}/{prefix} (the whole network) or {address}/{host_prefix} (that one address)?"
    )]
    HostBitsSet {
        /// The entry as written.
        entry: String,
        /// The network address the entry probably meant.
        network: IpAddr,
        /// The address as written.
        address: IpAddr,
        /// The prefix length as written.
        prefix: u32,
        /// The prefix of a single address of the family (32 or 128).
        host_prefix: u32,
    },
}

/// An inclusive range of addresses of one family, stored as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrRange {
    family: IpFamily,
    first: u128,
    last: u128,
}

impl AddrRange {
    /// The range `first..=last`; `None` if the families differ or `first > last`.
    pub fn new(first: IpAddr, last: IpAddr) -> Option<AddrRange> {
        let family = IpFamily::of(first);
        let (a, b) = (ip_to_value(first), ip_to_value(last));
        (family == IpFamily::of(last) && a <= b).then_some(AddrRange {
            family,
            first: a,
            last: b,
        })
    }

    /// The range holding only `ip`.
    pub fn single(ip: IpAddr) -> AddrRange {
        let value = ip_to_value(ip);
        AddrRange {
            family: IpFamily::of(ip),
            first: value,
            last: value,
        }
    }

    /// Builds a range from numeric bounds; `None` if `first > last` or a bound is outside `family`.
    pub fn from_values(family: IpFamily, first: u128, last: u128) -> Option<AddrRange> {
        let max = max_value(family);
        (first <= last && last <= max).then_some(AddrRange {
            family,
            first,
            last,
        })
    }

    /// The family of every address in the range.
    pub fn family(&self) -> IpFamily {
        self.family
    }

    /// The lowest address.
    pub fn first(&self) -> IpAddr {
        value_to_ip(self.family, self.first)
    }

    /// The highest address.
    pub fn last(&self) -> IpAddr {
        value_to_ip(self.family, self.last)
    }

    /// The lowest address as a number (see [`ip_to_value`]).
    pub fn first_value(&self) -> u128 {
        self.first
    }

    /// The highest address as a number (see [`ip_to_value`]).
    pub fn last_value(&self) -> u128 {
        self.last
    }

    /// Number of addresses. `::/0` holds 2^128 addresses, one more than `u128::MAX`:
    /// that single case saturates to `u128::MAX`.
    pub fn size(&self) -> u128 {
        (self.last - self.first).saturating_add(1)
    }

    /// Whether `ip` lies inside the range (an address of the other family never does).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let value = ip_to_value(ip);
        IpFamily::of(ip) == self.family && self.first <= value && value <= self.last
    }

    /// Whether the two ranges share at least one address.
    pub fn overlaps(&self, other: &AddrRange) -> bool {
        self.family == other.family && self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first())
        } else {
            write!(f, "{}-{}", self.first(), self.last())
        }
    }
}

/// `{"first": ..., "last": ...}`.
impl serde::Serialize for AddrRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("AddrRange", 2)?;
        out.serialize_field("first", &self.first())?;
        out.serialize_field("last", &self.last())?;
        out.end()
    }
}

impl FromStr for AddrRange {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_address(s)
    }
}

/// The highest numeric address of `family`.
pub fn max_value(family: IpFamily) -> u128 {
    match family {
        IpFamily::V4 => u128::from(u32::MAX),
        IpFamily::V6 => u128::MAX,
    }
}

/// Parses one VIPPool address entry: a CIDR, an inclusive `start-end` range or a single address.
pub fn parse_address(entry: &str) -> Result<AddrRange, AddressError> {
    let text = entry.trim();
    if text.is_empty() {
        return Err(AddressError::Blank);
    }
    let malformed = |problem: String| AddressError::Malformed {
        entry: entry.to_string(),
        problem,
    };
    if let Some((start, end)) = text.split_once('-') {
        return parse_range(entry, start.trim(), end.trim());
    }
    if let Some((addr, prefix)) = text.split_once('/') {
        return parse_cidr(entry, addr.trim(), prefix.trim());
    }
    let ip = parse_ip(text).map_err(malformed)?;
    Ok(AddrRange::single(ip))
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    IpAddr::from_str(text).map_err(|_| format!("{text:?} is not an IPv4 or IPv6 address"))
}

fn parse_range(entry: &str, start: &str, end: &str) -> Result<AddrRange, AddressError> {
    let malformed = |problem: String| AddressError::Malformed {
        entry: entry.to_string(),
        problem,
    };
    if start.is_empty() || end.is_empty() {
        let side = if start.is_empty() { "start" } else { "end" };
        return Err(malformed(format!("the range has no {side} address")));
    }
    if end.contains('-') {
        return Err(malformed("a range has exactly one '-'".to_string()));
    }
    if start.contains('/') || end.contains('/') {
        return Err(malformed(
            "a range takes plain addresses, not CIDRs".to_string(),
        ));
    }
    let first = parse_ip(start).map_err(malformed)?;
    let last = parse_ip(end).map_err(malformed)?;
    if IpFamily::of(first) != IpFamily::of(last) {
        return Err(AddressError::MixedFamilies {
            entry: entry.to_string(),
        });
    }
    AddrRange::new(first, last).ok_or_else(|| AddressError::StartAfterEnd {
        entry: entry.to_string(),
        start: first,
        end: last,
    })
}

fn parse_cidr(entry: &str, addr: &str, prefix: &str) -> Result<AddrRange, AddressError> {
    let malformed = |problem: String| AddressError::Malformed {
        entry: entry.to_string(),
        problem,
    };
    let ip = parse_ip(addr).map_err(malformed)?;
    let family = IpFamily::of(ip);
    let prefix_len = match prefix.parse::<u32>() {
        Ok(len) if prefix.bytes().all(|b| b.is_ascii_digit()) => len,
        _ => {
            return Err(malformed(format!(
                "prefix length {prefix:?} is not a number"
            )));
        }
    };
    if prefix_len > family.bits() {
        return Err(malformed(format!(
            "prefix length /{prefix_len} is longer than {} bits for {family}",
            family.bits()
        )));
    }
    let host_bits = family.bits() - prefix_len;
    let host_mask = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let value = ip_to_value(ip);
    let first = value & !host_mask;
    if first != value {
        return Err(AddressError::HostBitsSet {
            entry: entry.to_string(),
            network: value_to_ip(family, first),
            address: ip,
            prefix: prefix_len,
            host_prefix: family.bits(),
        });
    }
    Ok(AddrRange {
        family,
        first,
        last: first | host_mask,
    })
}

#[cfg(test)]
#[path = "addresses_tests.rs"]
mod tests;
