//! The built rule set: chains, sets and maps of table `inet ferrolb`, plus
//! what the builder noticed on the way (warnings, UDP backends, counts).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use super::base::{REJECT_CHAIN, SERVICES_CHAIN};
use super::select::Backend;
use ferrolb_core::{Protocol, ServiceKey};

/// Name of the table owned by ferrolb.
pub const TABLE: &str = "ferrolb";

/// Packet mark bit requesting masquerade in `nat_postrouting` (the same bit
/// kube-proxy uses for the same purpose; cleared again before masquerading).
pub const MASQUERADE_MARK: u32 = 0x0000_4000;

/// `meta mark set meta mark | 0x00004000`: the statement requesting masquerade.
pub(super) fn mark_for_masquerade() -> String {
    format!("meta mark set meta mark | {MASQUERADE_MARK:#010x}")
}

/// Netfilter hook of a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
}

impl Hook {
    /// nft keyword of the hook.
    pub fn nft_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

/// Type of a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainType {
    /// `filter`.
    Filter,
    /// `nat`.
    Nat,
}

/// Hook attachment of a base chain (policy is always `accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseChain {
    /// Chain type.
    pub chain_type: ChainType,
    /// Hook.
    pub hook: Hook,
    /// Numeric priority (`-100` = dstnat, `100` = srcnat, `-110` = before DNAT).
    pub priority: i32,
}

/// One chain and its rules (nft syntax, one rule per string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chain {
    /// Chain name.
    pub name: String,
    /// Hook attachment for base chains, `None` for regular chains.
    pub base: Option<BaseChain>,
    /// Comment printed above the chain (already comment-safe).
    pub comment: Option<String>,
    /// Rules in evaluation order.
    pub rules: Vec<String>,
}

/// Kind of a named set or map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum SetKind {
    /// Elements fully defined by the rule set.
    Static,
    /// Filled by the packet path (`update @set`), elements expire.
    Dynamic {
        /// Element timeout in seconds.
        timeout_secs: u32,
        /// Maximum number of elements.
        size: u32,
    },
}

/// One named set (`data_type == None`) or map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedSet {
    /// Set or map name.
    pub name: String,
    /// Key type, e.g. `ipv4_addr . inet_proto . inet_service`.
    pub key_type: String,
    /// Data type for maps, e.g. `verdict`.
    pub data_type: Option<String>,
    /// Whether `key_type` and `data_type` are expressions (`typeof ip daddr . th dport`)
    /// rather than type names: a key holding a number (`numgen`) has no type name of its own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub typeof_keys: bool,
    /// Static or dynamic.
    pub kind: SetKind,
    /// Elements in nft syntax (`key` or `key : data`), sorted.
    pub elements: Vec<String>,
}

impl NamedSet {
    /// `map` or `set`.
    pub fn keyword(&self) -> &'static str {
        if self.data_type.is_some() {
            "map"
        } else {
            "set"
        }
    }
}

/// Something in the input that the builder had to skip or change; the rest
/// of the rule set is still complete and valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesetWarning {
    /// The same Service key appeared twice.
    #[error(
        "Service {service} is listed more than once; only the first entry is used. Merge the entries into one ServiceInput."
    )]
    DuplicateService {
        /// The repeated key.
        service: ServiceKey,
    },
    /// A Service lists the same protocol and port twice.
    #[error(
        "Service {service} lists port {protocol}/{port} more than once; only the first is used. Remove the duplicate port."
    )]
    DuplicatePort {
        /// Service.
        service: ServiceKey,
        /// Protocol.
        protocol: Protocol,
        /// Port.
        port: u16,
    },
    /// A Service port is 0.
    #[error(
        "Service {service} has {protocol} port 0, which is not a valid port; it is skipped. Fix the Service spec."
    )]
    ZeroPort {
        /// Service.
        service: ServiceKey,
        /// Protocol.
        protocol: Protocol,
    },
    /// Two Services claim the same VIP, protocol and port.
    #[error(
        "{vip} {protocol}/{port} of Service {service} is already delivered for Service {owner}; skipped. Give one of them another IP or port."
    )]
    VipConflict {
        /// Service that lost.
        service: ServiceKey,
        /// Service that keeps the address.
        owner: ServiceKey,
        /// Address.
        vip: IpAddr,
        /// Protocol.
        protocol: Protocol,
        /// Port.
        port: u16,
    },
    /// Two Services claim the same NodePort.
    #[error(
        "NodePort {protocol}/{node_port} of Service {service} is already used by Service {owner}; skipped. Allocate a distinct nodePort."
    )]
    NodePortConflict {
        /// Service that lost.
        service: ServiceKey,
        /// Service that keeps the NodePort.
        owner: ServiceKey,
        /// Protocol.
        protocol: Protocol,
        /// NodePort.
        node_port: u16,
    },
    /// `affinity: Some(0)`.
    #[error(
        "Service {service} has a ClientIP affinity timeout of 0 s; affinity is disabled. Use 1..=86400 seconds."
    )]
    ZeroAffinityTimeout {
        /// Service.
        service: ServiceKey,
    },
}

/// Sizes of a rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RulesetStats {
    /// Services with at least one VIP, NodePort or reject entry.
    pub services: usize,
    /// Service ports (per Service, not per family) with such an entry.
    pub service_ports: usize,
    /// Chains, base chains included.
    pub chains: usize,
    /// Rules in all chains.
    pub rules: usize,
    /// Elements of the static named sets and maps.
    pub map_elements: usize,
}

/// Key of a UDP Service port: Service and port number.
pub type UdpServicePort = (ServiceKey, u16);

/// Everything needed to program one node: the full content of `inet ferrolb`.
///
/// Serializes (for `/debug/state`) as its node, sets, chains with their rules in nft syntax,
/// warnings as sentences, UDP backends as a list and the counts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ruleset {
    pub(super) node_name: String,
    pub(super) sets: Vec<NamedSet>,
    pub(super) chains: Vec<Chain>,
    #[serde(serialize_with = "sentences")]
    pub(super) warnings: Vec<RulesetWarning>,
    #[serde(serialize_with = "udp_backend_list")]
    pub(super) udp_backends: BTreeMap<UdpServicePort, BTreeSet<Backend>>,
    pub(super) services: usize,
    pub(super) service_ports: usize,
}

impl Ruleset {
    /// Node the rule set was built for.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Named sets and maps, in output order.
    pub fn sets(&self) -> &[NamedSet] {
        &self.sets
    }

    /// Chains, in output order (base chains first).
    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// Chain by name.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|chain| chain.name == name)
    }

    /// Named set or map by name.
    pub fn set(&self, name: &str) -> Option<&NamedSet> {
        self.sets.iter().find(|set| set.name == name)
    }

    /// Input problems that were skipped; log them.
    pub fn warnings(&self) -> &[RulesetWarning] {
        &self.warnings
    }

    /// Backends receiving new connections per UDP Service port (both
    /// families, local and cluster-wide selections together).
    pub fn udp_backends(&self) -> &BTreeMap<UdpServicePort, BTreeSet<Backend>> {
        &self.udp_backends
    }

    /// Number of rules every packet may traverse before reaching a per-Service
    /// chain: base chains plus the shared `services` and `reject_traffic`
    /// chains. Independent of the number of Services.
    pub fn dispatch_rule_count(&self) -> usize {
        self.chains
            .iter()
            .filter(|chain| {
                chain.base.is_some() || chain.name == SERVICES_CHAIN || chain.name == REJECT_CHAIN
            })
            .map(|chain| chain.rules.len())
            .sum()
    }

    /// Counts of services, chains, rules and map elements.
    pub fn stats(&self) -> RulesetStats {
        RulesetStats {
            services: self.services,
            service_ports: self.service_ports,
            chains: self.chains.len(),
            rules: self.chains.iter().map(|chain| chain.rules.len()).sum(),
            map_elements: self
                .sets
                .iter()
                .filter(|set| set.kind == SetKind::Static)
                .map(|set| set.elements.len())
                .sum(),
        }
    }
}

/// Warnings as their messages.
fn sentences<S: serde::Serializer>(warnings: &[RulesetWarning], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(warnings.iter().map(ToString::to_string))
}

/// One UDP Service port and the backends receiving its new flows (a map key cannot be a pair
/// in JSON, so the map is written as a list of these).
#[derive(Serialize)]
struct UdpBackends<'a> {
    service: &'a ServiceKey,
    port: u16,
    backends: &'a BTreeSet<Backend>,
}

fn udp_backend_list<S: serde::Serializer>(
    map: &BTreeMap<UdpServicePort, BTreeSet<Backend>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.iter().map(|((service, port), backends)| UdpBackends {
        service,
        port: *port,
        backends,
    }))
}
