//! An EndpointSlice as the nodes' side (speaker, edge, `kubectl ferrolb why`) keeps it:
//! [`NodeSlice`], only what their code reads, the endpoint conditions read once.
//!
//! Issue 21: the `k8s-openapi` object, even trimmed ([`crate::project`]), took about 1.5 KiB
//! per slice (its struct alone 432 bytes, each endpoint 352, a one-label map 544): at 10,000
//! Services about a fifth of a speaker's heap. The reflector turns each watched EndpointSlice
//! into a [`NodeSlice`] before it enters the store ([`crate::reflect::watch_all_into`]).

use std::net::IpAddr;

use ferrolb_core::Protocol;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Label linking an EndpointSlice to its Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// An EndpointSlice, as the nodes' side keeps it (deserialized from an EndpointSlice).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(from = "EndpointSlice")]
pub struct NodeSlice {
    /// Its namespace (the Service's).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its Service: the [`LABEL_SERVICE_NAME`] label (`None`: the slice belongs to none).
    pub service: Option<String>,
    /// `addressType`: `IPv4`, `IPv6` or `FQDN`.
    pub address_type: String,
    /// Its ports with a port number and a known protocol (TCP when unset), in order.
    pub ports: Vec<SlicePort>,
    /// Its endpoints, in order.
    pub endpoints: Vec<SliceEndpoint>,
}

/// A port of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlicePort {
    /// The Service port's name (`None` for the unnamed port, which slices spell `""`).
    pub name: Option<String>,
    /// The protocol.
    pub protocol: Protocol,
    /// The port number.
    pub port: u16,
}

/// An endpoint of an EndpointSlice, its conditions read as kube-proxy reads them: `ready`
/// unset → true, `serving` unset → `ready`, `terminating` unset → false.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceEndpoint {
    /// Its addresses that parse as IP addresses (none for an `FQDN` slice).
    pub addresses: Vec<IpAddr>,
    /// The node it runs on.
    pub node: Option<String>,
    /// Ready.
    pub ready: bool,
    /// Serving.
    pub serving: bool,
    /// Terminating.
    pub terminating: bool,
}

impl NodeSlice {
    /// Whether its addresses are IP addresses (not `FQDN`).
    pub fn has_ip_addresses(&self) -> bool {
        is_ip_address_type(&self.address_type)
    }

    /// Whether it belongs to Service `name` in `namespace`.
    pub fn is_of(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.service.as_deref() == Some(name)
    }
}

impl From<EndpointSlice> for NodeSlice {
    fn from(slice: EndpointSlice) -> NodeSlice {
        let ips = is_ip_address_type(&slice.address_type);
        let meta = slice.metadata;
        let mut ports: Vec<SlicePort> = slice
            .ports
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(SlicePort {
                    name: p.name.filter(|n| !n.is_empty()),
                    protocol: p.protocol.as_deref().unwrap_or("TCP").parse().ok()?,
                    port: u16::try_from(p.port?).ok()?,
                })
            })
            .collect();
        ports.shrink_to_fit();
        let mut endpoints: Vec<SliceEndpoint> = slice
            .endpoints
            .into_iter()
            .map(|ep| {
                let conditions = ep.conditions.unwrap_or_default();
                let ready = conditions.ready.unwrap_or(true);
                let mut addresses: Vec<IpAddr> = ep
                    .addresses
                    .iter()
                    .filter(|_| ips)
                    .filter_map(|a| a.trim().parse().ok())
                    .collect();
                addresses.shrink_to_fit();
                SliceEndpoint {
                    addresses,
                    node: ep.node_name,
                    ready,
                    serving: conditions.serving.unwrap_or(ready),
                    terminating: conditions.terminating.unwrap_or(false),
                }
            })
            .collect();
        endpoints.shrink_to_fit();
        NodeSlice {
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            service: meta.labels.and_then(|mut l| l.remove(LABEL_SERVICE_NAME)),
            address_type: slice.address_type,
            ports,
            endpoints,
        }
    }
}

/// Whether `addressType` is one of IP addresses (`IPv4`, `IPv6`), not `FQDN`.
fn is_ip_address_type(address_type: &str) -> bool {
    matches!(address_type, "IPv4" | "IPv6")
}

// What the reflector's store needs: the kind is EndpointSlice's, the key its namespace and
// name.
crate::kept_lookup!(NodeSlice, EndpointSlice, |s| (&s.namespace, &s.name));

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(value: serde_json::Value) -> NodeSlice {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_slice_keeps_what_is_read() {
        let slice = parsed(json!({
            "metadata": {"name": "web-x1", "namespace": "shop", "uid": "u",
                "labels": {LABEL_SERVICE_NAME: "web", "other": "x"}},
            "addressType": "IPv6",
            "ports": [{"name": "", "port": 8080}, {"name": "dns", "protocol": "UDP", "port": 53},
                      {"name": "odd", "protocol": "QUIC", "port": 1}, {"name": "none"}],
            "endpoints": [
                {"addresses": [" 2001:db8::1 ", "not-an-ip"], "nodeName": "node-a",
                 "targetRef": {"kind": "Pod", "name": "p"}, "zone": "z"},
                {"addresses": ["2001:db8::2"], "conditions": {"ready": false}},
                {"addresses": ["2001:db8::3"],
                 "conditions": {"ready": false, "serving": true, "terminating": true}},
            ],
        }));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let endpoint = |a: &str, node: Option<&str>, ready, serving, terminating| SliceEndpoint {
            addresses: vec![ip(a)],
            node: node.map(str::to_string),
            ready,
            serving,
            terminating,
        };
        assert_eq!(
            slice,
            NodeSlice {
                namespace: "shop".into(),
                name: "web-x1".into(),
                service: Some("web".into()),
                address_type: "IPv6".into(),
                ports: vec![
                    SlicePort {
                        name: None,
                        protocol: Protocol::Tcp,
                        port: 8080
                    },
                    SlicePort {
                        name: Some("dns".into()),
                        protocol: Protocol::Udp,
                        port: 53
                    },
                ],
                endpoints: vec![
                    endpoint("2001:db8::1", Some("node-a"), true, true, false),
                    endpoint("2001:db8::2", None, false, false, false),
                    endpoint("2001:db8::3", None, false, true, true),
                ],
            }
        );
        assert!(slice.is_of("shop", "web") && !slice.is_of("other", "web"));
        assert!(slice.has_ip_addresses());
    }

    #[test]
    fn an_fqdn_slice_keeps_its_endpoints_without_addresses() {
        let slice = parsed(json!({
            "metadata": {"name": "ext", "namespace": "shop"},
            "addressType": "FQDN",
            "endpoints": [{"addresses": ["db.example"], "nodeName": "node-b"}],
        }));
        assert!(!slice.has_ip_addresses());
        assert_eq!(slice.service, None);
        assert_eq!(slice.endpoints.len(), 1);
        assert!(slice.endpoints[0].addresses.is_empty());
        assert!(slice.endpoints[0].ready);
    }
}
