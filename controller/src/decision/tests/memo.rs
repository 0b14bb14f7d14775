//! A decision with the memo of the decisions before it equals a decision from nothing, over
//! random sequences of what happens to Services between two passes.

use std::sync::{Arc, LazyLock};

use ferrolb_adapter::proof::SigningKey;
use kube::ResourceExt;
use proptest::prelude::*;

use super::fixtures::{Cluster, Svc, add, applied, edit, now, show};
use super::{POOL, config, decide_remembering};
use crate::decision::prove::{ProofKeys, test_keys};
use crate::decision::{Config, DecisionMemo, Inputs, Pending, Writes, decide, decide_with_memo};
use crate::inputs::Watched;
use ferrolb_api::{ExternalIPPolicy, VIPPool};

/// Keys that verify none of [`test_keys`]' proofs.
static OTHER_KEYS: LazyLock<ProofKeys> =
    LazyLock::new(|| ProofKeys::of(SigningKey::generate().expect("a key for the memo tests")));

/// What happens between two passes.
#[derive(Debug, Clone)]
enum Change {
    /// A LoadBalancer Service is created (`external`: with externalIPs; `metallb`: asking
    /// for an address with MetalLB's annotation, which odd `id`s misspell: a request problem
    /// that comes and goes with [`Change::Honour`] while the object stays the same).
    Create {
        id: u8,
        external: bool,
        metallb: bool,
    },
    /// The last decision's writes reach the apiserver and the watch.
    Settle,
    /// The last decision's writes reach the apiserver; the watch has not shown them yet.
    Unseen,
    /// A Service's port changes.
    Edit { id: u8 },
    /// Someone else writes an address into a Service's status.
    Forge { id: u8 },
    /// A Service is being deleted.
    Delete { id: u8 },
    /// A Service is gone.
    Gone { id: u8 },
    /// The proof keys change (the controller's key rotates).
    Rekey,
    /// MetalLB's annotations are honoured, or no longer.
    Honour,
    /// Namespace `default` gains or loses the label pool `gold` selects.
    Relabel,
    /// A policy allowing the externalIPs Services are created with appears, or goes: their
    /// externalIPs condition changes while their objects stay the same.
    Allow,
    /// Pool `web` is disabled, or enabled again: the plan changes while every request stays
    /// the same.
    Disable,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (0..6u8, any::<bool>(), any::<bool>())
            .prop_map(|(id, external, metallb)| Change::Create { id, external, metallb }),
        3 => Just(Change::Settle),
        1 => Just(Change::Unseen),
        1 => (0..6u8).prop_map(|id| Change::Edit { id }),
        1 => (0..6u8).prop_map(|id| Change::Forge { id }),
        1 => (0..6u8).prop_map(|id| Change::Delete { id }),
        1 => (0..6u8).prop_map(|id| Change::Gone { id }),
        1 => Just(Change::Rekey),
        1 => Just(Change::Honour),
        1 => Just(Change::Relabel),
        1 => Just(Change::Allow),
        1 => Just(Change::Disable),
    ]
}

/// The cluster between passes, as the control loop sees it.
struct Loop {
    watched: Watched,
    pending: Pending,
    keys: &'static ProofKeys,
    config: Config,
    last: Option<Writes>,
}

impl Loop {
    fn exists(&self, id: u8) -> bool {
        let name = format!("s{id}");
        self.watched.services.iter().any(|s| s.name_any() == name)
    }

    fn apply(&mut self, change: &Change) {
        match *change {
            Change::Create {
                id,
                external,
                metallb,
            } if !self.exists(id) => {
                let mut svc = Svc::lb(&format!("s{id}"), i64::from(id));
                if external {
                    svc = svc.external_ips(&["203.0.113.5"]);
                }
                if metallb {
                    let ips = if id % 2 == 0 {
                        "198.51.100.4"
                    } else {
                        "198.51.100.4,198.51.100.x"
                    };
                    svc = svc.annotation("metallb.io/loadBalancerIPs", ips);
                }
                add(&mut self.watched, svc);
            }
            Change::Settle => {
                if let Some(writes) = &self.last {
                    self.watched = applied(&self.watched, writes);
                }
                self.pending.clear();
            }
            Change::Unseen => {
                for w in self.last.iter().flat_map(|l| &l.services) {
                    let uid = w.service.metadata.uid.clone().unwrap_or_default();
                    self.pending.insert(uid, w.want.clone());
                }
            }
            Change::Edit { id } if self.exists(id) => {
                edit(&mut self.watched, &format!("s{id}"), |s| {
                    s.port(8000 + i32::from(id))
                });
            }
            Change::Forge { id } if self.exists(id) => {
                edit(&mut self.watched, &format!("s{id}"), |s| {
                    s.status_ips_by("mallory", &["198.51.100.6"])
                });
            }
            Change::Delete { id } if self.exists(id) => {
                edit(&mut self.watched, &format!("s{id}"), Svc::deleted);
            }
            Change::Gone { id } => {
                let name = format!("s{id}");
                self.watched.services.retain(|s| s.name_any() != name);
            }
            Change::Rekey => {
                self.keys = if std::ptr::eq(self.keys, test_keys()) {
                    &OTHER_KEYS
                } else {
                    test_keys()
                };
            }
            Change::Honour => {
                self.config.metallb_annotations = !self.config.metallb_annotations;
            }
            Change::Relabel => {
                let mut ns = self.watched.namespaces[0].as_ref().clone();
                let labels = ns.labels_mut();
                if labels.remove("tier").is_none() {
                    labels.insert("tier".into(), "gold".into());
                }
                self.watched.namespaces[0] = Arc::new(ns);
            }
            Change::Disable => {
                let mut web = self.watched.pools[0].as_ref().clone();
                web.spec.disabled = !web.spec.disabled;
                self.watched.pools[0] = Arc::new(web);
            }
            Change::Allow => {
                if self.watched.policies.is_empty() {
                    self.watched.policies.push(Arc::new(allowing_policy()));
                } else {
                    self.watched.policies.clear();
                }
            }
            _ => {}
        }
    }
}

/// A pool serving, before pool `web`, the namespaces labelled `tier: gold`.
fn gold_pool() -> VIPPool {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ferrolb.io/v1alpha1", "kind": "VIPPool",
        "metadata": {"name": "gold", "uid": "uid-gold", "generation": 1,
            "creationTimestamp": "2023-11-14T22:00:00Z"},
        "spec": {"addresses": ["203.0.113.64/30"],
            "serviceAllocation": {"priority": 1,
                "namespaceSelector": {"matchLabels": {"tier": "gold"}}}},
    }))
    .expect("a VIPPool")
}

/// A policy allowing every namespace the externalIPs [`Change::Create`] writes.
fn allowing_policy() -> ExternalIPPolicy {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "ferrolb.io/v1alpha1", "kind": "ExternalIPPolicy",
        "metadata": {"name": "documentation", "uid": "uid-documentation", "generation": 1},
        "spec": {"allowedCIDRs": ["203.0.113.0/24"], "namespaceSelector": {}},
    }))
    .expect("an ExternalIPPolicy")
}

fn same(with: &Writes, without: &Writes) -> Result<(), TestCaseError> {
    prop_assert_eq!(&with.services, &without.services);
    prop_assert_eq!(&with.pools, &without.pools);
    prop_assert_eq!(format!("{:?}", with.plan), format!("{:?}", without.plan));
    Ok(())
}

/// Once `writes` come back through the watch, a decision writes nothing the last one did not
/// already write (the same fields of the same Service, the same pool status), unless they say
/// they do not [settle](Writes::settle): the control loop does not decide when its wake-up saw
/// only the echoes of writes that settle ([`crate::echoes`]), and loses nothing by it. Either the watch shows the pools' statuses before the Services (whose
/// written fields are pending), or it shows all of them (their entries settled), when the
/// decision writes nothing at all. (The second only when no earlier write is still unseen:
/// [`applied`] shows this decision's writes, not those of the decisions before it.)
fn echoes_write_nothing_new(state: &Loop, writes: &Writes) -> Result<(), TestCaseError> {
    if !writes.settle() {
        return Ok(());
    }
    let settled = applied(&state.watched, writes);
    let mut services_unseen = state.watched.clone();
    services_unseen.pools = settled.pools.clone();
    let mut unseen_pending = state.pending.clone();
    let mut settled_pending = state.pending.clone();
    for w in &writes.services {
        let uid = w.service.metadata.uid.clone().unwrap_or_default();
        settled_pending.remove(&uid);
        unseen_pending.insert(uid, w.want.clone());
    }
    let mut cases = vec![("pools shown", &services_unseen, &unseen_pending)];
    if state.pending.is_empty() {
        cases.push(("all shown", &settled, &settled_pending));
    }
    for (case, watched, pending) in cases {
        let now = now();
        let again = decide(&Inputs {
            watched,
            pending,
            config: &state.config,
            stamp_key: None,
            keys: state.keys,
            now: &now,
        });
        let written_before = |w: &crate::diff::ServiceWrite| {
            writes
                .services
                .iter()
                .any(|b| b.service.metadata.uid == w.service.metadata.uid && b.want == w.want)
        };
        let nothing_new = again.services.iter().all(written_before)
            && again.pools.iter().all(|p| writes.pools.contains(p));
        let nothing = again.services.is_empty() && again.pools.is_empty();
        prop_assert!(
            if case == "all shown" {
                nothing
            } else {
                nothing_new
            },
            "{case}: deciding again on the echoes of {:#?} wrote {:#?}",
            show(writes),
            show(&again)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_decision_with_the_memo_equals_one_from_nothing(
        changes in proptest::collection::vec(change(), 1..24)
    ) {
        let mut watched = Cluster::new().pool("web", POOL).node("n1", "198.51.100.3").build();
        watched.pools.push(Arc::new(gold_pool()));
        let mut state = Loop {
            watched,
            pending: Pending::new(),
            keys: test_keys(),
            config: config(),
            last: None,
        };
        let mut memo = DecisionMemo::default();
        for change in &changes {
            state.apply(change);
            let decide_now = |memo: Option<&mut DecisionMemo>| {
                let now = now();
                let inputs = Inputs {
                    watched: &state.watched,
                    pending: &state.pending,
                    config: &state.config,
                    stamp_key: None,
                    keys: state.keys,
                    now: &now,
                };
                match memo {
                    Some(memo) => decide_with_memo(&inputs, memo),
                    None => decide(&inputs),
                }
            };
            let with = decide_now(Some(&mut memo));
            let without = decide_now(None);
            same(&with, &without)?;
            echoes_write_nothing_new(&state, &with)?;
            state.last = Some(with);
        }
    }
}

#[test]
fn a_service_gone_from_the_snapshot_is_no_longer_held() {
    let watched = Cluster::new()
        .pool("web", POOL)
        .service(Svc::lb("a", 0))
        .service(Svc::lb("b", 1))
        .build();
    let mut memo = DecisionMemo::default();
    let mut decide_now = |watched: &Watched| decide_remembering(watched, &mut memo);
    let first = decide_now(&watched);
    let mut after = applied(&watched, &first);
    let a = Arc::clone(&after.services[0]);
    decide_now(&after);
    after.services.retain(|s| s.name_any() == "b");
    decide_now(&after);
    assert_eq!(memo.len(), 1, "only b is kept");
    assert_eq!(Arc::strong_count(&a), 1, "a's object is no longer held");
}
