//! The edge pools (label `ferrolb.io/mode: edge`) as the address ranges the edge may own on its
//! interface; which pool holds an address is [`ferrolb_adapter::pools`].

use std::net::IpAddr;

use ferrolb_adapter::pools::Pools;
use ferrolb_core::AddrRange;
use serde::Serialize;

/// The address ranges of every edge pool, sorted, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EdgeRanges(pub Vec<AddrRange>);

impl EdgeRanges {
    /// The ranges of every edge pool of `pools`.
    pub fn of(pools: &Pools) -> EdgeRanges {
        let mut ranges: Vec<AddrRange> = pools
            .iter()
            .filter(|(_, p)| p.edge)
            .flat_map(|(_, p)| p.ranges.iter().copied())
            .collect();
        ranges.sort();
        ranges.dedup();
        EdgeRanges(ranges)
    }

    /// Whether some edge pool contains `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ferrolb_api::VIPPool;

    use super::*;

    fn pool(name: &str, mode: &str, addresses: &[&str]) -> Arc<VIPPool> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
                "metadata": {"name": name, "labels": {"ferrolb.io/mode": mode}},
                "spec": {"addresses": addresses},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn only_edge_pools_sorted_once_each() {
        let pools = Pools::new(&[
            pool(
                "b",
                "edge",
                &["2001:db8:100::150/124", "198.51.100.150-198.51.100.159"],
            ),
            pool("a", "edge", &["198.51.100.150-198.51.100.159"]),
            pool("lan", "l2", &["198.51.100.0/28"]),
        ]);
        let ranges = EdgeRanges::of(&pools);
        assert_eq!(ranges.0.len(), 2, "{ranges:?}");
        assert!(ranges.0.windows(2).all(|w| w[0] < w[1]));
        assert!(ranges.contains("198.51.100.155".parse().unwrap()));
        assert!(ranges.contains("2001:db8:100::15f".parse().unwrap()));
        assert!(!ranges.contains("198.51.100.1".parse().unwrap()));
    }
}
