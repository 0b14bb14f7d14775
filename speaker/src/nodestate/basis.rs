//! What one step's desired state is computed from, besides the clock: [`Basis`]. A step whose
//! basis equals the last step's computes the same desired state, so the speaker's loop skips
//! it ([`super::elect_if_changed`]): a Service without an address yet, its EndpointSlice, its
//! finalizer, any ClusterIP Service, cost one pass over the rows instead of a whole step
//! (issue 21: the work per change follows what changed).
//!
//! Why the clock and the [`Since`](super::Since) memory are left out: the clock only dates
//! announcements that begin ([`Since::update`](super::Since::update)), and with the same rows,
//! nodes and policies the election is the same, so none begins; the loop passes each step the
//! `since` the last computed step left, which that same election leaves unchanged.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use crate::election::{L2Policy, NodeView};

use super::{NodeHealth, Row};

/// Everything a desired state depends on but the clock and `since`.
#[derive(Debug)]
pub struct Basis {
    /// The rows of the Services that concern the speaker, sorted by Service.
    pub(super) rows: Vec<Arc<Row>>,
    /// Every Node as the election sees it, sorted.
    pub(super) node_views: Vec<NodeView>,
    /// Every L2AnnouncementPolicy as the election sees it.
    pub(super) policies: Vec<L2Policy>,
    /// This node's addresses (the rules' NodePort destinations).
    pub(super) node_ips: Vec<IpAddr>,
    /// This node's deletion and exclusion (the health API).
    pub(super) node_health: NodeHealth,
    /// Every Service's status addresses (what `/debug/probe` accepts).
    pub(super) ingress: Vec<IpAddr>,
    /// This node.
    pub(super) node: String,
    /// The live speakers (the publication's writer and sweeper).
    pub(super) live_speakers: BTreeSet<String>,
    /// Whether this node programs table `inet ferrolb`.
    pub(super) dataplane: bool,
}

impl Basis {
    /// Every Service's status addresses, as a set.
    pub(super) fn ingress_set(&self) -> BTreeSet<IpAddr> {
        self.ingress.iter().copied().collect()
    }

    /// Whether a step on `self` computes what the step on `last` did. Rows compare by identity
    /// first (the step memo hands out the same `Arc` for an unchanged Service), then by value (a
    /// Service whose object changed, say a finalizer added, may keep the same row).
    pub fn same_as(&self, last: &Basis) -> bool {
        // Every field named: a field added to the basis fails to compile here until compared.
        let Basis {
            rows,
            node_views,
            policies,
            node_ips,
            node_health,
            ingress,
            node,
            live_speakers,
            dataplane,
        } = self;
        rows.len() == last.rows.len()
            && rows
                .iter()
                .zip(&last.rows)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
            && *node_views == last.node_views
            && *policies == last.policies
            && *node_ips == last.node_ips
            && *node_health == last.node_health
            && *ingress == last.ingress
            && *node == last.node
            && *live_speakers == last.live_speakers
            && *dataplane == last.dataplane
    }
}
