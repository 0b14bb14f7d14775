//! [`build`]: turns a [`NodeInput`] into the complete [`Ruleset`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::base::{AddrKey, DispatchMaps, PerFamily, PortKey, REJECT_CHAIN, skeleton_chains};
use super::chains::{PortPlan, firewall_chain, port_chains};
use super::input::{NodeInput, PortInput, ServiceInput};
use super::model::{Chain, NamedSet, Ruleset, RulesetWarning};
use super::names::{self};
use super::select::select;
use super::spread::{Spreads, Targets};
use ferrolb_core::IpFamily;
use ferrolb_core::{Protocol, ServiceKey, TrafficPolicy};

/// Builds the whole rule set of one node. Never fails: input problems are
/// skipped and reported in [`Ruleset::warnings`]; everything else is still
/// delivered. Output is deterministic (independent of input order).
pub fn build(input: &NodeInput) -> Ruleset {
    let mut builder = Builder::new(input);
    let mut services: Vec<&ServiceInput> = input.services.iter().map(AsRef::as_ref).collect();
    // Stable sort: among duplicates the first listed wins.
    services.sort_by(|a, b| a.key.cmp(&b.key));
    let mut seen = BTreeSet::new();
    for service in services {
        if !seen.insert(&service.key) {
            builder.warn(RulesetWarning::DuplicateService {
                service: service.key.clone(),
            });
            continue;
        }
        builder.add_service(service);
    }
    builder.finish()
}

/// One Service port in one family, with the VIPs and NodePort it won.
struct PortInFamily<'s> {
    service: &'s ServiceInput,
    port: &'s PortInput,
    family: IpFamily,
    vips: Vec<IpAddr>,
    node_port: Option<u16>,
    affinity: Option<u32>,
}

struct Builder<'a> {
    input: &'a NodeInput,
    maps: DispatchMaps,
    vip_owner: BTreeMap<AddrKey, ServiceKey>,
    node_port_owner: BTreeMap<PortKey, ServiceKey>,
    spreads: Spreads,
    chains: Vec<Chain>,
    dynamic_sets: Vec<NamedSet>,
    result: Ruleset,
}

impl<'a> Builder<'a> {
    fn new(input: &'a NodeInput) -> Self {
        Self {
            input,
            maps: DispatchMaps::default(),
            vip_owner: BTreeMap::new(),
            node_port_owner: BTreeMap::new(),
            spreads: Spreads::default(),
            chains: Vec::new(),
            dynamic_sets: Vec::new(),
            result: Ruleset {
                node_name: input.node_name.clone(),
                ..Ruleset::default()
            },
        }
    }

    fn warn(&mut self, warning: RulesetWarning) {
        self.result.warnings.push(warning);
    }

    /// Claims `vip proto/port` for `service`; false (with a warning) when an
    /// earlier Service already owns it.
    fn claim_vip(&mut self, service: &ServiceKey, key: AddrKey) -> bool {
        match self.vip_owner.get(&key) {
            Some(owner) => {
                let warning = RulesetWarning::VipConflict {
                    service: service.clone(),
                    owner: owner.clone(),
                    vip: key.0,
                    protocol: key.1,
                    port: key.2,
                };
                self.warn(warning);
                false
            }
            None => {
                self.vip_owner.insert(key, service.clone());
                true
            }
        }
    }

    fn claim_node_port(&mut self, service: &ServiceKey, key: PortKey) -> bool {
        match self.node_port_owner.get(&key) {
            Some(owner) => {
                let warning = RulesetWarning::NodePortConflict {
                    service: service.clone(),
                    owner: owner.clone(),
                    protocol: key.0,
                    node_port: key.1,
                };
                self.warn(warning);
                false
            }
            None => {
                self.node_port_owner.insert(key, service.clone());
                true
            }
        }
    }

    /// Valid, de-duplicated ports of `service`, sorted by protocol and port.
    fn usable_ports<'s>(&mut self, service: &'s ServiceInput) -> Vec<&'s PortInput> {
        let mut ports: Vec<&PortInput> = service.ports.iter().collect();
        ports.sort_by_key(|port| (port.protocol, port.port));
        let mut seen: BTreeSet<(Protocol, u16)> = BTreeSet::new();
        let mut usable = Vec::new();
        for port in ports {
            if port.port == 0 {
                self.warn(RulesetWarning::ZeroPort {
                    service: service.key.clone(),
                    protocol: port.protocol,
                });
            } else if !seen.insert((port.protocol, port.port)) {
                self.warn(RulesetWarning::DuplicatePort {
                    service: service.key.clone(),
                    protocol: port.protocol,
                    port: port.port,
                });
            } else {
                usable.push(port);
            }
        }
        usable
    }

    fn add_service(&mut self, service: &ServiceInput) {
        let key = &service.key;
        let affinity = match service.affinity {
            Some(0) => {
                self.warn(RulesetWarning::ZeroAffinityTimeout {
                    service: key.clone(),
                });
                None
            }
            other => other,
        };
        let vips: BTreeSet<IpAddr> = service.vips.iter().copied().collect();
        let families = service_families(service);
        // Named only where a Service has chains of its own (source ranges): most have none.
        let service_id = service
            .source_ranges
            .restricts()
            .then(|| names::service_id(key));
        let mut needs_firewall: PerFamily<bool> = PerFamily::default();
        let mut any_entry = false;
        for port in self.usable_ports(service) {
            let claimed: Vec<IpAddr> = vips
                .iter()
                .copied()
                .filter(|vip| self.claim_vip(key, (*vip, port.protocol, port.port)))
                .collect();
            let node_port = port
                .node_port
                .filter(|node_port| *node_port != 0)
                .filter(|node_port| self.claim_node_port(key, (port.protocol, *node_port)));
            let mut port_entry = false;
            for family in IpFamily::ALL {
                let target = PortInFamily {
                    service,
                    port,
                    family,
                    vips: claimed
                        .iter()
                        .copied()
                        .filter(|vip| IpFamily::of(vip) == family)
                        .collect(),
                    node_port: node_port.filter(|_| families.contains(&family)),
                    affinity,
                };
                if target.vips.is_empty() && target.node_port.is_none() {
                    continue;
                }
                port_entry = true;
                self.add_port_in_family(&target);
                if let Some(service_id) = service_id.as_deref()
                    && !target.vips.is_empty()
                {
                    *needs_firewall.get_mut(family) = true;
                    let jump = format!("jump {}", names::firewall_chain(family, service_id));
                    for vip in target.vips {
                        self.maps
                            .firewall_ips
                            .get_mut(family)
                            .insert((vip, port.protocol, port.port), jump.clone());
                    }
                }
            }
            if port_entry {
                self.result.service_ports += 1;
                any_entry = true;
            }
        }
        for family in IpFamily::ALL {
            if let Some(service_id) = service_id.as_deref()
                && *needs_firewall.get(family)
            {
                let chain =
                    firewall_chain(key, service_id, family, service.source_ranges.networks());
                self.chains.push(chain);
            }
        }
        if any_entry {
            self.result.services += 1;
        }
    }

    /// Chains and dispatch (or reject) entries of one Service port in one family.
    fn add_port_in_family(&mut self, target: &PortInFamily<'_>) {
        let (service, port, family) = (target.service, target.port, target.family);
        let selection = select(
            &service.endpoints,
            port,
            family,
            &self.input.node_name,
            service.etp == TrafficPolicy::Local,
        );
        if port.protocol == Protocol::Udp {
            self.result
                .udp_backends
                .entry((service.key.clone(), port.port))
                .or_default()
                .extend(selection.cluster.iter().chain(&selection.local).copied());
        }
        if selection.cluster.is_empty() {
            let verdict = format!("goto {REJECT_CHAIN}");
            for vip in &target.vips {
                let key = (*vip, port.protocol, port.port);
                self.maps
                    .no_endpoint_ips
                    .get_mut(family)
                    .insert(key, verdict.clone());
            }
            if let Some(node_port) = target.node_port {
                let key = (port.protocol, node_port);
                self.maps
                    .no_endpoint_node_ports
                    .get_mut(family)
                    .insert(key, verdict);
            }
            return;
        }
        self.maps.hairpin.get_mut(family).extend(
            selection
                .cluster
                .iter()
                .chain(&selection.local)
                .map(|backend| backend.ip),
        );
        // With ClientIP affinity a Service port has chains of its own (its affinity sets);
        // without, its endpoints are elements of the maps the shared spread chains read.
        let own_chain = target.affinity.and_then(|affinity| {
            let port_id = names::service_port_id(&service.key, port.protocol, port.port);
            let built = port_chains(&PortPlan {
                key: &service.key,
                port,
                port_id: &port_id,
                family,
                etp: service.etp,
                affinity,
                selection: &selection,
            });
            let entry = built
                .chains
                .first()
                .map(|chain| format!("goto {}", chain.name));
            self.chains.extend(built.chains);
            self.dynamic_sets.extend(built.sets);
            entry
        });
        let targets = Targets {
            family,
            protocol: port.protocol,
            cluster: &selection.cluster,
            local: (service.etp == TrafficPolicy::Local).then_some(selection.local.as_slice()),
        };
        let masquerade = service.etp == TrafficPolicy::Cluster;
        for vip in &target.vips {
            let key = (*vip, port.protocol, port.port);
            let verdict = match &own_chain {
                Some(entry) => entry.clone(),
                None => self.spreads.vip(*vip, port.port, &targets),
            };
            self.maps.service_ips.get_mut(family).insert(key, verdict);
            if masquerade {
                self.maps.masquerade_ips.get_mut(family).insert(key);
            }
        }
        if let Some(node_port) = target.node_port {
            let key = (port.protocol, node_port);
            let verdict = match &own_chain {
                Some(entry) => entry.clone(),
                None => self.spreads.node_port(node_port, &targets),
            };
            self.maps.node_ports.get_mut(family).insert(key, verdict);
            if masquerade {
                self.maps.masquerade_node_ports.get_mut(family).insert(key);
            }
        }
    }

    fn finish(self) -> Ruleset {
        let mut result = self.result;
        let (spread_chains, endpoint_maps) = self.spreads.finish();
        let mut sets = self.maps.into_sets(&self.input.node_ips);
        sets.extend(endpoint_maps);
        sets.extend(self.dynamic_sets);
        result.sets = sets;
        let mut chains = skeleton_chains(&self.input.node_ips);
        chains.extend(spread_chains);
        chains.extend(self.chains);
        result.chains = chains;
        result
    }
}

/// IP families a Service is delivered in (NodePorts open only in these):
/// families of its VIPs and endpoints, or both when it has neither.
fn service_families(service: &ServiceInput) -> BTreeSet<IpFamily> {
    let families: BTreeSet<IpFamily> = service
        .vips
        .iter()
        .chain(service.endpoints.iter().map(|endpoint| &endpoint.ip))
        .map(IpFamily::of)
        .collect();
    if families.is_empty() {
        IpFamily::ALL.into_iter().collect()
    } else {
        families
    }
}
