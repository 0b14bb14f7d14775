//! `spec.loadBalancerSourceRanges`: which clients may reach a Service's load-balancer
//! addresses. One parser for the speaker and the edge, fail-safe:
//!
//! - no entry allows every client, like kube-proxy and cloud load balancers;
//! - a bad entry is dropped and reported ([`RejectedRange`] names the value and the fix);
//! - entries given but none valid allow **nobody**, never "no restriction" (the apiserver
//!   validates the field, so this only happens with a broken object; failing closed is safe).
//!
//! A single address counts as a /32 or /128; host bits after the prefix are ignored
//! (`198.51.100.7/24` allows `198.51.100.0/24`), as Kubernetes does.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

/// The clients a Service's load-balancer addresses accept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SourceRanges {
    /// Every client (no entry).
    #[default]
    Any,
    /// Only clients inside one of these networks, sorted, without duplicates (empty: nobody).
    Only(Vec<IpNet>),
}

/// An entry of `loadBalancerSourceRanges` that is dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error(
    "loadBalancerSourceRanges entry {value:?} is not a CIDR or an address; it is ignored: \
     write a network such as 203.0.113.0/24 or 2001:db8::/64"
)]
pub struct RejectedRange {
    /// The entry as written.
    pub value: String,
}

/// The parsed field and the entries dropped on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedSourceRanges {
    /// Who may connect.
    pub ranges: SourceRanges,
    /// Entries dropped, in field order; report each one.
    pub rejected: Vec<RejectedRange>,
}

impl SourceRanges {
    /// Parses the field (fail-safe, see the module documentation).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> ParsedSourceRanges {
        if entries.is_empty() {
            return ParsedSourceRanges::default();
        }
        let mut nets = Vec::new();
        let mut rejected = Vec::new();
        for entry in entries {
            let text = entry.as_ref().trim();
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            {
                Ok(net) => nets.push(net.trunc()),
                Err(_) => rejected.push(RejectedRange {
                    value: entry.as_ref().to_string(),
                }),
            }
        }
        nets.sort();
        nets.dedup();
        ParsedSourceRanges {
            ranges: SourceRanges::Only(nets),
            rejected,
        }
    }

    /// Whether a client at `source` may connect (IPv4-mapped IPv6 sources count as IPv4).
    pub fn allows(&self, source: IpAddr) -> bool {
        match self {
            SourceRanges::Any => true,
            SourceRanges::Only(nets) => {
                let source = source.to_canonical();
                nets.iter().any(|n| n.contains(&source))
            }
        }
    }

    /// Whether some client is refused (anything but [`SourceRanges::Any`]).
    pub fn restricts(&self) -> bool {
        matches!(self, SourceRanges::Only(_))
    }

    /// The allowed networks (none for [`SourceRanges::Any`], which allows everyone, and none
    /// for `Only([])`, which allows nobody: ask [`restricts`](Self::restricts) first).
    pub fn networks(&self) -> &[IpNet] {
        match self {
            SourceRanges::Any => &[],
            SourceRanges::Only(nets) => nets,
        }
    }
}

/// `"any"`, or the list of networks.
impl Serialize for SourceRanges {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SourceRanges::Any => s.serialize_str("any"),
            SourceRanges::Only(nets) => {
                let v: Vec<String> = nets.iter().map(ToString::to_string).collect();
                v.serialize(s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(v: &[&str]) -> ParsedSourceRanges {
        SourceRanges::parse(v)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rejected(values: &[&str]) -> Vec<RejectedRange> {
        values
            .iter()
            .map(|v| RejectedRange {
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn no_entry_allows_everyone() {
        let p = parse(&[]);
        assert_eq!(p, ParsedSourceRanges::default());
        assert!(!p.ranges.restricts());
        assert!(p.ranges.allows(ip("192.0.2.1")) && p.ranges.allows(ip("2001:db8::1")));
    }

    #[test]
    fn only_listed_networks_and_families_never_mix() {
        let p = parse(&["198.51.100.0/25", " 2001:db8:100::/64 ", "192.0.2.7"]);
        assert!(p.rejected.is_empty());
        let r = p.ranges;
        assert!(r.restricts());
        assert!(r.allows(ip("198.51.100.100")));
        assert!(!r.allows(ip("198.51.100.200")));
        assert!(r.allows(ip("::ffff:198.51.100.100")), "IPv4-mapped source");
        assert!(r.allows(ip("2001:db8:100::100")));
        assert!(!r.allows(ip("2001:db8:200::1")));
        assert!(r.allows(ip("192.0.2.7")) && !r.allows(ip("192.0.2.8")));
        assert_eq!(r.networks().len(), 3);
    }

    #[test]
    fn host_bits_are_ignored() {
        let p = parse(&["198.51.100.77/24", "198.51.100.0/24"]);
        assert_eq!(
            p.ranges,
            SourceRanges::Only(vec!["198.51.100.0/24".parse().unwrap()])
        );
    }

    #[test]
    fn a_bad_entry_is_dropped_and_named() {
        let p = parse(&["203.0.113.0/24", "office", "198.51.100.0/33"]);
        assert_eq!(p.rejected, rejected(&["office", "198.51.100.0/33"]));
        assert!(p.ranges.allows(ip("203.0.113.9")));
        assert!(!p.ranges.allows(ip("198.51.100.1")));
        assert_eq!(
            p.rejected[0].to_string(),
            "loadBalancerSourceRanges entry \"office\" is not a CIDR or an address; it is \
             ignored: write a network such as 203.0.113.0/24 or 2001:db8::/64"
        );
    }

    #[test]
    fn entries_given_but_none_valid_allow_nobody() {
        for entries in [&["nonsense", "198.51.100.0/33"][..], &[" "], &[""]] {
            let p = parse(entries);
            assert_eq!(p.ranges, SourceRanges::Only(vec![]), "{entries:?}");
            assert!(p.ranges.restricts());
            assert_eq!(p.rejected, rejected(entries));
            assert!(!p.ranges.allows(ip("198.51.100.1")));
            assert!(!p.ranges.allows(ip("2001:db8::1")));
        }
    }

    #[test]
    fn serialises_as_any_or_list() {
        assert_eq!(serde_json::to_value(SourceRanges::Any).unwrap(), "any");
        let p = parse(&["198.51.100.0/24"]);
        assert_eq!(
            serde_json::to_value(p.ranges).unwrap(),
            serde_json::json!(["198.51.100.0/24"])
        );
    }

    fn entry() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<u32>(), 0u8..=32)
                .prop_map(|(a, p)| format!("{}/{p}", std::net::Ipv4Addr::from(a))),
            any::<u128>().prop_map(|a| std::net::Ipv6Addr::from(a).to_string()),
            "[a-z0-9./: ]{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn a_v4_network_allows_exactly_its_addresses(addr: u32, prefix in 0u8..=32, probe: u32) {
            let net = ipnet::Ipv4Net::new(addr.into(), prefix).unwrap().trunc();
            let p = SourceRanges::parse(&[net.to_string()]);
            prop_assert!(p.rejected.is_empty());
            let probe = std::net::Ipv4Addr::from(probe);
            prop_assert_eq!(p.ranges.allows(IpAddr::V4(probe)), net.contains(&probe));
        }

        /// Fail-safe: every entry is either kept or reported, and a source is allowed only
        /// when no entry was given or some valid entry contains it.
        #[test]
        fn never_wider_than_the_valid_entries(entries in proptest::collection::vec(entry(), 0..5), probe: u32) {
            let p = SourceRanges::parse(&entries);
            let valid: Vec<IpNet> = entries
                .iter()
                .filter_map(|e| {
                    let t = e.trim();
                    t.parse::<IpNet>().ok().or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
                })
                .collect();
            prop_assert_eq!(valid.len() + p.rejected.len(), entries.len());
            let probe = IpAddr::V4(std::net::Ipv4Addr::from(probe));
            let expected = entries.is_empty() || valid.iter().any(|n| n.contains(&probe));
            prop_assert_eq!(p.ranges.allows(probe), expected);
            prop_assert_eq!(p.ranges.restricts(), !entries.is_empty());
        }
    }
}
