//! Comparisons between two rule sets: UDP conntrack cleanup and change size.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::model::Ruleset;

/// Endpoints (address, target port) that received new UDP flows of some
/// Service port under `old` and no longer do under `new`.
///
/// UDP conntrack entries keep pointing at such an endpoint until they time
/// out, so the caller should delete them (e.g. `conntrack -D -p udp
/// --reply-src ADDR --reply-port-src PORT`). If the same address and port
/// still serve another Service, its flows are cleared too; they are simply
/// re-balanced on the next packet. Sorted, without duplicates.
pub fn stale_udp_endpoints(old: &Ruleset, new: &Ruleset) -> Vec<(IpAddr, u16)> {
    let mut stale = BTreeSet::new();
    for (service_port, old_backends) in &old.udp_backends {
        let current = new.udp_backends.get(service_port);
        for backend in old_backends {
            if !current.is_some_and(|backends| backends.contains(backend)) {
                stale.insert((backend.ip, backend.port));
            }
        }
    }
    stale.into_iter().collect()
}

/// Size of the change from `old` to `new`: chains added, removed or changed
/// (compared by name, then whole), plus named set/map elements added or
/// removed (an element whose verdict changed counts twice, old and new).
/// 0 means nothing to program. Useful to log the size of a resync.
pub fn diff_size(old: &Ruleset, new: &Ruleset) -> usize {
    let chains = |ruleset: &Ruleset| -> BTreeMap<String, String> {
        ruleset
            .chains
            .iter()
            .map(|chain| (chain.name.clone(), format!("{chain:?}")))
            .collect()
    };
    let elements = |ruleset: &Ruleset| -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for set in &ruleset.sets {
            let header = format!(
                "{} {} {:?} {:?}",
                set.name, set.key_type, set.data_type, set.kind
            );
            all.extend(
                set.elements
                    .iter()
                    .map(|element| format!("{header} {element}")),
            );
            all.insert(header);
        }
        all
    };
    let (old_chains, new_chains) = (chains(old), chains(new));
    let names: BTreeSet<&String> = old_chains.keys().chain(new_chains.keys()).collect();
    let changed_chains = names
        .into_iter()
        .filter(|name| old_chains.get(*name) != new_chains.get(*name))
        .count();
    changed_chains + elements(old).symmetric_difference(&elements(new)).count()
}
