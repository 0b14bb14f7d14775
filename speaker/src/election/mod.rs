//! Who announces each VIP: a pure, coordination-free leader election for L2 (ARP/NDP).
//!
//! Every speaker runs [`elect`](elect()) on the same inputs (nodes, L2AnnouncementPolicy policies, VIPs) and
//! gets the same [`Election`]; each then answers only for the IPs [`Election::for_node`] gives
//! it. The rules, in order:
//!
//! 1. **Coverage** ([`policy`]): a VIP is covered by policies listing its pool (external IPs:
//!    policies with `external_ips: true`) whose service selector matches. None → silent,
//!    "no L2AnnouncementPolicy covers pool X". Invalid policies ([`L2Policy::validate`]) are ignored.
//! 2. **Endpoints** ([`candidates`]): no ready or serving-terminating endpoint anywhere → silent,
//!    "no ready endpoints".
//! 3. **Candidates** ([`candidates`], [`interfaces`]): ready, not excluded, speaker alive,
//!    matched by a covering policy's node selector, and at least one usable interface.
//!    `externalTrafficPolicy: Local` narrows to nodes with a ready local endpoint, else to nodes
//!    with a serving terminating one.
//! 4. **Sharing** ([`elect`](elect::elect)): Services sharing an IP use the intersection of their
//!    candidate sets (Services silent on their own abstain); an empty intersection is a conflict
//!    and the IP is silent.
//! 5. **Winner** ([`rendezvous`]): highest `SHA-256(ip octets || node name)`, ties to the
//!    smallest name. Keyed by IP, so sharing Services co-locate and node churn only moves the
//!    IPs the changed node wins or loses.
//!
//! For a planned shutdown, [`elect_without`] / [`handover`] give the election once a node is gone.

pub mod candidates;
pub mod elect;
pub mod glob;
pub mod interfaces;
pub mod model;
pub mod output;
pub mod policy;
pub mod rendezvous;

#[cfg(test)]
pub(crate) mod tests;

pub use elect::{CONFLICT_REASON_PREFIX, Electorate, SharedParts, elect, elect_without, handover};
pub use model::{
    EXCLUDE_FROM_EXTERNAL_LB_LABEL, EndpointView, InterfaceView, L2Policy, NodeView, VipInput,
    VipKind,
};
pub use output::{Election, IpDecision};
pub use policy::PolicyError;
pub use rendezvous::{Score, rendezvous_score};
