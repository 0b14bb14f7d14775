//! The speaker's loop once started: **step** (snapshot + local view → [`NodeDesired`]) and
//! **apply** (hand each part that changed since the last step to its task).
//!
//! Each part goes to its own task through a `watch` channel, so no consumer waits for another:
//! the announcer gets its part first, right after the election (before the rest of the desired
//! state and the ruleset are computed), then the dataplane, the publisher and the health API
//! get theirs.
//! A change of the dataplane task's apply status only refreshes the health snapshot: nothing
//! is recomputed. A new dataplane decision (the supervisor's) is an input like any other: the
//! step uses it to build the ruleset or not, and the apply hands the dataplane task either the
//! ruleset or "withdraw", and the health API whether to serve the healthCheckNodePorts, both
//! from the same step.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_adapter::node_service::NodeService;
use ferrolb_runtime::pace;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::announcer::{self, AnnouncerHandle};
use crate::dataplane::{Decision, Nft};
use crate::election::InterfaceView;
use crate::health::{DebugState, HealthHandle, HealthSnapshot};
use crate::membership::{Members, MembershipHandle};
use crate::nodestate::{self, Local, NodeDesired};

use super::announced::Announced;
use super::events::{self, Takeover};
use super::metrics::Metrics;
use super::observed::{DebugDocument, Observed};
use super::rules::{RulesStatus, Wanted};
use super::{node, publish, uninstall, watches};

/// When a step began, and when the loop noticed the change it answers.
#[derive(Debug, Clone, Copy)]
struct StepTiming {
    noticed: Instant,
    started: Instant,
}

/// The inputs the loop waits on.
pub(super) struct Inputs {
    /// The watched objects.
    pub stores: watches::Stores,
    /// Notified on every change of a watched object but a `ServiceAnnouncement`.
    pub changed: Arc<Notify>,
    /// Notified on every change of a `ServiceAnnouncement` (what the publisher compares with).
    pub announced: Arc<Notify>,
    /// The gossip membership.
    pub members: watch::Receiver<Members>,
    /// This node's interfaces.
    pub ifaces: watch::Receiver<Vec<InterfaceView>>,
    /// The dataplane task's apply status.
    pub rules_status: watch::Receiver<RulesStatus>,
    /// The dataplane supervisor's decision.
    pub dataplane: watch::Receiver<Decision>,
}

/// Where each part of the desired state goes.
pub(super) struct Outputs {
    /// The announcer (ARP/NDP).
    pub announce: watch::Sender<announcer::Desired>,
    /// The dataplane task (nft).
    pub rules: watch::Sender<Wanted>,
    /// The `ServiceAnnouncement` writer.
    pub publish: watch::Sender<Arc<publish::Batch>>,
    /// The health API.
    pub health: watch::Sender<Arc<HealthSnapshot>>,
    /// The gossip's seeds.
    pub seeds: watch::Sender<Vec<std::net::SocketAddr>>,
    /// Takeover events.
    pub takeovers: mpsc::Sender<(Takeover, Vec<Arc<NodeService>>)>,
}

/// The tasks the loop started, kept until it stops.
pub(super) struct Tasks {
    /// ARP/NDP answers.
    pub announcer: AnnouncerHandle,
    /// The gossip.
    pub membership: MembershipHandle,
    /// The health API (stops when dropped).
    pub health: HealthHandle,
    /// The dataplane task (ends with its channel; aborted on stop, before the uninstall check).
    pub rules: JoinHandle<()>,
    /// The dataplane supervisor (ends with its channel).
    pub _supervisor: JoinHandle<()>,
    /// The `ServiceAnnouncement` writer (ends with its channel).
    pub _publisher: JoinHandle<()>,
    /// `/metrics` and `/debug/state` behind the access review.
    pub _private: JoinHandle<()>,
}

/// What the last step applied.
pub(super) struct Applied {
    pub(super) desired: Arc<NodeDesired>,
    /// The `ServiceAnnouncement` objects the publisher was last given.
    pub(super) current: Vec<Arc<Announced>>,
    /// The Services of that step (the publisher names their owners).
    pub(super) services: Vec<Arc<NodeService>>,
    /// The runtime facts the health snapshot was last given.
    pub(super) observed: Observed,
    /// The dataplane decision of that step: serve the healthCheckNodePorts.
    pub(super) serve_node_ports: bool,
}

/// The loop's settings from the command line.
pub(super) struct Settings {
    /// This node's name.
    pub node: String,
    /// The gossip port of every speaker (for the seeds).
    pub gossip_port: u16,
    /// How long to keep answering after leaving the gossip.
    pub handover_wait: Duration,
    /// After the handover: is ferrolb being uninstalled (then the table goes)?
    pub uninstall: uninstall::Check,
}

/// The running speaker.
pub(super) struct Speaker {
    settings: Settings,
    metrics: Arc<Metrics>,
    inputs: Inputs,
    outputs: Outputs,
    tasks: Tasks,
    last: Option<Applied>,
    /// The per-Service results of the last step ([`nodestate::StepMemo`]).
    memo: nodestate::StepMemo,
}

/// One step's result: the desired state (its ruleset not built yet) and the inputs the shell
/// still needs to apply it.
struct Step {
    desired: NodeDesired,
    services: Vec<Arc<NodeService>>,
    nodes: Vec<Arc<Node>>,
    members: Members,
    /// The dataplane decision the step used.
    decision: Decision,
}

/// What a step came to.
enum Stepped {
    /// A desired state, to apply.
    Computed(Box<Step>),
    /// Nothing the desired state is computed from changed: the last one stands. The Nodes of
    /// the snapshot, for the gossip's seeds (not part of the desired state).
    Unchanged(Vec<Arc<Node>>),
}

/// What woke the loop.
enum Wake {
    /// A watched object changed.
    Objects,
    /// Another input of the desired state changed (gossip, interfaces, dataplane decision).
    Input,
    /// Only the dataplane task's apply status changed.
    RulesStatus,
    /// A `ServiceAnnouncement` changed: the publisher compares again, no step.
    Announced,
    /// SIGTERM or SIGINT.
    Shutdown,
}

impl Speaker {
    /// The speaker with its tasks started; nothing computed yet.
    pub(super) fn new(
        settings: Settings,
        metrics: Arc<Metrics>,
        inputs: Inputs,
        outputs: Outputs,
        tasks: Tasks,
    ) -> Speaker {
        Speaker {
            settings,
            metrics,
            inputs,
            outputs,
            tasks,
            last: None,
            memo: nodestate::StepMemo::default(),
        }
    }

    /// Steps and applies whenever an input changes, until `shutdown` resolves.
    /// A change of the watched objects waits for the last step to cool down
    /// ([`ferrolb_runtime::pace`]), collecting the changes that follow into one step; any other
    /// input steps at once.
    pub(super) async fn run(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) {
        // When the loop noticed the change the next step answers (the first step answers its
        // start).
        let mut noticed = Instant::now();
        loop {
            let started = Instant::now();
            let timing = StepTiming { noticed, started };
            pace::off_the_runtime(|| match self.step(timing) {
                Stepped::Computed(step) => self.apply(*step),
                Stepped::Unchanged(nodes) => self.unchanged(&nodes),
            });
            let took = started.elapsed();
            self.metrics.step_seconds.observe(took.as_secs_f64());
            let next = pace::next_pass_at(Instant::now(), took);
            loop {
                match self.wait(shutdown).await {
                    Wake::Objects => {
                        noticed = Instant::now();
                        match self.pause_until(next, shutdown).await {
                            Wake::Shutdown => return,
                            _ => break,
                        }
                    }
                    Wake::Input => {
                        noticed = Instant::now();
                        break;
                    }
                    Wake::RulesStatus => self.publish_health(None),
                    Wake::Announced => self.republish(),
                    Wake::Shutdown => return,
                }
            }
        }
    }

    /// Waits until `at`, taking in further object changes; returns early for any other
    /// input, or shutdown.
    async fn pause_until(
        &mut self,
        at: Instant,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Wake {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(at.into()) => return Wake::Objects,
                wake = self.wait(shutdown) => match wake {
                    Wake::Objects => {}
                    Wake::RulesStatus => self.publish_health(None),
                    Wake::Announced => self.republish(),
                    other => return other,
                },
            }
        }
    }

    /// Waits for the next change. A channel whose sender is gone (a task that ended) is no
    /// longer waited on, instead of waking the loop again and again.
    async fn wait(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Wake {
        let i = &mut self.inputs;
        tokio::select! {
            () = i.changed.notified() => Wake::Objects,
            () = i.announced.notified() => Wake::Announced,
            Ok(()) = i.members.changed() => Wake::Input,
            Ok(()) = i.ifaces.changed() => Wake::Input,
            Ok(()) = i.dataplane.changed() => Wake::Input,
            Ok(()) = i.rules_status.changed() => Wake::RulesStatus,
            () = shutdown => Wake::Shutdown,
        }
    }

    /// Snapshot + local view → desired state (the only place it is computed), but the
    /// ruleset, which [`apply`](Self::apply) builds. The announcer gets its part as soon as
    /// the election is done, before the rest of the desired state is computed. Unchanged when
    /// nothing the desired state is computed from changed since the last step
    /// ([`nodestate::elect_if_changed`]): the last one stands.
    fn step(&mut self, timing: StepTiming) -> Stepped {
        let snapshot = self.inputs.stores.snapshot();
        let members: Members = self.inputs.members.borrow_and_update().clone();
        let decision = self.inputs.dataplane.borrow_and_update().clone();
        let since = self
            .last
            .as_ref()
            .map(|l| l.desired.publication.since.clone())
            .unwrap_or_default();
        let local = Local {
            node: self.settings.node.clone(),
            interfaces: self.inputs.ifaces.borrow_and_update().clone(),
            live_speakers: members.live(),
            interfaces_of: members.interfaces_of(),
            dataplane: decision.enabled,
            since,
            now: whole_seconds_now(),
        };
        let Some(elected) = nodestate::elect_if_changed(&snapshot, &local, &mut self.memo) else {
            return Stepped::Unchanged(snapshot.objects.nodes);
        };
        self.hand_announce(&elected.announce);
        let handed = Instant::now();
        let elect = handed.saturating_duration_since(timing.started);
        let to_announce = handed.saturating_duration_since(timing.noticed);
        self.metrics.elect_seconds.observe(elect.as_secs_f64());
        self.metrics
            .to_announce_seconds
            .observe(to_announce.as_secs_f64());
        let desired = elected.finish(&local, &mut self.memo);
        self.metrics.computations.inc();
        Stepped::Computed(Box::new(Step {
            desired,
            services: snapshot.objects.services,
            nodes: snapshot.objects.nodes,
            members,
            decision,
        }))
    }

    /// After a step that found nothing changed: the gossip's seeds follow the Nodes (another
    /// Node's address is no input of the desired state), and the runtime facts and the apply
    /// status are still published, with the last desired state.
    fn unchanged(&mut self, nodes: &[Arc<Node>]) {
        self.metrics.unchanged.inc();
        self.hand_seeds(nodes);
        let members = self.inputs.members.borrow().clone();
        let decision = self.inputs.dataplane.borrow().clone();
        let observed = self.observed(&members, &decision);
        self.publish_health(Some(observed));
    }

    /// Sends the announcer `announce` when it differs from what it has.
    fn hand_announce(&self, announce: &announcer::Desired) {
        let node = self.settings.node.as_str();
        self.outputs.announce.send_if_modified(|d| {
            if d == announce {
                return false;
            }
            log_announce_changes(d, announce, node);
            *d = announce.clone();
            true
        });
    }

    /// Sends each part of `step` that differs from the last step to its task (the announcer
    /// has its part already, from [`step`](Self::step)), the ruleset built first.
    fn apply(&mut self, mut step: Step) {
        let node = self.settings.node.as_str();
        if step.decision.enabled {
            step.desired.build_rules();
        }
        let desired = Arc::new(step.desired);
        let new = &desired;
        let old = self.last.as_ref().map(|l| l.desired.as_ref());
        if old.map(|o| &o.warnings) != Some(&new.warnings) {
            for w in &new.warnings {
                warn!(%node, warning = %w, "input skipped");
            }
        }
        let election_changed = old.is_none_or(|o| o.election.result != new.election.result);
        if let Some(old) = old
            && election_changed
        {
            let live = step.members.live();
            for t in events::takeovers(&old.election.result, &new.election.result, node, &live) {
                self.metrics.took_over(t.cause);
                let _ = self.outputs.takeovers.try_send((t, step.services.clone()));
            }
        }
        let m = &self.metrics;
        m.announced.set(new.announced() as i64);
        if election_changed {
            // Every address's series: only when who answers for what changed.
            m.announcing(&new.election.result, node);
        }
        m.silent.set(new.silent().len() as i64);
        m.live_speakers.set(step.members.live().len() as i64);
        m.announcer(self.tasks.announcer.stats().snapshot());

        let wanted = Wanted::from_desired(new.rules.ruleset.as_ref());
        self.outputs
            .rules
            .send_if_modified(|w| (*w != wanted).then(|| *w = wanted).is_some());

        let current = self.inputs.stores.announcements();
        let publication_changed = old.map(|o| &o.publication) != Some(&new.publication);
        let objects_changed = self
            .last
            .as_ref()
            .is_none_or(|l| !same_objects(&l.current, &current));
        if publication_changed || objects_changed {
            self.outputs
                .publish
                .send_replace(Arc::new(batch(new, &step.services, &current)));
        }

        self.hand_seeds(&step.nodes);

        // Every step publishes: the snapshot only shares `Arc`s, which is cheaper than
        // comparing the whole desired state (ruleset included) with the last one.
        let observed = self.observed(&step.members, &step.decision);
        self.last = Some(Applied {
            desired,
            current,
            services: step.services,
            observed: observed.clone(),
            serve_node_ports: step.decision.enabled,
        });
        self.publish_health(Some(observed));
    }

    /// Sends the gossip the seeds of `nodes` when they differ from what it has.
    fn hand_seeds(&self, nodes: &[Arc<Node>]) {
        let node = self.settings.node.as_str();
        self.outputs.seeds.send_if_modified(|s| {
            let next = node::seeds(nodes, node, self.settings.gossip_port);
            (*s != next).then(|| *s = next).is_some()
        });
    }

    /// Hands the publisher the `ServiceAnnouncement` objects as they are now with the last
    /// desired state, when they changed since it was last given them. A speaker's own writes
    /// and the other speakers' come back here; before, each of them cost every speaker a
    /// step (at 10,000 Services, ~140 ms of CPU).
    fn republish(&mut self) {
        let Some(last) = self.last.as_mut() else {
            return;
        };
        let current = self.inputs.stores.announcements();
        if same_objects(&last.current, &current) {
            return;
        }
        self.outputs
            .publish
            .send_replace(Arc::new(batch(&last.desired, &last.services, &current)));
        last.current = current;
    }

    /// Publishes the health snapshot of the last desired state with the current apply status
    /// (and `observed`, or the last one). Nothing before the first step.
    fn publish_health(&mut self, observed: Option<Observed>) {
        let status = self.inputs.rules_status.borrow_and_update().clone();
        let Some(last) = &mut self.last else {
            return;
        };
        let mut observed = observed.unwrap_or_else(|| last.observed.clone());
        observed.rules = (&status).into();
        last.observed = observed.clone();
        self.outputs
            .health
            .send_replace(Arc::new(health_snapshot(last, observed, status)));
    }

    /// The runtime facts now (the apply status as last published).
    fn observed(&self, members: &Members, decision: &Decision) -> Observed {
        Observed {
            dataplane: decision.into(),
            gossip: members.debug_json(),
            rules: (&*self.inputs.rules_status.borrow()).into(),
            failing_watches: ferrolb_adapter::reflect::FailingWatches,
        }
    }

    /// Hands over and stops: leaves the gossip (peers mark this node down at once and the
    /// successors announce), keeps answering for the handover wait, then goes quiet. Only then,
    /// so the handover never waits for it: the uninstall check, which deletes the node's table
    /// when ferrolb is being uninstalled and keeps it otherwise.
    pub(super) async fn stop(self) {
        let Settings {
            node,
            handover_wait,
            uninstall,
            ..
        } = self.settings;
        info!(%node, wait_ms = handover_wait.as_millis() as u64, "SIGTERM: leaving the gossip so that other speakers take over");
        self.tasks.membership.leave().await;
        tokio::time::sleep(handover_wait).await;
        self.outputs
            .announce
            .send_replace(announcer::Desired::new());
        self.tasks.announcer.shutdown().await;
        drop(self.tasks.health);
        // No rules task may write the table again once the check has decided.
        self.tasks.rules.abort();
        let _ = self.tasks.rules.await;
        uninstall.run(&Nft::new(None)).await;
        info!(%node, "stopped");
    }
}

/// The publisher's work for `desired`: its publication, the Services (owner references) and the
/// watched objects.
pub(super) fn batch(
    desired: &NodeDesired,
    services: &[Arc<NodeService>],
    current: &[Arc<Announced>],
) -> publish::Batch {
    publish::Batch {
        publication: Arc::clone(&desired.publication),
        services: services.to_vec(),
        current: current.to_vec(),
    }
}

/// The health API's snapshot of `last` with the apply status `status` and the runtime facts
/// `observed`.
pub(super) fn health_snapshot(
    last: &Applied,
    observed: Observed,
    status: RulesStatus,
) -> HealthSnapshot {
    let desired = last.desired.clone();
    let health = &desired.health;
    HealthSnapshot {
        synced: true,
        rules: status.state,
        last_updated: status.last_updated,
        node_known: health.node.known,
        node_deleting: health.node.deleting,
        node_excluded: health.node.excluded.clone(),
        services: health.services.clone(),
        serve_node_ports: last.serve_node_ports,
        probes: Arc::clone(&desired.probes),
        debug_state: DebugState::new(DebugDocument {
            desired: desired.clone(),
            observed,
        }),
    }
}

/// Now in whole seconds: what the API keeps, so the watched objects compare equal.
fn whole_seconds_now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The same objects (the reflector hands out the same `Arc` for an unchanged object); a
/// reordering counts as a change, which only costs the publisher a comparison.
fn same_objects<T>(a: &[Arc<T>], b: &[Arc<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

fn log_announce_changes(old: &announcer::Desired, new: &announcer::Desired, node: &str) {
    let flat = |d: &announcer::Desired| -> BTreeSet<(IpAddr, String)> {
        d.iter()
            .flat_map(|(i, ips)| ips.iter().map(move |ip| (*ip, i.clone())))
            .collect()
    };
    let (old, new) = (flat(old), flat(new));
    for (ip, iface) in new.difference(&old) {
        info!(%ip, interface = %iface, %node, "announcing");
    }
    for (ip, iface) in old.difference(&new) {
        info!(%ip, interface = %iface, %node, "no longer announcing");
    }
}
