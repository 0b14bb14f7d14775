//! Where the gossip binds and whom it asks first (pure).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;

/// A Node's `InternalIP` addresses, in the order the Node lists them.
pub fn internal_ips(node: &Node) -> Vec<IpAddr> {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.trim().parse().ok())
        .collect()
}

/// The address this node's gossip binds to: the first InternalIP of this Node (IPv4 first, the
/// family every speaker then uses), or `None` while the Node is not known.
pub fn gossip_ip(nodes: &[Arc<Node>], this: &str) -> Option<IpAddr> {
    let node = nodes.iter().find(|n| n.name_any() == this)?;
    let ips = internal_ips(node);
    ips.iter().find(|ip| ip.is_ipv4()).or(ips.first()).copied()
}

/// Where to reach the other speakers: every other Node's gossip address, sorted.
pub fn seeds(nodes: &[Arc<Node>], this: &str, port: u16) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = nodes
        .iter()
        .filter(|n| n.name_any() != this)
        .filter_map(|n| gossip_ip(std::slice::from_ref(n), &n.name_any()))
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, extra: serde_json::Value) -> Arc<Node> {
        let mut body = json!({
            "metadata": {"name": name},
            "status": {"addresses": [
                {"type": "Hostname", "address": name},
                {"type": "InternalIP", "address": "2001:db8:100::11"},
                {"type": "InternalIP", "address": "198.51.100.11"},
            ]},
        });
        merge(&mut body, extra);
        Arc::new(serde_json::from_value(body).unwrap())
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    #[test]
    fn gossip_prefers_ipv4_and_seeds_skip_this_node() {
        let nodes = vec![
            node("a", json!({})),
            node(
                "b",
                json!({"status": {"addresses": [{"type": "InternalIP", "address": "198.51.100.12"}]}}),
            ),
            node(
                "c",
                json!({"status": {"addresses": [{"type": "Hostname", "address": "c"}]}}),
            ),
        ];
        assert_eq!(
            gossip_ip(&nodes, "a"),
            Some("198.51.100.11".parse().unwrap())
        );
        assert_eq!(gossip_ip(&nodes, "c"), None);
        assert_eq!(gossip_ip(&nodes, "zz"), None);
        assert_eq!(
            seeds(&nodes, "a", 7946),
            vec!["198.51.100.12:7946".parse().unwrap()]
        );
    }
}
