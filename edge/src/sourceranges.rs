//! `spec.loadBalancerSourceRanges`: which clients may use a frontend.
//!
//! An empty list allows every client, like kube-proxy and cloud load balancers. A list whose
//! entries are all malformed allows nobody (the apiserver validates the field, so this only
//! happens with a broken object, and failing closed is the safe answer).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

/// The clients a frontend accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SourceRanges {
    /// Every client (the field is empty).
    #[default]
    Any,
    /// Only clients inside one of these networks (empty: nobody).
    Only(Vec<IpNet>),
}

impl SourceRanges {
    /// Parses the field; returns the ranges and the entries that are not CIDRs (skipped).
    /// A single address without a prefix is taken as a /32 or /128.
    pub fn parse(entries: &[String]) -> (SourceRanges, Vec<String>) {
        let entries: Vec<&str> = entries
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return (SourceRanges::Any, Vec::new());
        }
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for e in entries {
            match e.parse::<IpNet>() {
                Ok(net) => nets.push(net.trunc()),
                Err(_) => match e.parse::<IpAddr>() {
                    Ok(ip) => nets.push(IpNet::from(ip)),
                    Err(_) => bad.push(e.to_string()),
                },
            }
        }
        nets.sort();
        nets.dedup();
        (SourceRanges::Only(nets), bad)
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

    fn parse(v: &[&str]) -> (SourceRanges, Vec<String>) {
        SourceRanges::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_allows_everyone() {
        let (r, bad) = parse(&[]);
        assert_eq!(r, SourceRanges::Any);
        assert!(bad.is_empty());
        assert!(r.allows(ip("192.0.2.1")) && r.allows(ip("2001:db8::1")));
        assert_eq!(
            parse(&[" ", ""]).0,
            SourceRanges::Any,
            "blank entries are no entries"
        );
    }

    #[test]
    fn only_listed_networks_and_families_never_mix() {
        let (r, bad) = parse(&["198.51.100.0/25", "2001:db8:100::/64", "192.0.2.7"]);
        assert!(bad.is_empty());
        assert!(r.allows(ip("198.51.100.100")));
        assert!(!r.allows(ip("198.51.100.200")));
        assert!(r.allows(ip("::ffff:198.51.100.100")), "IPv4-mapped source");
        assert!(r.allows(ip("2001:db8:100::100")));
        assert!(!r.allows(ip("2001:db8:200::1")));
        assert!(r.allows(ip("192.0.2.7")) && !r.allows(ip("192.0.2.8")));
    }

    #[test]
    fn host_bits_are_ignored_and_malformed_entries_fail_closed() {
        let (r, _) = parse(&["198.51.100.77/24"]);
        assert!(r.allows(ip("198.51.100.1")));
        let (r, bad) = parse(&["nonsense", "198.51.100.0/33"]);
        assert_eq!(bad, ["nonsense", "198.51.100.0/33"]);
        assert_eq!(r, SourceRanges::Only(vec![]));
        assert!(
            !r.allows(ip("198.51.100.1")),
            "nothing valid: nobody allowed"
        );
    }

    #[test]
    fn serialises_as_any_or_list() {
        assert_eq!(serde_json::to_value(SourceRanges::Any).unwrap(), "any");
        let (r, _) = parse(&["198.51.100.0/24"]);
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!(["198.51.100.0/24"])
        );
    }

    proptest! {
        #[test]
        fn a_v4_network_allows_exactly_its_addresses(addr: u32, prefix in 0u8..=32, probe: u32) {
            let net = ipnet::Ipv4Net::new(addr.into(), prefix).unwrap().trunc();
            let (r, bad) = SourceRanges::parse(&[net.to_string()]);
            prop_assert!(bad.is_empty());
            let probe = std::net::Ipv4Addr::from(probe);
            prop_assert_eq!(r.allows(IpAddr::V4(probe)), net.contains(&probe));
        }
    }
}
