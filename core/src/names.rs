//! Names every component shares that are not CRD or annotation strings: the Service condition
//! types ferrolb writes, their reasons, and the server-side-apply field managers.

/// Condition the controller keeps on each LoadBalancer Service it owns.
pub const CONDITION_ALLOCATED: &str = "ferrolb.io/Allocated";
/// Condition the controller keeps on each Service with `spec.externalIPs`.
pub const CONDITION_EXTERNAL_IPS: &str = "ferrolb.io/ExternalIPsAllowed";
/// Condition the edge keeps on each edge Service it serves.
pub const CONDITION_EDGE_SERVING: &str = "ferrolb.io/EdgeServing";

/// [`CONDITION_ALLOCATED`] reason: every asked-for address is given.
pub const REASON_ALLOCATED: &str = "Allocated";
/// [`CONDITION_ALLOCATED`] reason: some families got an address, others are missing.
pub const REASON_PARTIALLY_ALLOCATED: &str = "PartiallyAllocated";
/// [`CONDITION_EXTERNAL_IPS`] reason: a policy allows every externalIP.
pub const REASON_EXTERNAL_IPS_ALLOWED: &str = "Allowed";
/// [`CONDITION_EXTERNAL_IPS`] reason: some externalIP is refused (never announced).
pub const REASON_EXTERNAL_IP_REFUSED: &str = "ExternalIPRefused";
/// [`CONDITION_EDGE_SERVING`] reason: some candidate node is healthy.
pub const REASON_SERVING: &str = "Serving";
/// [`CONDITION_EDGE_SERVING`] reason: no frontend of the Service can be served.
pub const REASON_NOT_SERVED: &str = "NotServed";
/// [`CONDITION_EDGE_SERVING`] reason: no node can receive the frontends' traffic.
pub const REASON_NO_CANDIDATE_NODES: &str = "NoCandidateNodes";
/// [`CONDITION_EDGE_SERVING`] reason: no candidate node passes its health probe.
pub const REASON_NO_HEALTHY_NODES: &str = "NoHealthyNodes";

/// Field manager of the controller's server-side-apply writes.
pub const MANAGER_CONTROLLER: &str = "ferrolb-controller";
/// Field manager of the speakers' writes.
pub const MANAGER_SPEAKER: &str = "ferrolb-speaker";
/// Field manager of the edge's writes.
pub const MANAGER_EDGE: &str = "ferrolb-edge";
/// Prefix of every ferrolb field manager.
pub const MANAGER_PREFIX: &str = "ferrolb-";

/// The speakers' DaemonSet (in ferrolb's namespace): a speaker stopping while it is gone or
/// being deleted is being uninstalled and removes its node's table.
pub const SPEAKER_DAEMONSET: &str = "ferrolb-speaker";

/// The Secret (in the speakers' namespace) holding the gossip keys; see the speaker's
/// `membership::keyring` for its format.
pub const GOSSIP_SECRET: &str = "ferrolb-gossip";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manager_has_the_prefix() {
        for name in [MANAGER_CONTROLLER, MANAGER_SPEAKER, MANAGER_EDGE] {
            assert!(name.starts_with(MANAGER_PREFIX), "{name}");
        }
    }
}
