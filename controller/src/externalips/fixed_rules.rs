//! Rules that refuse an address whatever the policies say: special-purpose addresses,
//! and addresses that belong to Nodes, ClusterIPs, VIPPools or another namespace.
//!
//! Every function here takes the address *as judged*: IPv4-mapped IPv6 already turned
//! into IPv4 (`::ffff:127.0.0.1` is judged as `127.0.0.1`). Facts are normalised the same
//! way, so a mapped node address in the facts protects its IPv4 form too.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::cidr::{PolicyError, parse_cidr};
use super::model::{Claim, ClusterFacts};
use super::verdict::{ConfigProblem, Rule};

/// A refusal before it is turned into a sentence: `reason` reads "it is ...; ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) rule: Rule,
    pub(super) reason: String,
}

fn refuse(rule: Rule, reason: String) -> Option<Refusal> {
    Some(Refusal { rule, reason })
}

fn is_ipv6_link_local(ip: &std::net::Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// Special-purpose addresses, checked in order: unspecified, loopback, link-local,
/// multicast, IPv4 limited broadcast.
pub(super) fn special_address(ip: IpAddr) -> Option<Refusal> {
    let (loopback, link_local, multicast) = match ip {
        IpAddr::V4(_) => ("127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4"),
        IpAddr::V6(_) => ("::1", "fe80::/10", "ff00::/8"),
    };
    let is_link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => is_ipv6_link_local(&v6),
    };
    let is_broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() {
        refuse(
            Rule::Unspecified,
            format!(
                "it is the unspecified address {ip}; externalIPs must be a specific unicast \
                 address"
            ),
        )
    } else if ip.is_loopback() {
        refuse(
            Rule::Loopback,
            format!(
                "it is a loopback address ({loopback}); externalIPs must be reachable from \
                 outside the node"
            ),
        )
    } else if is_link_local {
        refuse(
            Rule::LinkLocal,
            format!(
                "it is a link-local address ({link_local}), valid only on one network \
                 segment; externalIPs may never be link-local addresses"
            ),
        )
    } else if ip.is_multicast() {
        refuse(
            Rule::Multicast,
            format!(
                "it is a multicast address ({multicast}); externalIPs must be unicast \
                 addresses"
            ),
        )
    } else if is_broadcast {
        refuse(
            Rule::Broadcast,
            "it is the IPv4 limited broadcast address 255.255.255.255; externalIPs must be \
             unicast addresses"
                .to_string(),
        )
    } else {
        None
    }
}

/// Cluster facts normalised once per review: canonical addresses, sorted for
/// deterministic messages.
#[derive(Debug, Clone, Default)]
pub(super) struct PreparedFacts {
    nodes: BTreeMap<IpAddr, BTreeSet<String>>,
    service_nets: Vec<IpNet>,
    pools: Vec<(String, IpAddr, IpAddr)>,
    claims: Vec<Claim>,
}

impl PreparedFacts {
    /// Normalises `facts`, pushing what is wrong with them onto `problems`.
    pub(super) fn new(facts: &ClusterFacts, problems: &mut Vec<ConfigProblem>) -> Self {
        let mut nodes: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
        for (node, ip) in &facts.node_addresses {
            nodes
                .entry(ip.to_canonical())
                .or_default()
                .insert(node.clone());
        }
        let mut service_nets = Vec::new();
        for (index, value) in facts.service_cidrs.iter().enumerate() {
            match parse_cidr(value) {
                Ok(net) => service_nets.push(net),
                Err(problem) => {
                    let protected = problem.corrected();
                    service_nets.extend(protected);
                    let error = PolicyError {
                        index,
                        value: value.clone(),
                        problem,
                    };
                    problems.push(ConfigProblem::ServiceCidr { error, protected });
                }
            }
        }
        service_nets.sort();
        service_nets.dedup();
        let mut pools = Vec::new();
        for (pool, ranges) in &facts.pools {
            for range in ranges {
                let (start, end) = (range.start().to_canonical(), range.end().to_canonical());
                if start.is_ipv4() == end.is_ipv4() && start <= end {
                    pools.push((pool.clone(), start, end));
                } else {
                    problems.push(ConfigProblem::PoolRange {
                        pool: pool.clone(),
                        start: *range.start(),
                        end: *range.end(),
                    });
                }
            }
        }
        pools.sort();
        let mut claims: Vec<Claim> = facts
            .claims
            .iter()
            .map(|c| Claim {
                ip: c.ip.to_canonical(),
                ..c.clone()
            })
            .collect();
        claims.sort();
        Self {
            nodes,
            service_nets,
            pools,
            claims,
        }
    }

    /// Conflicts with cluster facts, checked in order: node address, Service ClusterIP
    /// range, VIPPool, another namespace's claim. Claims from `namespace` itself (including
    /// the Service's own) are never conflicts.
    pub(super) fn conflict(&self, ip: IpAddr, namespace: &str) -> Option<Refusal> {
        if let Some(names) = self.nodes.get(&ip) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let whose = match names.as_slice() {
                [one] => format!("node {one}'s address"),
                many => format!("the address of nodes {}", many.join(", ")),
            };
            return refuse(
                Rule::NodeAddress,
                format!("it is {whose} (CVE-2020-8554); externalIPs may never be a node's address"),
            );
        }
        if let Some(net) = self.service_nets.iter().find(|n| n.contains(&ip)) {
            return refuse(
                Rule::ServiceCidr,
                format!(
                    "it is inside the Service ClusterIP range {net}; externalIPs may never \
                     overlap ClusterIPs, pick an address outside {net}"
                ),
            );
        }
        if let Some((pool, start, end)) = self.pools.iter().find(|(_, s, e)| *s <= ip && ip <= *e) {
            return refuse(
                Rule::IpPool,
                format!(
                    "it is inside VIPPool {pool} (range {start}-{end}), whose addresses ferrolb \
                     assigns itself; use a Service of type LoadBalancer to get an address \
                     from that pool instead"
                ),
            );
        }
        if let Some(claim) = self
            .claims
            .iter()
            .find(|c| c.ip == ip && c.namespace != namespace)
        {
            return refuse(
                Rule::ClaimedByOtherNamespace,
                format!(
                    "it is already the {} of Service {}/{} in another namespace; an address \
                     may be used by one namespace only, pick another address",
                    claim.kind.describe(),
                    claim.namespace,
                    claim.name
                ),
            );
        }
        None
    }
}
