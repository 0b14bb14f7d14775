//! Per-Service chains: the entry chain of a Service port with ClientIP affinity (which DNATs
//! to the endpoints itself), its cluster chain and affinity sets; source-range chains.
//! Service ports without affinity have no chain of their own (module `spread`).

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::input::PortInput;
use super::model::{Chain, NamedSet, SetKind, mark_for_masquerade};
use super::names::{self, comment_safe};
use super::names::{NftFamily, NftProtocol};
use super::select::{Backend, Selection};
use ferrolb_core::IpFamily;
use ferrolb_core::{ServiceKey, TrafficPolicy};

/// Maximum clients remembered per endpoint for ClientIP affinity.
pub const AFFINITY_SET_SIZE: u32 = 65_535;

/// Everything that shapes the chains of one Service port in one family.
pub(super) struct PortPlan<'a> {
    /// Service.
    pub key: &'a ServiceKey,
    /// Service port.
    pub port: &'a PortInput,
    /// [`names::service_port_id`] of the port.
    pub port_id: &'a str,
    /// IpFamily of the chains.
    pub family: IpFamily,
    /// External traffic policy.
    pub etp: TrafficPolicy,
    /// ClientIP affinity timeout (seconds, non-zero).
    pub affinity: u32,
    /// Selected backends (cluster list non-empty).
    pub selection: &'a Selection,
}

/// Chains and dynamic sets of one Service port in one family; the first
/// chain is the entry chain targeted by the dispatch maps.
pub(super) struct PortChains {
    /// Chains, entry chain first.
    pub chains: Vec<Chain>,
    /// Affinity sets.
    pub sets: Vec<NamedSet>,
}

/// Builds the chains of one Service port in one family.
pub(super) fn port_chains(plan: &PortPlan<'_>) -> PortChains {
    let entry_name = names::service_chain(plan.family, plan.port_id);
    let comment = format!(
        "{} {}/{}{} externalTrafficPolicy={:?} ClientIP affinity {}s",
        plan.key,
        plan.port.protocol.nft_name(),
        plan.port.port,
        plan.port
            .name
            .as_deref()
            .map(|name| format!(" ({name})"))
            .unwrap_or_default(),
        plan.etp,
        plan.affinity,
    );
    let mut chains = Vec::new();
    match plan.etp {
        TrafficPolicy::Cluster => {
            // The `services` chain marked the packet for masquerade already (its
            // `masquerade_ipsN` / `masquerade_node_portsN` sets).
            let rules = dispatch_rules(plan, &plan.selection.cluster);
            chains.push(chain(entry_name, Some(comment), rules));
        }
        TrafficPolicy::Local => {
            let cluster_name = names::cluster_chain(plan.family, plan.port_id);
            // Traffic the node itself sends has no client address worth
            // preserving: use every endpoint and masquerade (as kube-proxy).
            let mut rules = vec![format!("fib saddr type local goto {cluster_name}")];
            if plan.selection.local.is_empty() {
                rules.push("drop".to_string());
            } else {
                rules.extend(dispatch_rules(plan, &plan.selection.local));
            }
            chains.push(chain(entry_name, Some(comment), rules));
            let mut cluster_rules = vec![mark_for_masquerade()];
            cluster_rules.extend(dispatch_rules(plan, &plan.selection.cluster));
            chains.push(chain(cluster_name, None, cluster_rules));
        }
    }
    let backends: BTreeSet<Backend> = plan
        .selection
        .cluster
        .iter()
        .chain(&plan.selection.local)
        .copied()
        .collect();
    let sets = backends
        .iter()
        .map(|backend| NamedSet {
            name: names::affinity_set(plan.port_id, &backend.ip, backend.port),
            key_type: plan.family.addr_type().to_string(),
            data_type: None,
            typeof_keys: false,
            kind: SetKind::Dynamic {
                timeout_secs: plan.affinity,
                size: AFFINITY_SET_SIZE,
            },
            elements: Vec::new(),
        })
        .collect();
    PortChains { chains, sets }
}

fn chain(name: String, comment: Option<String>, rules: Vec<String>) -> Chain {
    Chain {
        name,
        base: None,
        comment: comment.map(|text| comment_safe(&text)),
        rules,
    }
}

/// Affinity lookups followed by the spread over `backends`; every rule ends in the
/// DNAT to its endpoint. No chain per endpoint: each chain is a kernel object that nft and the
/// kernel walk on every change (40,000 of them with 10,000 Services of 3 endpoints), and an
/// endpoint reaching itself is masqueraded in `nat_postrouting` through the `hairpinN` sets.
fn dispatch_rules(plan: &PortPlan<'_>, backends: &[Backend]) -> Vec<String> {
    let saddr = format!("{} saddr", plan.family.payload());
    // Every rule also remembers (or refreshes) the client for its endpoint.
    let to = |backend: &Backend| -> String {
        format!(
            "update @{} {{ {saddr} }} {}",
            names::affinity_set(plan.port_id, &backend.ip, backend.port),
            dnat(plan, backend)
        )
    };
    let mut rules: Vec<String> = backends
        .iter()
        .map(|backend| {
            format!(
                "{saddr} @{} {}",
                names::affinity_set(plan.port_id, &backend.ip, backend.port),
                to(backend)
            )
        })
        .collect();
    // Clients unknown to the affinity sets: a cascade hashing the client address (another
    // seed per step), so they still land on the same endpoint while the endpoint list is
    // unchanged (e.g. after a full table replacement). Rule k picks endpoint k with
    // probability 1/(n-k), which spreads evenly (kube-proxy's iptables cascade).
    let count = backends.len();
    if count == 0 {
        rules.push("drop".to_string());
    }
    for (index, backend) in backends.iter().enumerate() {
        let left = count - index;
        if left == 1 {
            rules.push(to(backend));
        } else {
            rules.push(format!(
                "jhash {saddr} mod {left} seed {index:#x} == 0 {}",
                to(backend)
            ));
        }
    }
    rules
}

/// The DNAT to one endpoint (terminal: the rule that matches decides).
fn dnat(plan: &PortPlan<'_>, backend: &Backend) -> String {
    let destination = match plan.family {
        IpFamily::V4 => format!("{}:{}", backend.ip, backend.port),
        IpFamily::V6 => format!("[{}]:{}", backend.ip, backend.port),
    };
    format!(
        "meta l4proto {} dnat {} to {destination}",
        plan.port.protocol.nft_name(),
        plan.family.payload()
    )
}

/// Source-range chain of a Service for one family: drops sources outside
/// `loadBalancerSourceRanges` (all of them when no range has this family).
pub(super) fn firewall_chain(
    key: &ServiceKey,
    service_id: &str,
    family: IpFamily,
    ranges: &[IpNet],
) -> Chain {
    let of_family: Vec<IpNet> = ranges
        .iter()
        .filter(|net| IpFamily::of(net.addr()) == family)
        .map(IpNet::trunc)
        .collect();
    let allowed = IpNet::aggregate(&of_family);
    let rule = if allowed.is_empty() {
        "drop".to_string()
    } else {
        let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        format!(
            "{} saddr != {{ {} }} drop",
            family.payload(),
            list.join(", ")
        )
    };
    let comment = format!("{key} loadBalancerSourceRanges (IPv{})", family.digit());
    chain(
        names::firewall_chain(family, service_id),
        Some(comment),
        vec![rule],
    )
}
