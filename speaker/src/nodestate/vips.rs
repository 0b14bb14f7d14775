//! Which addresses of a Service the speaker may serve, and why the others are refused.
//!
//! - LoadBalancer IPs: only of ferrolb's Services, only when the controller's allocation proof
//!   holds and the IP lies in a pool that the controller's `ferrolb.io/allocated-from`
//!   annotation names, and no newer allocation of another Service takes it
//!   ([`Allocations`](ferrolb_adapter::allocations::Allocations)).
//! - externalIPs: only when the controller signed the Service's current list
//!   (`ferrolb.io/external-ips-proof`) and its `ferrolb.io/ExternalIPsAllowed` condition allows
//!   them for the current generation (any Service type: the controller reviews them all).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_adapter::allocations::Allocation;
use ferrolb_adapter::node_service::NodeService;
use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::proof::VerifyKeys;
use k8s_openapi::api::core::v1::Service;

use super::ownership::{external_ips_allowed, is_ferrolb_lb};

/// A LoadBalancer IP the controller allocated, with its pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolIp {
    /// The address.
    pub ip: IpAddr,
    /// The pool it lies in, named by the annotation.
    pub pool: String,
    /// The pool is an edge pool: programmed, but not announced over L2.
    pub edge: bool,
}

/// The addresses of one Service, sorted out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceVips {
    /// The Service is a LoadBalancer Service of ferrolb (its NodePorts are served).
    pub ferrolb_lb: bool,
    /// Valid LoadBalancer IPs.
    pub lb: Vec<PoolIp>,
    /// Allowed externalIPs.
    pub external: Vec<IpAddr>,
    /// Addresses never announced nor programmed, with the reason.
    pub refused: Vec<(IpAddr, String)>,
}

impl ServiceVips {
    /// Every address to program (LoadBalancer IPs, then externalIPs), without duplicates.
    pub fn programmed(&self) -> Vec<IpAddr> {
        let mut seen = BTreeSet::new();
        let mut programmed: Vec<IpAddr> = self
            .lb
            .iter()
            .map(|p| p.ip)
            .chain(self.external.iter().copied())
            .filter(|ip| seen.insert(*ip))
            .collect();
        // A filter's collect starts at four addresses; the rule builder's input keeps this.
        programmed.shrink_to_fit();
        programmed
    }

    /// Whether nothing concerns the speaker.
    pub fn is_empty(&self) -> bool {
        !self.ferrolb_lb
            && self.lb.is_empty()
            && self.external.is_empty()
            && self.refused.is_empty()
    }
}

/// Whether `svc` may concern a node's desired state: it has an ingress entry or an externalIP,
/// or is a ferrolb LoadBalancer by its type and class alone. When this is false its
/// [`ServiceVips`] are empty whatever the pools, the proofs and the other Services (an
/// allocation is proven only with ingress addresses, and only then does a Service without a
/// class become ferrolb's), so it has no row: a change between two such states, or of such a
/// Service's EndpointSlices, changes nothing a step computes, and the speaker's stores do not
/// wake the loop for it
/// ([`ServiceStores::start_for`](ferrolb_adapter::stores::ServiceStores::start_for)).
pub fn may_concern(svc: &NodeService) -> bool {
    svc.has_ingress() || svc.has_external_ips() || is_ferrolb_lb(&svc.service(), false)
}

/// Sorts out the addresses of `svc`: `allocation` is its addresses as every Service's were
/// judged together ([`Allocations`](ferrolb_adapter::allocations::Allocations)), `proven`
/// whether the controller signed them.
pub fn classify(
    svc: &Service,
    pools: &Pools,
    proven: bool,
    allocation: &[Allocation],
    keys: &VerifyKeys,
) -> ServiceVips {
    let mut out = ServiceVips {
        ferrolb_lb: is_ferrolb_lb(svc, proven),
        ..ServiceVips::default()
    };
    if out.ferrolb_lb {
        load_balancer_ips(pools, allocation, &mut out);
    }
    external_ips(svc, keys, &mut out);
    // Built by push, then kept with the Service's row: no spare capacity.
    out.lb.shrink_to_fit();
    out.external.shrink_to_fit();
    out.refused.shrink_to_fit();
    out
}

fn load_balancer_ips(pools: &Pools, allocation: &[Allocation], out: &mut ServiceVips) {
    for (ip, allocation) in allocation {
        match allocation {
            Ok(pool) => out.lb.push(PoolIp {
                ip: *ip,
                edge: pools.is_edge(pool),
                pool: pool.clone(),
            }),
            Err(why) => out.refused.push((*ip, why.clone())),
        }
    }
}

fn external_ips(svc: &Service, keys: &VerifyKeys, out: &mut ServiceVips) {
    let listed: Vec<&String> = svc
        .spec
        .as_ref()
        .and_then(|s| s.external_ips.as_ref())
        .into_iter()
        .flatten()
        .collect();
    if listed.is_empty() {
        return;
    }
    let mut ips = BTreeSet::new();
    for text in listed {
        // Unparsable entries are refused by the apiserver and the controller; they have no
        // address to report here.
        if let Ok(ip) = text.trim().parse::<IpAddr>() {
            ips.insert(ip);
        }
    }
    match external_ips_allowed(svc, keys) {
        Ok(()) => out.external.extend(ips),
        Err(why) => out
            .refused
            .extend(ips.into_iter().map(|ip| (ip, why.clone()))),
    }
}
