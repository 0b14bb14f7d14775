//! VIPPools as address sets: parsing a pool's `spec.addresses` entries, which pool holds an
//! address, and which pools are edge pools (label `ferrolb.io/mode: edge`).
//!
//! Entries are parsed by [`ferrolb_core::parse_address`], the one parser (the CRD's CEL rules
//! agree with it). Malformed entries match nothing: the controller reports them on the pool; a
//! reader of pools (speaker, edge) only never matches them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::VIPPool;
use ferrolb_api::names::{LABEL_MODE, MODE_EDGE};
use ferrolb_core::{AddrRange, parse_address};
use kube::ResourceExt;

/// One pool, as its readers need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolView {
    /// Its well-formed entries, in `spec.addresses` order.
    pub ranges: Vec<AddrRange>,
    /// Whether it is an edge pool (label `ferrolb.io/mode: edge`).
    pub edge: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl PoolView {
    /// Whether some entry of the pool contains `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }
}

/// Every pool by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pools {
    by_name: BTreeMap<String, PoolView>,
}

impl Pools {
    /// Indexes the pools of a snapshot.
    pub fn new(pools: &[Arc<VIPPool>]) -> Pools {
        let by_name = pools
            .iter()
            .map(|p| {
                let view = PoolView {
                    ranges: p
                        .spec
                        .addresses
                        .iter()
                        .filter_map(|e| parse_address(e).ok())
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
        self.by_name.get(name).is_some_and(|p| p.contains(ip))
    }

    /// Whether pool `name` exists and is an edge pool.
    pub fn is_edge(&self, name: &str) -> bool {
        self.by_name.get(name).is_some_and(|p| p.edge)
    }

    /// Names of the pools containing `ip`, sorted.
    pub fn containing(&self, ip: IpAddr) -> Vec<&str> {
        self.iter()
            .filter(|(_, p)| p.contains(ip))
            .map(|(n, _)| n)
            .collect()
    }

    /// Every pool with its name, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PoolView)> {
        self.by_name.iter().map(|(n, p)| (n.as_str(), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pool(name: &str, edge: bool, addresses: &[&str]) -> Arc<VIPPool> {
        let labels = if edge {
            serde_json::json!({ LABEL_MODE: MODE_EDGE })
        } else {
            serde_json::json!({ "team": "blue" })
        };
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
                "metadata": {"name": name, "labels": labels},
                "spec": {"addresses": addresses},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn which_pool_holds_an_address() {
        let pools = Pools::new(&[
            pool(
                "lan",
                false,
                &["198.51.100.0/28", "nonsense", "198.51.100.7/24"],
            ),
            pool("edge", true, &["198.51.100.8-198.51.100.20", "2001:db8::1"]),
        ]);
        assert!(pools.contains("lan", ip("198.51.100.15")));
        assert!(!pools.contains("lan", ip("198.51.100.16")));
        assert!(!pools.contains("gone", ip("198.51.100.1")));
        assert!(pools.is_edge("edge") && !pools.is_edge("lan") && !pools.is_edge("gone"));
        assert_eq!(pools.containing(ip("198.51.100.9")), ["edge", "lan"]);
        assert_eq!(pools.containing(ip("2001:db8::1")), ["edge"]);
        assert!(pools.containing(ip("203.0.113.1")).is_empty());
        let names: Vec<&str> = pools.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["edge", "lan"]);
        let (_, lan) = pools.iter().find(|(n, _)| *n == "lan").unwrap();
        assert_eq!(lan.ranges.len(), 1, "the malformed entries are dropped");
        assert!(
            !pools.contains("lan", ip("198.51.100.100")),
            "host bits set: refused"
        );
        assert_eq!(lan.labels.get("team").map(String::as_str), Some("blue"));
    }
}
