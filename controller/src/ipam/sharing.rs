//! Who holds which address, and whether another Service may share it.
//!
//! Services may share an address only when they are in the same namespace, carry the same
//! sharing key, use no common `(protocol, port)` and have compatible traffic policies (both
//! Cluster, or both Local with identical pod selectors). Holders of one address are always
//! pairwise compatible, so a candidate is checked against the first holder and the port map.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::model::ServiceRequest;
use ferrolb_core::{IpFamily, value_to_ip};
use ferrolb_core::{Protocol, TrafficPolicy};

/// An address: family and numeric value.
pub(super) type Addr = (IpFamily, u128);

/// Why a Service may not share an address with its holders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Incompatibility {
    /// The holder or the candidate has no sharing key.
    NoSharingKey { holder: usize },
    /// The holder is in another namespace.
    OtherNamespace { holder: usize },
    /// The holder has another sharing key.
    OtherKey { holder: usize },
    /// The holder already uses this port on the address.
    PortInUse {
        holder: usize,
        protocol: Protocol,
        port: u16,
    },
    /// The traffic policies (or Local pod selectors) differ.
    TrafficPolicy { holder: usize },
}

impl Incompatibility {
    /// Index of the Service the candidate conflicts with.
    pub(super) fn holder(self) -> usize {
        match self {
            Incompatibility::NoSharingKey { holder }
            | Incompatibility::OtherNamespace { holder }
            | Incompatibility::OtherKey { holder }
            | Incompatibility::PortInUse { holder, .. }
            | Incompatibility::TrafficPolicy { holder } => holder,
        }
    }

    /// Whether both are in the same sharing group (the conflict is about ports or policy).
    pub(super) fn same_group(self) -> bool {
        matches!(
            self,
            Incompatibility::PortInUse { .. } | Incompatibility::TrafficPolicy { .. }
        )
    }

    /// A clause naming the conflicting Service and the cause, e.g. for "x is refused: <clause>".
    pub(super) fn describe(
        self,
        services: &[&ServiceRequest],
        candidate: usize,
        addr: Addr,
    ) -> String {
        let ip = value_to_ip(addr.0, addr.1);
        let (Some(holder), Some(cand)) = (services.get(self.holder()), services.get(candidate))
        else {
            return format!("{ip} is held by another Service");
        };
        let h = &holder.key;
        match self {
            Incompatibility::NoSharingKey { .. } => format!(
                "{ip} is used by Service {h}, and an address is only shared between Services that \
                 both set the same sharing key"
            ),
            Incompatibility::OtherNamespace { .. } => format!(
                "{ip} is used by Service {h} in another namespace; addresses are only shared \
                 within one namespace"
            ),
            Incompatibility::OtherKey { .. } => format!(
                "{ip} is used by Service {h} with sharing key {:?}, not {:?}",
                holder.sharing_key.as_deref().unwrap_or_default(),
                cand.sharing_key.as_deref().unwrap_or_default()
            ),
            Incompatibility::PortInUse { protocol, port, .. } => format!(
                "{ip} is shared with Service {h}, which already uses {protocol}/{port} on it; use \
                 another port or another sharing key"
            ),
            Incompatibility::TrafficPolicy { .. } => format!(
                "{ip} is shared with Service {h}, whose externalTrafficPolicy is incompatible \
                 (sharing needs both Cluster, or both Local with identical pod selectors)"
            ),
        }
    }
}

/// Whether two Services may share an address (ignoring other holders).
pub(super) fn pair_conflict(
    holder: (usize, &ServiceRequest),
    cand: &ServiceRequest,
) -> Option<Incompatibility> {
    let (h, hs) = holder;
    match (&hs.sharing_key, &cand.sharing_key) {
        (Some(k1), Some(k2)) => {
            if hs.key.namespace != cand.key.namespace {
                return Some(Incompatibility::OtherNamespace { holder: h });
            }
            if k1 != k2 {
                return Some(Incompatibility::OtherKey { holder: h });
            }
        }
        _ => return Some(Incompatibility::NoSharingKey { holder: h }),
    }
    let policies_fit = match (hs.external_traffic_policy, cand.external_traffic_policy) {
        (TrafficPolicy::Cluster, TrafficPolicy::Cluster) => true,
        (TrafficPolicy::Local, TrafficPolicy::Local) => hs.selector == cand.selector,
        _ => false,
    };
    if !policies_fit {
        return Some(Incompatibility::TrafficPolicy { holder: h });
    }
    let port = cand.ports.iter().find(|p| hs.ports.contains(p))?;
    Some(Incompatibility::PortInUse {
        holder: h,
        protocol: port.0,
        port: port.1,
    })
}

#[derive(Debug, Default)]
struct AddressHolders {
    /// Service indices, in the order they took the address.
    members: Vec<usize>,
    /// Which member uses each port, in the order they were added (a list: an address has a
    /// few ports, and a map for each of 10,000 addresses cost allocations on every plan).
    ports: Vec<((Protocol, u16), usize)>,
}

impl AddressHolders {
    fn port_holder(&self, port: &(Protocol, u16)) -> Option<usize> {
        self.ports.iter().find(|(p, _)| p == port).map(|&(_, m)| m)
    }
}

/// Registry of held addresses and of each sharing group's addresses.
#[derive(Debug, Default)]
pub(super) struct Holders {
    /// A planner pass looks addresses up for every Service: a fast hasher, seeded per map.
    by_addr: HashMap<Addr, AddressHolders, RandomState>,
    groups: HashMap<(Arc<str>, String), BTreeSet<Addr>, RandomState>,
}

fn group_of(svc: &ServiceRequest) -> Option<(Arc<str>, String)> {
    svc.sharing_key
        .as_ref()
        .map(|k| (svc.key.namespace.clone(), k.clone()))
}

impl Holders {
    /// Room for `addresses` held addresses without growing.
    pub(super) fn with_capacity(addresses: usize) -> Holders {
        Holders {
            by_addr: HashMap::with_capacity_and_hasher(addresses, RandomState::default()),
            groups: HashMap::default(),
        }
    }

    /// Whether anyone holds `addr`.
    pub(super) fn is_held(&self, addr: Addr) -> bool {
        self.by_addr
            .get(&addr)
            .is_some_and(|h| !h.members.is_empty())
    }

    /// Services holding `addr`, in the order they took it.
    pub(super) fn members(&self, addr: Addr) -> &[usize] {
        self.by_addr
            .get(&addr)
            .map_or(&[], |h| h.members.as_slice())
    }

    /// Whether Service `idx` holds `addr`.
    pub(super) fn holds(&self, addr: Addr, idx: usize) -> bool {
        self.by_addr
            .get(&addr)
            .is_some_and(|h| h.members.contains(&idx))
    }

    /// Whether Service `cand` may join the holders of `addr`.
    pub(super) fn check(
        &self,
        addr: Addr,
        cand: usize,
        services: &[&ServiceRequest],
    ) -> Result<(), Incompatibility> {
        let (Some(holders), Some(cs)) = (self.by_addr.get(&addr), services.get(cand)) else {
            return Ok(());
        };
        let Some((first, fs)) = holders
            .members
            .first()
            .and_then(|&f| Some((f, services.get(f)?)))
        else {
            return Ok(());
        };
        match pair_conflict((first, fs), cs) {
            None | Some(Incompatibility::PortInUse { .. }) => {}
            Some(other) => return Err(other),
        }
        for port in &cs.ports {
            if let Some(holder) = holders.port_holder(port) {
                return Err(Incompatibility::PortInUse {
                    holder,
                    protocol: port.0,
                    port: port.1,
                });
            }
        }
        Ok(())
    }

    /// Records Service `idx` as a holder of `addr` (callers check compatibility first).
    pub(super) fn add(&mut self, addr: Addr, idx: usize, services: &[&ServiceRequest]) {
        let Some(svc) = services.get(idx) else { return };
        let holders = self.by_addr.entry(addr).or_default();
        if holders.members.contains(&idx) {
            return;
        }
        holders.members.push(idx);
        for port in &svc.ports {
            if holders.port_holder(port).is_none() {
                holders.ports.push((*port, idx));
            }
        }
        if let Some(group) = group_of(svc) {
            self.groups.entry(group).or_default().insert(addr);
        }
    }

    /// Removes Service `idx` from the holders of `addr`; returns whether nobody holds it now.
    pub(super) fn remove(&mut self, addr: Addr, idx: usize, services: &[&ServiceRequest]) -> bool {
        let Some(holders) = self.by_addr.get_mut(&addr) else {
            return true;
        };
        holders.members.retain(|&m| m != idx);
        holders.ports.retain(|(_, m)| *m != idx);
        if !holders.members.is_empty() {
            return false;
        }
        self.by_addr.remove(&addr);
        if let Some(group) = services.get(idx).and_then(|s| group_of(s))
            && let Some(set) = self.groups.get_mut(&group)
        {
            set.remove(&addr);
        }
        true
    }

    /// Addresses of `family` held by the sharing group (namespace, key), ascending.
    pub(super) fn group_addresses(
        &self,
        namespace: &str,
        key: &str,
        family: IpFamily,
    ) -> Vec<u128> {
        self.groups
            .get(&(Arc::from(namespace), key.to_string()))
            .map(|set| set.iter().filter(|a| a.0 == family).map(|a| a.1).collect())
            .unwrap_or_default()
    }
}
