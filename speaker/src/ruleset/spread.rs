//! Shared spread chains: how a Service port without ClientIP affinity reaches its endpoints
//! with no chain or rule of its own.
//!
//! Its dispatch element (`service_ipsN`, `node_portsN`) goes to a chain shared by every
//! Service port of the same family, protocol and endpoint count, e.g. `spread4_tcp_3`:
//!
//! ```text
//! meta l4proto tcp dnat ip to ip daddr . tcp dport . numgen random mod 3 map @endpoints4_tcp
//! ```
//!
//! and the map `endpointsN_PROTOCOL` holds `VIP . port . index : endpoint . port` (for
//! NodePorts `node_port_endpointsN_PROTOCOL`: `nodePort . index : …`). A Service's
//! endpoints are elements only: one endpoint more is a few elements, and a table of 10,000
//! Services has a handful of rules.
//!
//! Why not a rule per endpoint (the cascade ferrolb wrote before): the 25,000 rules of
//! 10,000 Services with 2–3 endpoints were 0.8 of the 1.03 s a full write took (nft's parse
//! and the kernel's set-up of each expression). Why a chain per endpoint count and not per
//! Service: the kernel walks a map each time another chain binds it (10,000 binding chains
//! made a full write take 14 s), and numgen's modulus is a constant of its rule. So a table
//! has as many spread chains as distinct endpoint counts.
//!
//! `externalTrafficPolicy: Local` chains (`spread4_tcp_3_local2`) send the node's own traffic
//! to one of the cluster-wide endpoints (indexes from 0), marked for masquerade, and the rest
//! to one of this node's endpoints (indexes from [`LOCAL_INDEX_OFFSET`]), or drop it when the
//! node has none.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::model::{Chain, NamedSet, SetKind, mark_for_masquerade};
use super::names::{NftFamily, NftProtocol};
use super::select::Backend;
use ferrolb_core::{IpFamily, Protocol};

/// Index of a Service's first local endpoint in the endpoint maps; cluster-wide endpoints
/// count from 0. No Service has 2^31 endpoints.
pub const LOCAL_INDEX_OFFSET: u32 = 1 << 31;

/// Which dispatch map led to the spread chain: it decides the endpoint map's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Via {
    /// `service_ipsN`: keyed by `daddr . l4proto . dport`.
    Vip,
    /// `node_portsN`: keyed by `l4proto . dport`.
    NodePort,
}

/// One shared spread chain: everything its rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Spread {
    /// Dispatch map it serves.
    pub via: Via,
    /// Family of its addresses.
    pub family: IpFamily,
    /// Protocol (DNAT to a port needs it).
    pub protocol: Protocol,
    /// Cluster-wide endpoints (at least one).
    pub cluster: usize,
    /// This node's endpoints for `externalTrafficPolicy: Local`, `None` for `Cluster`.
    pub local: Option<usize>,
}

impl Spread {
    /// Chain name, e.g. `spread4_tcp_3`, `node_port_spread6_udp_2_local0`.
    pub fn chain_name(&self) -> String {
        let prefix = match self.via {
            Via::Vip => "",
            Via::NodePort => "node_port_",
        };
        let local = self
            .local
            .map(|count| format!("_local{count}"))
            .unwrap_or_default();
        format!(
            "{prefix}spread{}_{}_{}{local}",
            self.family.digit(),
            self.protocol.nft_name(),
            self.cluster
        )
    }

    /// The chain and its rules.
    pub fn chain(&self) -> Chain {
        let rules = match self.local {
            None => vec![self.dnat(self.cluster, 0)],
            Some(local) => {
                // The node's own traffic has no client address worth keeping: every
                // endpoint, masqueraded (as kube-proxy).
                let mut rules = vec![format!(
                    "fib saddr type local {} {}",
                    mark_for_masquerade(),
                    self.dnat(self.cluster, 0)
                )];
                rules.push(if local == 0 {
                    "drop".to_string()
                } else {
                    self.dnat(local, LOCAL_INDEX_OFFSET)
                });
                rules
            }
        };
        let policy = match self.local {
            None => "Cluster".to_string(),
            Some(local) => format!("Local, {local} on this node"),
        };
        Chain {
            name: self.chain_name(),
            base: None,
            comment: Some(format!(
                "{} IPv{} {} Service ports with {} endpoint{} ({policy}): one at random, from @{}",
                match self.via {
                    Via::Vip => "VIPs of",
                    Via::NodePort => "NodePorts of",
                },
                self.family.digit(),
                self.protocol.nft_name(),
                self.cluster,
                if self.cluster == 1 { "" } else { "s" },
                endpoint_map(self.via, self.family, self.protocol),
            )),
            rules,
        }
    }

    /// `meta l4proto P dnat F to KEY . numgen random mod COUNT [offset O] map @MAP`.
    fn dnat(&self, count: usize, offset: u32) -> String {
        let offset = if offset == 0 {
            String::new()
        } else {
            format!(" offset {offset}")
        };
        format!(
            "meta l4proto {} dnat {} to {} . numgen random mod {count}{offset} map @{}",
            self.protocol.nft_name(),
            self.family.payload(),
            key_expression(self.via, self.family, self.protocol),
            endpoint_map(self.via, self.family, self.protocol)
        )
    }
}

/// The packet fields that key a Service's endpoints (the index follows). The protocol is
/// the map's: `tcp dport` and not `th dport`, because nft 1.0.6 cannot read a `th` in a
/// map's type back from the kernel ("conflicting protocols specified: tcp vs. th"), and an
/// update script that deletes an element reads it back.
fn key_expression(via: Via, family: IpFamily, protocol: Protocol) -> String {
    let port = format!("{} dport", protocol.nft_name());
    match via {
        Via::Vip => format!("{} daddr . {port}", family.payload()),
        Via::NodePort => port,
    }
}

/// `endpoints4_tcp`, `node_port_endpoints6_udp`, …
fn endpoint_map(via: Via, family: IpFamily, protocol: Protocol) -> String {
    let prefix = match via {
        Via::Vip => "",
        Via::NodePort => "node_port_",
    };
    format!(
        "{prefix}endpoints{}_{}",
        family.digit(),
        protocol.nft_name()
    )
}

/// The elements of one endpoint map: key (`VIP . port` or `nodePort`) and index.
type Elements<K> = BTreeMap<(K, u32), Backend>;

/// Endpoint map elements and the spread chains they need, gathered Service by Service.
#[derive(Debug, Default)]
pub(super) struct Spreads {
    vip_endpoints: BTreeMap<(IpFamily, Protocol), Elements<(IpAddr, u16)>>,
    node_port_endpoints: BTreeMap<(IpFamily, Protocol), Elements<u16>>,
    chains: BTreeSet<Spread>,
}

/// The endpoints of one Service port in one family.
pub(super) struct Targets<'a> {
    /// Family.
    pub family: IpFamily,
    /// Protocol.
    pub protocol: Protocol,
    /// Cluster-wide endpoints (not empty).
    pub cluster: &'a [Backend],
    /// This node's endpoints for `Local`, `None` for `Cluster`.
    pub local: Option<&'a [Backend]>,
}

impl Spreads {
    /// Records the endpoints of `vip` `port`; returns the verdict of its dispatch element.
    pub fn vip(&mut self, vip: IpAddr, port: u16, targets: &Targets<'_>) -> String {
        let map = self
            .vip_endpoints
            .entry((targets.family, targets.protocol))
            .or_default();
        for (index, backend) in indexed(targets) {
            map.insert(((vip, port), index), backend);
        }
        self.chain(Via::Vip, targets)
    }

    /// Records the endpoints of NodePort `node_port`; returns the verdict of its element.
    pub fn node_port(&mut self, node_port: u16, targets: &Targets<'_>) -> String {
        let map = self
            .node_port_endpoints
            .entry((targets.family, targets.protocol))
            .or_default();
        for (index, backend) in indexed(targets) {
            map.insert((node_port, index), backend);
        }
        self.chain(Via::NodePort, targets)
    }

    fn chain(&mut self, via: Via, targets: &Targets<'_>) -> String {
        let spread = Spread {
            via,
            family: targets.family,
            protocol: targets.protocol,
            cluster: targets.cluster.len(),
            local: targets.local.map(<[Backend]>::len),
        };
        let verdict = format!("goto {}", spread.chain_name());
        self.chains.insert(spread);
        verdict
    }

    /// The spread chains in use, and the endpoint maps they read.
    pub fn finish(self) -> (Vec<Chain>, Vec<NamedSet>) {
        let chains = self.chains.iter().map(Spread::chain).collect();
        let element =
            |key: String, backend: &Backend| format!("{key} : {} . {}", backend.ip, backend.port);
        let mut maps: Vec<NamedSet> = self
            .vip_endpoints
            .iter()
            .map(|((family, protocol), elements)| {
                endpoint_map_set(
                    Via::Vip,
                    *family,
                    *protocol,
                    elements
                        .iter()
                        .map(|(((vip, port), index), backend)| {
                            element(format!("{vip} . {port} . {index}"), backend)
                        })
                        .collect(),
                )
            })
            .collect();
        maps.extend(
            self.node_port_endpoints
                .iter()
                .map(|((family, protocol), elements)| {
                    endpoint_map_set(
                        Via::NodePort,
                        *family,
                        *protocol,
                        elements
                            .iter()
                            .map(|((port, index), backend)| {
                                element(format!("{port} . {index}"), backend)
                            })
                            .collect(),
                    )
                }),
        );
        (chains, maps)
    }
}

fn endpoint_map_set(
    via: Via,
    family: IpFamily,
    protocol: Protocol,
    elements: Vec<String>,
) -> NamedSet {
    NamedSet {
        name: endpoint_map(via, family, protocol),
        // The modulus in a `typeof` declaration only gives the index its type and length.
        key_type: format!(
            "{} . numgen random mod 1",
            key_expression(via, family, protocol)
        ),
        data_type: Some(format!(
            "{} daddr . {} dport",
            family.payload(),
            protocol.nft_name()
        )),
        typeof_keys: true,
        kind: SetKind::Static,
        elements,
    }
}

/// Cluster-wide endpoints from index 0, local ones from [`LOCAL_INDEX_OFFSET`].
fn indexed<'a>(targets: &'a Targets<'a>) -> impl Iterator<Item = (u32, Backend)> + 'a {
    let cluster = (0u32..).zip(targets.cluster.iter().copied());
    let local = (LOCAL_INDEX_OFFSET..).zip(targets.local.unwrap_or_default().iter().copied());
    cluster.chain(local)
}
