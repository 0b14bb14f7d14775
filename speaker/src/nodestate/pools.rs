//! IPPools as address sets, and L2Announcements as the election's [`L2Policy`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use kube::ResourceExt;

use ferrolb_api::names::{LABEL_MODE, MODE_EDGE};
use ferrolb_api::selector::{Selector, optional_matches};
use ferrolb_api::{IPPool, L2Announcement};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::election::L2Policy;

/// One pool entry: an inclusive address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    first: IpAddr,
    last: IpAddr,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        let same_family = ip.is_ipv4() == self.first.is_ipv4();
        same_family && self.first <= ip && ip <= self.last
    }
}

/// Parses a pool entry: CIDR, single address, or `start-end`. `None` for anything else (the
/// controller reports malformed pools; the speaker just does not match them).
fn parse_entry(entry: &str) -> Option<Range> {
    let entry = entry.trim();
    if let Some((start, end)) = entry.split_once('-') {
        let (first, last): (IpAddr, IpAddr) =
            (start.trim().parse().ok()?, end.trim().parse().ok()?);
        return (first.is_ipv4() == last.is_ipv4() && first <= last)
            .then_some(Range { first, last });
    }
    if let Ok(net) = entry.parse::<IpNet>() {
        return Some(Range {
            first: net.network(),
            last: net.broadcast(),
        });
    }
    let ip: IpAddr = entry.parse().ok()?;
    Some(Range {
        first: ip,
        last: ip,
    })
}

/// A pool as the speaker needs it.
#[derive(Debug, Clone)]
struct PoolView {
    ranges: Vec<Range>,
    edge: bool,
    labels: BTreeMap<String, String>,
}

/// Every pool by name.
#[derive(Debug, Clone, Default)]
pub struct Pools {
    by_name: BTreeMap<String, PoolView>,
}

impl Pools {
    /// Indexes the pools of the snapshot.
    pub fn new(pools: &[Arc<IPPool>]) -> Pools {
        let by_name = pools
            .iter()
            .map(|p| {
                let view = PoolView {
                    ranges: p
                        .spec
                        .addresses
                        .iter()
                        .filter_map(|e| parse_entry(e))
                        .collect(),
                    edge: p.labels().get(LABEL_MODE).map(String::as_str) == Some(MODE_EDGE),
                    labels: p.labels().clone(),
                };
                (p.name_any(), view)
            })
            .collect();
        Pools { by_name }
    }

    /// Whether pool `name` exists and contains `ip`.
    pub fn contains(&self, name: &str, ip: IpAddr) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|p| p.ranges.iter().any(|r| r.contains(ip)))
    }

    /// Whether pool `name` is an edge pool (label `ferrolb.io/mode: edge`).
    pub fn is_edge(&self, name: &str) -> bool {
        self.by_name.get(name).is_some_and(|p| p.edge)
    }

    /// Names of the pools containing `ip`.
    pub fn containing(&self, ip: IpAddr) -> Vec<&str> {
        self.by_name
            .iter()
            .filter(|(_, p)| p.ranges.iter().any(|r| r.contains(ip)))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The election's view of an L2Announcement: `ipPools` and `ipPoolSelector` resolved to
    /// pool names (neither: every pool); selectors converted, an unconvertible one matching
    /// nothing (fail closed).
    pub fn policy(&self, l2: &L2Announcement) -> L2Policy {
        let spec = &l2.spec;
        let pools = if spec.ip_pools.is_empty() && spec.ip_pool_selector.is_none() {
            self.by_name.keys().cloned().collect()
        } else {
            let by_selector = spec.ip_pool_selector.as_ref().map(convert);
            let mut names = spec.ip_pools.clone();
            names.extend(
                self.by_name
                    .iter()
                    .filter(|(_, p)| {
                        by_selector
                            .as_ref()
                            .is_some_and(|s| optional_matches(Some(s), &p.labels))
                    })
                    .map(|(n, _)| n.clone()),
            );
            names.sort();
            names.dedup();
            names
        };
        L2Policy {
            name: l2.name_any(),
            node_selector: spec.node_selector.as_ref().map(convert),
            interfaces: spec.interfaces.clone(),
            service_selector: spec.service_selector.as_ref().map(convert),
            pools,
            external_ips: spec.external_ips,
        }
    }
}

/// Converts a CRD selector; an unknown operator becomes [`Selector::nothing`].
fn convert(selector: &LabelSelector) -> Selector {
    Selector::try_from(selector).unwrap_or_else(|_| Selector::nothing())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_of_every_shape() {
        let r = parse_entry(" 198.51.100.10 - 198.51.100.20 ").unwrap();
        assert!(r.contains(ip("198.51.100.10")) && r.contains(ip("198.51.100.20")));
        assert!(!r.contains(ip("198.51.100.21")) && !r.contains(ip("198.51.100.9")));
        let c = parse_entry("2001:db8::/126").unwrap();
        assert!(c.contains(ip("2001:db8::3")) && !c.contains(ip("2001:db8::4")));
        let single = parse_entry("203.0.113.7").unwrap();
        assert!(single.contains(ip("203.0.113.7")) && !single.contains(ip("203.0.113.8")));
        assert!(
            !single.contains(ip("::ffff:203.0.113.7")),
            "families never mix"
        );
        assert_eq!(parse_entry("198.51.100.20-198.51.100.10"), None);
        assert_eq!(parse_entry("198.51.100.1-2001:db8::1"), None);
        assert_eq!(parse_entry("nonsense"), None);
    }
}
