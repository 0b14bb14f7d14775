//! This node's whole desired state as one pure function of a snapshot: [`desired`].
//!
//! The speaker's loop gathers a [`Snapshot`] of Kubernetes objects (reflectors) and a
//! [`Local`] view (this node, interfaces, live speakers from gossip, the dataplane decision,
//! the clock and the [`Since`] memory); [`desired`] returns one [`NodeDesired`], serializable
//! and comparable, that the I/O shells apply part by part: the announcer's
//! [`announcer::Desired`], the dataplane's [`Ruleset`], the health API's [`HealthAnswers`] and
//! the [`Publication`] of `ServiceAnnouncement`s. `/debug/state` prints exactly this value.
//!
//! Each Service's share (its addresses sorted out, election inputs, rule builder input, health
//! answer: a [`Row`]) depends on that Service, its EndpointSlices and its settled allocation
//! only; the speaker's loop keeps the rows of one step for the next ([`StepMemo`],
//! [`desired_before_rules_with`]), so a step recomputes the Services whose objects changed and
//! assembles the rest. The result is the same with or without the memo.
//!
//! Rules (details in each module):
//! - Addresses ([`vips`]): a LoadBalancer IP counts only when the controller owns the status
//!   ingress (managedFields) and the IP lies in a pool its `ferrolb.io/allocated-from`
//!   annotation names; externalIPs only when the controller's `ExternalIPsAllowed` condition
//!   allows them for the Service's current generation. Everything else is never announced
//!   nor programmed, and is reported as silent with the reason.
//! - Announcing: [`election::elect()`] over every Node (interfaces as gossiped,
//!   [`nodes::views`]), every L2AnnouncementPolicy ([`pools::policy`]) and every address
//!   except those of edge pools; this node answers for what it wins.
//! - Rules ([`rules`]): every node programs every valid address, announced here or not (as
//!   kube-proxy does), and the NodePorts of ferrolb's LoadBalancer Services.
//! - Health: ferrolb's LoadBalancer Services with `externalTrafficPolicy: Local`, and this
//!   Node's deletion and exclusion ([`nodes::node_health`]).
//! - Publication ([`publication`]): the `ServiceAnnouncement` statuses this node writes.

mod basis;
mod digest;
pub mod endpoints;
mod keys;
pub mod memo;
pub mod nodes;
pub mod ownership;
pub mod plan;
pub mod pools;
pub mod probes;
pub mod publication;
pub mod row;
pub mod rules;
pub mod vips;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_adapter::node_service::NodeService;
use ferrolb_adapter::pools::Pools;
use ferrolb_adapter::stores::ServiceObjects;
use ferrolb_api::L2AnnouncementPolicy;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::announcer;
use crate::election::{self, Election, InterfaceView};
use crate::health::ServiceHealth;
use crate::ruleset::{self, Ruleset};
use ferrolb_core::ServiceKey;

pub use basis::Basis;
pub use digest::StatusDigest;
#[cfg(test)]
pub(crate) use digest::example_status;
pub use memo::StepMemo;
pub use nodes::{NodeEligibility, NodeHealth};
pub use plan::{AnnouncementPlan, Elsewhere, PlannedAnnouncement, SilentIp};
pub use publication::{Publication, Since, Statuses};
pub use row::Row;

/// The Kubernetes objects the speaker watches.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every Service, EndpointSlice, Node and VIPPool.
    pub objects: ServiceObjects<NodeService>,
    /// Every L2AnnouncementPolicy.
    pub l2: Vec<Arc<L2AnnouncementPolicy>>,
}

/// What this speaker knows besides the API objects.
#[derive(Debug, Clone)]
pub struct Local {
    /// This node's name.
    pub node: String,
    /// This node's interfaces, as read locally (used for this node until gossip carries it).
    pub interfaces: Vec<InterfaceView>,
    /// Nodes whose speaker gossip says is alive.
    pub live_speakers: BTreeSet<String>,
    /// Every node's interfaces as gossiped, this node's own included.
    pub interfaces_of: BTreeMap<String, Vec<InterfaceView>>,
    /// This node programs table `inet ferrolb` (the dataplane decision); otherwise
    /// [`desired`] does not build the ruleset.
    pub dataplane: bool,
    /// When each address's winner began, as the previous desired state left it
    /// ([`Publication::since`]; [`Since::default`] at start).
    pub since: Since,
    /// Now, in whole seconds (what the API keeps, so published objects compare equal): the
    /// `since` of announcements that begin in this state.
    pub now: Time,
}

/// Everything this node must do: one value, compared with the previous one to find what to
/// apply, and printed by `/debug/state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDesired {
    /// This node.
    pub node: String,
    /// Input problems that were skipped (logged when they change).
    pub warnings: Vec<String>,
    /// What the announcer answers ARP/NDP for: interface → addresses.
    pub announce: announcer::Desired,
    /// The whole election (every speaker computes the same one) and each node's eligibility.
    pub election: ElectionState,
    /// One plan per Service with an address that concerns the speaker, sorted by Service:
    /// what this node announces, what another node does, and what nobody does and why.
    pub announcements: Vec<Arc<AnnouncementPlan>>,
    /// The `ServiceAnnouncement` statuses this node writes (shared with the publisher's batch).
    pub publication: Arc<Publication>,
    /// What the health API answers from.
    pub health: HealthAnswers,
    /// Table `inet ferrolb`.
    pub rules: Rules,
    /// The addresses `/debug/probe` and `/debug/rules` accept (not printed: every address is
    /// in `election` and `announcements` already).
    #[serde(skip)]
    pub probes: Arc<probes::KnownAddresses>,
}

/// The election and the node-level eligibility behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ElectionState {
    /// Every Node: whether it may announce at all, and why not.
    pub nodes: BTreeMap<String, NodeEligibility>,
    /// Every address's decision (`perIp`; shared with the step memo).
    #[serde(flatten)]
    pub result: Arc<Election>,
}

/// What the health API answers from besides the rules' apply status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthAnswers {
    /// This Node's deletion and exclusion, for `/healthz`.
    pub node: NodeHealth,
    /// ferrolb's `externalTrafficPolicy: Local` LoadBalancer Services: their local ready
    /// endpoints and healthCheckNodePort.
    #[serde(serialize_with = "keys::by_display")]
    pub services: BTreeMap<ServiceKey, ServiceHealth>,
}

/// Table `inet ferrolb`: the rule builder's input and what it built.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rules {
    /// The input of [`ruleset::build`].
    pub input: ruleset::NodeInput,
    /// The built table; `None` while announce-only (the dataplane decision).
    pub ruleset: Option<Arc<Ruleset>>,
}

impl NodeDesired {
    /// Addresses nobody announces, with why (sorted, without duplicates).
    pub fn silent(&self) -> BTreeSet<(IpAddr, &str)> {
        self.announcements
            .iter()
            .flat_map(|p| p.silent.iter().map(|s| (s.ip, &*s.reason)))
            .collect()
    }

    /// Builds table `inet ferrolb` from `rules.input` ([`ruleset::build`]).
    pub fn build_rules(&mut self) {
        self.rules.ruleset = Some(Arc::new(ruleset::build(&self.rules.input)));
    }

    /// How many addresses this node answers for (counting each interface).
    pub fn announced(&self) -> usize {
        self.announce.values().map(BTreeSet::len).sum()
    }
}

/// This node's desired state. Pure and deterministic: the order of the snapshot's objects does
/// not matter.
///
/// Equal to [`desired_before_rules`] followed by [`NodeDesired::build_rules`] when
/// `local.dataplane`, which is how the speaker's loop computes it: it hands the announcer its
/// part before building the rules, so that building a large table never delays a takeover.
pub fn desired(snapshot: &Snapshot, local: &Local) -> NodeDesired {
    let mut d = desired_before_rules(snapshot, local);
    if local.dataplane {
        d.build_rules();
    }
    d
}

/// [`desired`] without the built ruleset (`rules.ruleset` is `None`; its input is there).
pub fn desired_before_rules(snapshot: &Snapshot, local: &Local) -> NodeDesired {
    desired_before_rules_with(snapshot, local, &mut StepMemo::default())
}

/// [`desired_before_rules`], reusing what `memo` kept of the last step for every Service whose
/// objects did not change, and keeping this step's for the next ([`memo`]). Equal to
/// [`desired_before_rules`] whatever the memo holds.
pub fn desired_before_rules_with(
    snapshot: &Snapshot,
    local: &Local,
    memo: &mut StepMemo,
) -> NodeDesired {
    elect_with(snapshot, local, memo).finish(local, memo)
}

/// The first part of a step: the rows, the election and what the announcer answers for. The
/// speaker's loop hands [`Elected::announce`] to the announcer before [`Elected::finish`]
/// computes the rest (probes, plans, publication), so that a takeover waits for the election
/// only.
pub fn elect_with(snapshot: &Snapshot, local: &Local, memo: &mut StepMemo) -> Elected {
    let basis = basis_with(snapshot, local, memo);
    elect_on(basis, local, memo)
}

/// [`elect_with`], or `None` when the step's [`Basis`] is the last step's (kept in `memo`): its
/// desired state would be the last one again. What the speaker's loop calls: a change that does
/// not concern the speaker costs one pass over the rows.
pub fn elect_if_changed(
    snapshot: &Snapshot,
    local: &Local,
    memo: &mut StepMemo,
) -> Option<Elected> {
    let basis = basis_with(snapshot, local, memo);
    if memo.basis().is_some_and(|last| basis.same_as(last)) {
        return None;
    }
    Some(elect_on(basis, local, memo))
}

/// The rows of `snapshot` (computing only what changed since `memo`'s last step) and the rest
/// of what the desired state is computed from.
fn basis_with(snapshot: &Snapshot, local: &Local, memo: &mut StepMemo) -> Basis {
    let pools = Pools::new(&snapshot.objects.pools);
    let rows = memo.rows(
        &snapshot.objects.services,
        &snapshot.objects.slices,
        &pools,
        &snapshot.objects.proof_keys,
        &local.node,
    );
    // Filtered collects grow by doubling; the basis is kept until the next step.
    let mut rows: Vec<Arc<Row>> = rows.into_iter().filter(|r| !r.vips.is_empty()).collect();
    rows.shrink_to_fit();
    let mut ingress: Vec<IpAddr> = snapshot
        .objects
        .services
        .iter()
        .flat_map(|svc| svc.ingress_ips())
        .collect();
    ingress.shrink_to_fit();
    let policies: Vec<election::L2Policy> = snapshot
        .l2
        .iter()
        .map(|l| pools::policy(&pools, l))
        .collect();
    let mut node_views = nodes::views(&snapshot.objects.nodes, local);
    node_views.sort();
    let objects = &snapshot.objects;
    Basis {
        rows,
        node_views,
        policies,
        node_ips: nodes::node_ips(&objects.nodes, &local.node),
        node_health: nodes::node_health(&objects.nodes, &local.node),
        ingress,
        node: local.node.clone(),
        live_speakers: local.live_speakers.clone(),
        dataplane: local.dataplane,
    }
}

/// The election on `basis`, kept in `memo` as the last step's.
fn elect_on(basis: Basis, local: &Local, memo: &mut StepMemo) -> Elected {
    let result = memo.elect(&basis.rows, &basis.node_views, &basis.policies);
    let mut announce = announcer::Desired::new();
    for (ip, interfaces) in result.for_node(&local.node) {
        for iface in interfaces {
            announce.entry(iface).or_default().insert(ip);
        }
    }
    let basis = Arc::new(basis);
    memo.keep_basis(Arc::clone(&basis));
    Elected {
        announce,
        basis,
        result,
    }
}

/// The rows, the election and the announcer's part of one step ([`elect_with`]).
#[derive(Debug)]
pub struct Elected {
    /// What the announcer answers ARP/NDP for.
    pub announce: announcer::Desired,
    basis: Arc<Basis>,
    result: Arc<election::Election>,
}

impl Elected {
    /// The rest of the step: the desired state without the built ruleset (the plans kept in
    /// `memo`, the one [`elect_with`] took).
    pub fn finish(self, local: &Local, memo: &mut StepMemo) -> NodeDesired {
        let Elected {
            announce,
            basis,
            result,
        } = self;
        let Basis {
            rows, node_views, ..
        } = basis.as_ref();
        let warnings: Vec<String> = rows
            .iter()
            .flat_map(|r| r.warnings.iter().cloned())
            .collect();
        let mut services: Vec<_> = rows.iter().filter_map(|r| r.rules.clone()).collect();
        // A filtered collect grows by doubling; the input is kept with the desired state.
        services.shrink_to_fit();
        let rules_input = ruleset::NodeInput {
            node_name: local.node.clone(),
            node_ips: basis.node_ips.clone(),
            services,
        };
        let health = HealthAnswers {
            node: basis.node_health.clone(),
            services: rows
                .iter()
                .filter_map(|r| Some((r.key.clone(), r.health?)))
                .collect(),
        };
        let probes = probes::KnownAddresses::new(Arc::clone(&basis), &announce);
        let announcements = memo.plans(rows, &result, &local.node);
        let publication = publication::publication(
            &announcements,
            &result,
            &local.node,
            &local.live_speakers,
            &local.since,
            &local.now,
        );
        let eligibility = node_views
            .iter()
            .map(|v| (v.name.clone(), nodes::eligibility(v)))
            .collect();
        NodeDesired {
            node: local.node.clone(),
            warnings,
            announce,
            election: ElectionState {
                nodes: eligibility,
                result,
            },
            announcements,
            publication: Arc::new(publication),
            health,
            rules: Rules {
                input: rules_input,
                ruleset: None,
            },
            probes: Arc::new(probes),
        }
    }
}
