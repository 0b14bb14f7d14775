//! The node's Service rules as one nftables table, `inet ferrolb` (pure builder).
//!
//! ferrolb's speaker delivers packets for LoadBalancer VIPs, allowed
//! externalIPs and NodePorts on nodes without kube-proxy. [`build`] turns a
//! [`NodeInput`] into a [`Ruleset`]; [`Ruleset::to_nft_script`] renders it as
//! one atomic `nft -f` transaction that replaces the whole table, and
//! [`Ruleset::to_nft_update_script`] as one that carries only the difference
//! from the rule set applied before (keeping ClientIP affinity state), and
//! [`Ruleset::to_nft_resync_script`] as one that rewrites everything in place.
//!
//! # Packet path
//!
//! | chain | hook / priority | job |
//! |---|---|---|
//! | `filter_prerouting` | prerouting −110 | `loadBalancerSourceRanges`: VIP tuple → `fwN_*` chain dropping other sources |
//! | `filter_input`, `filter_forward` | −110 | new, non-DNATed flows to a VIP / NodePort without endpoints → `reject_traffic` |
//! | `filter_output` | output −110 | both checks above for traffic the node sends itself |
//! | `nat_prerouting`, `nat_output` | −100 (dstnat) | `jump services` |
//! | `services` | | `Cluster` Services' packets marked for masquerade (`masquerade_ipsN`, `masquerade_node_portsN`: one set lookup each, not one rule per Service chain); `daddr . l4proto . dport` verdict maps (VIPs, then NodePorts) → a spread chain, or `svcN_*` |
//! | `spreadN_PROTO_COUNT[_localL]`, `node_port_spread…` | | shared by every Service port of that family, protocol and endpoint count: one DNAT through the endpoint map `endpointsN_PROTO` (`VIP . port . index : endpoint . port`) or `node_port_endpointsN_PROTO`, index `numgen random mod COUNT` (module `spread`); a `Local` chain sends the node's own traffic to any endpoint, marked for masquerade |
//! | `svcN_*` | | per Service port and family, only with ClientIP affinity: affinity lookups, then a `jhash` cascade whose rules DNAT themselves |
//! | `nat_postrouting` | 100 (srcnat) | masquerade packets carrying [`MASQUERADE_MARK`], and hairpin packets (`hairpinN`: `endpoint . endpoint`) |
//!
//! The number of rules a packet meets before its spread chain does not depend on the number
//! of Services ([`Ruleset::dispatch_rule_count`]).
//!
//! # Semantics (kube-proxy compatible)
//! - `externalTrafficPolicy: Cluster`: ready endpoints anywhere, random
//!   spread (`numgen random mod COUNT`, see below), client masqueraded.
//! - `Local`: this node's ready endpoints, client address kept; none → `drop`.
//!   Traffic the node sends itself (`fib saddr type local`) uses every endpoint
//!   and is masqueraded, so the node can always reach the Service.
//! - No ready endpoint → serving-and-terminating ones; no endpoint at all →
//!   new connections rejected (TCP reset / ICMP port unreachable).
//! - Hairpin: an endpoint reaching itself through the VIP is masqueraded (source and
//!   destination equal after the DNAT, one set lookup in `nat_postrouting`).
//! - ClientIP affinity: one dynamic set per endpoint remembers clients for the
//!   timeout; unknown clients are spread by `jhash` of their address, so they
//!   keep their endpoint while the endpoint list is unchanged even after a full
//!   replacement wiped the sets.
//!
//! # Cost
//! A packet meets the same dispatch rules whatever the number of Services, then one rule of
//! a shared spread chain: one lookup in an endpoint map keyed by its destination and
//! `numgen random mod COUNT`. A Service's endpoints are map elements, not rules: at 10,000
//! Services of 2–3 endpoints the table has a few dozen rules, where a `numgen` cascade of one
//! rule per endpoint (ferrolb's earlier shape) had 25,000, and those were 0.8 of the 1.03 s a
//! full write took (nft's parse and the kernel's set-up of every expression). Chains are
//! shared per endpoint count, not per Service, because the kernel walks a map each time
//! another chain binds it (a chain per Service binding one map: 14 s for 10,000), and not
//! one anonymous map per Service, because the kernel names and binds anonymous sets by walks
//! that made 10,000 of them take 18–45 s. No chain per endpoint (kube-proxy has one): every
//! chain is an object nft reads and the kernel validates on each change.
//!
//! # Limits
//! - `loadBalancerSourceRanges` fail closed per family: a Service whose
//!   ranges are all IPv4 drops every IPv6 source on its IPv6 VIPs.
//! - Pod traffic to a `Cluster` VIP is masqueraded like external traffic (the
//!   input carries no cluster CIDR to tell pods apart).
//! - Pods on a node without local endpoints cannot reach a `Local` Service
//!   through its VIP (kube-proxy short-circuits pod traffic using the cluster
//!   CIDR, which this input does not carry).
//! - A Service with ClientIP affinity keeps a chain of its own, one affinity rule and one
//!   spread rule per endpoint, and a full replacement forgets affinity state.
//! - A table has a spread chain per distinct endpoint count in use, each walking its map
//!   once when created: cheap for counts up to the hundreds.
//! - `nft -c` does not check that statements suit the hook of the chains
//!   reaching them (the kernel checks that only on commit); the rule set was
//!   also applied for real in a scratch network namespace during development.

mod base;
mod build;
mod chains;
mod input;
mod model;
mod names;
mod render;
mod select;
mod spread;
mod stale;
mod update;

#[cfg(test)]
pub(crate) mod tests;

pub use base::{REJECT_CHAIN, SERVICES_CHAIN, SYNC_TOKEN_SET, SYNC_TOKEN_TYPE};
pub use build::build;
pub use chains::AFFINITY_SET_SIZE;
pub use input::{Endpoint, EndpointPort, NodeInput, PortInput, ServiceInput};
pub use model::{
    BaseChain, Chain, ChainType, Hook, MASQUERADE_MARK, NamedSet, Ruleset, RulesetStats,
    RulesetWarning, SetKind, TABLE, UdpServicePort,
};
pub use names::{NftFamily, NftProtocol};
pub use select::{Backend, backends};
pub use spread::LOCAL_INDEX_OFFSET;
pub use stale::{diff_size, stale_udp_endpoints};
pub use update::NeedsReplacement;
