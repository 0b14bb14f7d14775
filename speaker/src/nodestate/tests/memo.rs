//! The step memo never changes the result: after any sequence of object changes (each a new
//! `Arc` for the changed object, the others kept, as the reflectors do), a step with the memo
//! equals a step without it.

use ferrolb_adapter::node_service::NodeService;
use std::sync::Arc;

use ferrolb_adapter::proof::testing::{signed, signed_where_the_controller_wrote};
use ferrolb_adapter::slice::NodeSlice;
use k8s_openapi::api::core::v1::Service;
use proptest::prelude::*;
use serde_json::json;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::super::vips::may_concern;
use super::super::{
    NodeDesired, StepMemo, desired_before_rules, desired_before_rules_with, elect_if_changed,
};
use super::fixtures::*;

const SERVICES: usize = 5;
const IPS: [&str; 5] = [
    "198.51.100.200",
    "198.51.100.201",
    "198.51.100.202",
    "203.0.113.9",
    "192.0.2.1",
];

/// One change of the cluster.
#[derive(Debug, Clone)]
enum Change {
    /// Service `i` (re)written: its address, eTP Local, sharing key, proof issue time
    /// (`None`: the proof as the fixture signs it), or as an externalIPs Service.
    Service {
        i: usize,
        ip: usize,
        local: bool,
        sharing: bool,
        issued: Option<i64>,
        external: bool,
    },
    /// Service `i` deleted.
    ServiceGone(usize),
    /// Service `i`'s EndpointSlice (re)written: (node, ready, terminating) per endpoint.
    Slice(usize, Vec<(usize, bool, bool)>),
    /// Service `i`'s EndpointSlice deleted.
    SliceGone(usize),
    /// Pool `blue` resized to end at `.2xx`.
    Pool(u8),
    /// The step computed for another node.
    Node(usize),
    /// The speakers gossip says are alive (a bit per node).
    Live(u8),
    /// Node `n` labelled out of external load balancers (or back in).
    Excluded(usize, bool),
    /// Service `i` written as a LoadBalancer without an address yet (what the controller has
    /// not allocated) and without NodePorts (`allocateLoadBalancerNodePorts: false`), or with
    /// `cluster_ip` as a ClusterIP Service: nothing for the speaker.
    Bare { i: usize, cluster_ip: bool },
    /// Service `i` written as a LoadBalancer without a class (ferrolb's as the default class
    /// once the controller's proof holds), with address `ip` signed by the controller, or
    /// none yet.
    Classless { i: usize, ip: Option<usize> },
}

fn change() -> impl Strategy<Value = Change> {
    let i = 0..SERVICES;
    prop_oneof![
        4 => (i.clone(), 0..IPS.len(), any::<bool>(), any::<bool>(), prop::option::of(1..4i64), prop::bool::weighted(0.2))
            .prop_map(|(i, ip, local, sharing, issued, external)| Change::Service { i, ip, local, sharing, issued, external }),
        1 => i.clone().prop_map(Change::ServiceGone),
        4 => (i.clone(), prop::collection::vec((0..3usize, any::<bool>(), any::<bool>()), 0..3))
            .prop_map(|(i, eps)| Change::Slice(i, eps)),
        1 => i.prop_map(Change::SliceGone),
        1 => (200u8..=249).prop_map(Change::Pool),
        1 => (0..3usize).prop_map(Change::Node),
        1 => (0..8u8).prop_map(Change::Live),
        1 => (0..3usize, any::<bool>()).prop_map(|(n, out)| Change::Excluded(n, out)),
        2 => (0..SERVICES, any::<bool>()).prop_map(|(i, cluster_ip)| Change::Bare { i, cluster_ip }),
        2 => (0..SERVICES, prop::option::of(0..3usize)).prop_map(|(i, ip)| Change::Classless { i, ip }),
    ]
}

struct Cluster {
    services: Vec<Option<Arc<NodeService>>>,
    slices: Vec<Option<Arc<NodeSlice>>>,
    world: World,
    node: usize,
}

impl Cluster {
    fn apply(&mut self, c: &Change) {
        match c {
            Change::Service {
                i,
                ip,
                local,
                sharing,
                issued,
                external,
            } => {
                let name = format!("s{i}");
                let mut v = if *external {
                    eip_json(&name, &[IPS[*ip]], true)
                } else {
                    let pool = if IPS[*ip].starts_with("203") {
                        "red"
                    } else {
                        "blue"
                    };
                    lb_json(&name, &[IPS[*ip]], pool)
                };
                if *local {
                    v["spec"]["externalTrafficPolicy"] = json!("Local");
                    v["spec"]["healthCheckNodePort"] = json!(32000 + *i);
                }
                if *sharing {
                    v["metadata"]["annotations"]["ferrolb.io/sharing-key"] = json!("k");
                    v["spec"]["ports"][0]["port"] = json!(80 + *i);
                }
                let svc: Service = serde_json::from_value(v).unwrap();
                let svc = match issued {
                    Some(at) if !*external => signed(svc, *at),
                    _ => signed_where_the_controller_wrote(svc),
                };
                self.services[*i] = Some(Arc::new(NodeService::from(svc)));
            }
            Change::ServiceGone(i) => self.services[*i] = None,
            Change::Bare { i, cluster_ip } => {
                let mut v = lb_json(&format!("s{i}"), &[], "blue");
                v["status"] = json!({});
                v["spec"]["allocateLoadBalancerNodePorts"] = json!(false);
                v["spec"]["ports"][0]
                    .as_object_mut()
                    .map(|p| p.remove("nodePort"));
                if *cluster_ip {
                    v["spec"]["type"] = json!("ClusterIP");
                }
                self.services[*i] = Some(Arc::new(NodeService::from(
                    serde_json::from_value::<Service>(v).unwrap(),
                )));
            }
            Change::Classless { i, ip } => {
                let ips: Vec<&str> = ip.iter().map(|ip| IPS[*ip]).collect();
                let mut v = lb_json(&format!("s{i}"), &ips, "blue");
                v["spec"]
                    .as_object_mut()
                    .map(|s| s.remove("loadBalancerClass"));
                let svc: Service = serde_json::from_value(v).unwrap();
                self.services[*i] = Some(Arc::new(NodeService::from(
                    signed_where_the_controller_wrote(svc),
                )));
            }
            Change::Slice(i, eps) => {
                let addresses: Vec<String> =
                    (0..eps.len()).map(|k| format!("10.0.{i}.{k}")).collect();
                let eps: Vec<(&str, &str, bool, bool)> = eps
                    .iter()
                    .zip(&addresses)
                    .map(|((n, ready, term), a)| (a.as_str(), NODES[*n], *ready, *term))
                    .collect();
                let v = slice_json(&format!("s{i}"), &eps);
                self.slices[*i] = Some(Arc::new(serde_json::from_value(v).unwrap()));
            }
            Change::SliceGone(i) => self.slices[*i] = None,
            Change::Pool(end) => {
                self.world.pools[0] =
                    pool_json("blue", &[&format!("198.51.100.200-198.51.100.{end}")]);
            }
            Change::Node(n) => self.node = *n,
            Change::Excluded(n, out) => {
                let mut v = node_json(NODES[*n], *n);
                if *out {
                    v["metadata"]["labels"]["node.kubernetes.io/exclude-from-external-load-balancers"] =
                        json!("");
                }
                self.world.nodes[*n] = v;
            }
            Change::Live(mask) => {
                self.world.live = NODES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, n)| n.to_string())
                    .collect();
            }
        }
    }

    /// Five Services' places, all empty, computed for the first node.
    fn new() -> Cluster {
        Cluster {
            services: vec![None; SERVICES],
            slices: vec![None; SERVICES],
            world: World::new(),
            node: 0,
        }
    }

    /// Applies `c` and returns the snapshot after it; `base` (the objects besides Services
    /// and slices) is taken again when `c` changed it.
    fn after(&mut self, c: &Change, base: &mut super::super::Snapshot) -> super::super::Snapshot {
        self.apply(c);
        if matches!(c, Change::Pool(_) | Change::Excluded(..)) {
            *base = self.world.snapshot();
        }
        self.snapshot(base)
    }

    fn snapshot(&self, base: &super::super::Snapshot) -> super::super::Snapshot {
        let mut s = base.clone();
        s.objects.services = self.services.iter().flatten().cloned().collect();
        s.objects.slices = self.slices.iter().flatten().cloned().collect();
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn a_step_with_the_memo_equals_a_step_without(changes in prop::collection::vec(change(), 1..24)) {
        let mut cluster = Cluster::new();
        let mut memo = StepMemo::default();
        let mut base = cluster.world.snapshot();
        for c in &changes {
            let snapshot = cluster.after(c, &mut base);
            let local = cluster.world.local(NODES[cluster.node]);
            let with = desired_before_rules_with(&snapshot, &local, &mut memo);
            let without = desired_before_rules(&snapshot, &local);
            prop_assert_eq!(with, without, "after {:?}", c);
        }
    }
}

/// Now plus `k` seconds: the clock of the `k`th step.
fn clock(k: usize) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(now().0.as_second() + k as i64).unwrap())
}

/// The loop's steps over `changes`, as the daemon runs them: each with the `since` the last
/// computed step left and a later clock; a step [`elect_if_changed`] skips keeps the last
/// desired state. Each result is checked against the step computed from nothing; returns how
/// many were skipped.
fn loop_over(changes: &[Change]) -> Result<usize, TestCaseError> {
    let mut cluster = Cluster::new();
    let mut memo = StepMemo::default();
    let mut base = cluster.world.snapshot();
    let mut last: Option<NodeDesired> = None;
    let mut skipped = 0;
    for (k, c) in changes.iter().enumerate() {
        let snapshot = cluster.after(c, &mut base);
        let mut local = cluster.world.local(NODES[cluster.node]);
        local.since = last
            .as_ref()
            .map(|d| d.publication.since.clone())
            .unwrap_or_default();
        local.now = clock(k);
        let fresh = desired_before_rules(&snapshot, &local);
        match elect_if_changed(&snapshot, &local, &mut memo) {
            Some(elected) => {
                let desired = elected.finish(&local, &mut memo);
                prop_assert_eq!(&desired, &fresh, "after {:?}", c);
                last = Some(desired);
            }
            None => {
                skipped += 1;
                prop_assert_eq!(last.as_ref(), Some(&fresh), "skipped after {:?}", c);
            }
        }
    }
    Ok(skipped)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn a_skipped_step_would_have_computed_the_last_desired_state(changes in prop::collection::vec(change(), 1..24)) {
        loop_over(&changes)?;
    }
}

#[test]
fn a_change_that_does_not_concern_the_speaker_skips_the_step() {
    let service = |i: usize| Change::Service {
        i,
        ip: i,
        local: false,
        sharing: false,
        issued: None,
        external: false,
    };
    let changes = [
        service(0),
        Change::Slice(0, vec![(0, true, false)]),
        // Nothing for the speaker: a ClusterIP Service, its slice, and Service 0 written again
        // as it was (a finalizer, say). (A ferrolb LoadBalancer counts before it has an
        // address: its NodePorts and health check are served, so it is a step.)
        Change::Bare {
            i: 1,
            cluster_ip: true,
        },
        Change::Slice(1, vec![(1, true, false)]),
        service(0),
        // Service 2 allocated: a step.
        service(2),
    ];
    let skipped = loop_over(&changes).map_err(|e| e.to_string()).unwrap();
    assert_eq!(
        skipped, 3,
        "the three changes in the middle skip their steps"
    );
}

/// Service `i` allocated address `i`, with an endpoint on the first node.
fn allocated_with_an_endpoint(cluster: &mut Cluster, i: usize) {
    cluster.apply(&Change::Service {
        i,
        ip: i,
        local: false,
        sharing: false,
        issued: None,
        external: false,
    });
    cluster.apply(&Change::Slice(i, vec![(0, true, false)]));
}

/// Two allocated Services with an endpoint each, the objects besides them, and the first
/// node's view.
fn two_services() -> (Cluster, super::super::Snapshot, super::super::Local) {
    let mut cluster = Cluster::new();
    for i in 0..2 {
        allocated_with_an_endpoint(&mut cluster, i);
    }
    let base = cluster.world.snapshot();
    let local = cluster.world.local(NODES[0]);
    (cluster, base, local)
}

#[test]
fn an_unchanged_service_keeps_its_row_and_a_changed_one_does_not() {
    let (mut cluster, base, local) = two_services();
    let mut memo = StepMemo::default();
    let rows = |memo: &mut StepMemo, snapshot: &super::super::Snapshot| {
        let p = ferrolb_adapter::pools::Pools::new(&snapshot.objects.pools);
        memo.rows(
            &snapshot.objects.services,
            &snapshot.objects.slices,
            &p,
            &snapshot.objects.proof_keys,
            &local.node,
        )
    };
    let first = rows(&mut memo, &cluster.snapshot(&base));
    cluster.apply(&Change::Slice(1, vec![(1, true, false)]));
    let second = rows(&mut memo, &cluster.snapshot(&base));
    assert!(
        Arc::ptr_eq(&first[0], &second[0]),
        "s0 did not change: its row is kept"
    );
    assert!(
        !Arc::ptr_eq(&first[1], &second[1]),
        "s1's slice changed: its row is computed again"
    );
    assert_ne!(first[1], second[1]);
}

#[test]
fn an_unchanged_address_keeps_its_decision_and_a_changed_one_does_not() {
    let (mut cluster, base, local) = two_services();
    let mut memo = StepMemo::default();
    let first = desired_before_rules_with(&cluster.snapshot(&base), &local, &mut memo);
    cluster.apply(&Change::Slice(1, vec![(1, true, false)]));
    let second = desired_before_rules_with(&cluster.snapshot(&base), &local, &mut memo);
    let decisions = |d: &NodeDesired| -> Vec<Arc<crate::election::IpDecision>> {
        d.election.result.per_ip.values().cloned().collect()
    };
    let (first, second) = (decisions(&first), decisions(&second));
    assert_eq!((first.len(), second.len()), (2, 2));
    assert!(
        Arc::ptr_eq(&first[0], &second[0]),
        "s0's address: the same decision, shared"
    );
    assert!(
        !Arc::ptr_eq(&first[1], &second[1]),
        "s1's row changed: its address is decided again"
    );
}

/// Addresses decided in different steps (Services created one at a time, as in a cluster)
/// share one list of candidates, one of interfaces and one reason text wherever theirs are
/// equal: the memo keeps what its decisions share across elections (issue 21).
#[test]
fn decisions_of_different_steps_share_their_lists_and_reasons() {
    let mut cluster = Cluster::new();
    let base = cluster.world.snapshot();
    let local = cluster.world.local(NODES[0]);
    let mut memo = StepMemo::default();
    let mut decisions: Vec<Arc<crate::election::IpDecision>> = Vec::new();
    for i in 0..3 {
        allocated_with_an_endpoint(&mut cluster, i);
        let desired = desired_before_rules_with(&cluster.snapshot(&base), &local, &mut memo);
        decisions = desired.election.result.per_ip.values().cloned().collect();
    }
    assert_eq!(decisions.len(), 3);
    let mut shared = 0;
    for (k, a) in decisions.iter().enumerate() {
        for b in &decisions[k + 1..] {
            assert!(!Arc::ptr_eq(a, b), "each address has its own decision");
            for (equal, same) in [
                (
                    a.candidates == b.candidates,
                    Arc::ptr_eq(&a.candidates, &b.candidates),
                ),
                (
                    a.interfaces == b.interfaces,
                    Arc::ptr_eq(&a.interfaces, &b.interfaces),
                ),
                (a.reason == b.reason, Arc::ptr_eq(&a.reason, &b.reason)),
            ] {
                assert_eq!(equal, same, "{a:?} {b:?}");
                shared += usize::from(same);
            }
        }
    }
    assert!(
        shared >= 3,
        "the three addresses have the same candidates: {decisions:?}"
    );
}

/// The Service a change is of (a Service's or its EndpointSlice's), if any.
fn service_of(c: &Change) -> Option<usize> {
    match c {
        Change::Service { i, .. }
        | Change::ServiceGone(i)
        | Change::Bare { i, .. }
        | Change::Classless { i, .. }
        | Change::Slice(i, _)
        | Change::SliceGone(i) => Some(*i),
        _ => None,
    }
}

/// Over `changes`, every change the speaker's stores do not notify (a Service's for which
/// [`may_concern`] holds neither before nor after it; an EndpointSlice's whose Service it
/// does not hold for) leaves the desired state computed from nothing as it was. Returns how
/// many were not notified.
fn silenced_over(changes: &[Change]) -> Result<usize, TestCaseError> {
    let mut cluster = Cluster::new();
    let mut base = cluster.world.snapshot();
    let concerns =
        |cluster: &Cluster, i: usize| cluster.services[i].as_deref().is_some_and(may_concern);
    let mut local = cluster.world.local(NODES[cluster.node]);
    local.now = clock(0);
    let mut last = desired_before_rules(&cluster.snapshot(&base), &local);
    let mut silenced = 0;
    for (k, c) in changes.iter().enumerate() {
        let before = service_of(c).is_some_and(|i| concerns(&cluster, i));
        let snapshot = cluster.after(c, &mut base);
        let after = service_of(c).is_some_and(|i| concerns(&cluster, i));
        let notified = match c {
            Change::Slice(..) | Change::SliceGone(_) => after,
            _ if service_of(c).is_some() => before || after,
            _ => true,
        };
        let mut local = cluster.world.local(NODES[cluster.node]);
        local.since = last.publication.since.clone();
        local.now = clock(k + 1);
        let fresh = desired_before_rules(&snapshot, &local);
        if !notified {
            silenced += 1;
            prop_assert_eq!(&fresh, &last, "not notified: {:?}", c);
        }
        last = fresh;
    }
    Ok(silenced)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn a_change_the_stores_do_not_notify_changes_nothing(changes in prop::collection::vec(change(), 1..24)) {
        silenced_over(&changes)?;
    }
}

#[test]
fn changes_of_a_service_that_may_not_concern_the_speaker_are_not_notified() {
    let changes = [
        Change::Bare {
            i: 1,
            cluster_ip: true,
        },
        Change::Slice(1, vec![(1, true, false)]),
        Change::Bare {
            i: 1,
            cluster_ip: true,
        },
        Change::SliceGone(1),
        Change::ServiceGone(1),
    ];
    let silenced = silenced_over(&changes).map_err(|e| e.to_string()).unwrap();
    assert_eq!(
        silenced, 5,
        "a ClusterIP Service without externalIPs and its slice"
    );
}
