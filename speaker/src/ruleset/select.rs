//! Which endpoints receive new connections for one Service port and family.
//!
//! Rules (as kube-proxy applies them):
//! - only endpoints of the requested IP family whose target port resolves;
//! - ready endpoints when there is at least one; otherwise endpoints that are
//!   both serving and terminating (graceful termination fallback);
//! - for the local selection the same, restricted to this node's endpoints.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;

use super::input::{Endpoint, PortInput};
use ferrolb_core::IpFamily;
use ferrolb_core::TargetPort;

/// One DNAT destination: endpoint address and resolved target port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Backend {
    /// Endpoint address.
    pub ip: IpAddr,
    /// Target port on the endpoint.
    pub port: u16,
}

/// Endpoints chosen for one Service port and family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Selection {
    /// Backends for traffic that may go anywhere in the cluster.
    pub cluster: Vec<Backend>,
    /// Backends on this node (for `externalTrafficPolicy: Local`).
    pub local: Vec<Backend>,
}

/// Treats `Some("")` like `None`: EndpointSlices spell the unnamed port `""`.
fn same_name(a: Option<&str>, b: Option<&str>) -> bool {
    a.filter(|s| !s.is_empty()) == b.filter(|s| !s.is_empty())
}

/// Target port of `port` on `endpoint`, or `None` when it cannot be resolved
/// (the endpoint is then skipped for this Service port).
pub(super) fn resolve_target(port: &PortInput, endpoint: &Endpoint) -> Option<u16> {
    let resolved = match &port.target {
        TargetPort::Number(number) => Some(*number),
        TargetPort::Named(target) => {
            let by_protocol = || {
                endpoint
                    .ports
                    .iter()
                    .filter(|p| p.protocol == port.protocol)
            };
            by_protocol()
                .find(|p| same_name(p.name.as_deref(), Some(target)))
                .or_else(|| {
                    by_protocol().find(|p| same_name(p.name.as_deref(), port.name.as_deref()))
                })
                .map(|p| p.port)
        }
    };
    resolved.filter(|number| *number != 0)
}

/// Ready backends if any, else serving-and-terminating ones.
fn with_fallback<'a>(
    candidates: impl Iterator<Item = (&'a Endpoint, Backend)> + Clone,
) -> Vec<Backend> {
    let ready: BTreeSet<Backend> = candidates
        .clone()
        .filter(|(endpoint, _)| endpoint.ready)
        .map(|(_, backend)| backend)
        .collect();
    if !ready.is_empty() {
        return ready.into_iter().collect();
    }
    candidates
        .filter(|(endpoint, _)| endpoint.serving && endpoint.terminating)
        .map(|(_, backend)| backend)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Selects the backends of one Service port for one family on `node_name`;
/// the local list stays empty unless `with_local` (only `Local` Services
/// use it).
pub(super) fn select(
    endpoints: &[Endpoint],
    port: &PortInput,
    family: IpFamily,
    node_name: &str,
    with_local: bool,
) -> Selection {
    let candidates = endpoints.iter().filter_map(|endpoint| {
        if IpFamily::of(endpoint.ip) != family {
            return None;
        }
        let target = resolve_target(port, endpoint)?;
        Some((
            endpoint,
            Backend {
                ip: endpoint.ip,
                port: target,
            },
        ))
    });
    let local = candidates.clone().filter(|(endpoint, _)| {
        with_local && !node_name.is_empty() && endpoint.node.as_deref() == Some(node_name)
    });
    Selection {
        cluster: with_fallback(candidates),
        local: with_fallback(local),
    }
}

/// The backends that new connections to one Service port of `family` arriving on `node` go to:
/// with `local` (`externalTrafficPolicy: Local`) only that node's. What table `inet ferrolb`
/// programs, and what `kubectl ferrolb why` expects of any dataplane (kube-proxy's too).
pub fn backends(
    endpoints: &[Endpoint],
    port: &PortInput,
    family: IpFamily,
    node: &str,
    local: bool,
) -> Vec<Backend> {
    let chosen = select(endpoints, port, family, node, local);
    if local { chosen.local } else { chosen.cluster }
}
