//! The control loop: on any change of the watched objects but its own writes coming back
//! ([`crate::echoes`]), and every resync period, the leader takes a snapshot, reads the
//! admission stamp key, the allocation proof keys and the clock, lets the pure [`decision`]
//! decide, and applies the writes ([`apply`]). A Service whose write failed is planned again
//! after its own backoff ([`Retries`]), not at the next resync. Nothing is decided before
//! every watch has listed once and the proof keys are loaded: an empty or unverifiable world
//! would release every address. I/O.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::Reporter;
use kube::{Client, ResourceExt};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::admission_stamp::StampKey;
use crate::apply;
use crate::decision::{self, DecisionMemo, Pending, ProofKeys, Writes};
use crate::diff::ServiceWrite;
use crate::echoes::Seen;
use crate::http::Health;
use crate::inputs::Watched;
use crate::inputs::current_fields;
use crate::leader::stopped;
use crate::metrics::{Metrics, PoolLabels, ReasonLabels};
use crate::retries::Retries;
use crate::watches::Stores;

/// What the loop needs.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Who publishes events on Services.
    pub reporter: Reporter,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Health endpoints' state.
    pub health: Arc<Health>,
    /// Ownership and policy configuration.
    pub config: decision::Config,
    /// The admission stamp key, once the webhook loaded it.
    pub stamp_key: watch::Receiver<Option<StampKey>>,
    /// The allocation proof keys, once loaded ([`crate::allocation_keys`]).
    pub proof_keys: watch::Receiver<Option<ProofKeys>>,
    /// Writes in flight at once.
    pub concurrency: usize,
    /// Replan at least this often.
    pub resync: Duration,
}

/// Runs the loop until `shutdown` turns true.
pub async fn run(
    ctx: Context,
    stores: Stores,
    changed: Arc<Notify>,
    mut leader: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::select! {
        synced = stores.ready(&ctx.health) => if let Err(e) = synced {
            // The watches are gone for good: never plan from what they did not list.
            tracing::error!(error = %e, "the watches stopped before they synced; not planning");
            ctx.health.set_problem(Some(format!("watch ended before its first list: {e}")));
            return;
        },
        () = stopped(&mut shutdown) => return,
    }
    let mut keys_rx = ctx.proof_keys.clone();
    tokio::select! {
        loaded = keys_rx.wait_for(Option::is_some) => if loaded.is_err() { return },
        () = stopped(&mut shutdown) => return,
    }
    ctx.health.set_synced();
    info!("watches synced and allocation proof keys loaded");
    let mut leading = Leading::default();
    loop {
        let is_leader = *leader.borrow_and_update();
        ctx.health.set_leader(is_leader);
        ctx.metrics.leader.set(i64::from(is_leader));
        if is_leader {
            pass(&ctx, &stores, &mut leading, &leader).await;
        } else {
            leading = Leading::default();
        }
        // Wait for something to decide (the resync counted from this pass, not from a skip).
        let passed = Instant::now();
        let resync = passed + ctx.resync;
        loop {
            let retry = leading.retries.next_due();
            tokio::select! {
                () = changed.notified() => {
                    // Let a burst of watch events land before planning again; a lone change
                    // after a quiet spell is decided at once.
                    tokio::time::sleep_until((passed + BURST).into()).await;
                    // Taken on every wake-up, leader or not: the journal stays small.
                    let seen = stores.seen();
                    if is_leader && leading.only_echoes(&seen) {
                        ctx.metrics.echoes_skipped.inc();
                        continue;
                    }
                }
                _ = leader.changed() => {}
                () = sleep_until(Some(resync)) => {}
                () = sleep_until(retry) => {}
                () = stopped(&mut shutdown) => return,
            }
            break;
        }
    }
}

/// How long after a pass the next waits for the rest of a burst of watch events (a bulk
/// create lands over many wake-ups); a change later than that is decided when it arrives. It
/// was a pause after every wake-up, 20 ms added to each lone new Service.
const BURST: Duration = Duration::from_millis(20);

/// What the leader remembers from one pass to the next; forgotten when it loses the lease.
struct Leading {
    /// Fields written that the watch may not show yet.
    pending: Pending,
    /// The resourceVersions around each pending write.
    versions: Versions,
    /// The resourceVersion of each pool's status after its last write.
    pool_versions: PoolVersions,
    /// Services whose write failed, planned again after their backoff.
    retries: Retries,
    /// The last decision's reads ([`DecisionMemo`]).
    memo: DecisionMemo,
    /// The last pass's writes settle ([`Writes::settle`]) and none of its pool writes
    /// failed: their echoes alone need no decision.
    settled: bool,
}

impl Default for Leading {
    fn default() -> Self {
        Leading {
            pending: Pending::new(),
            versions: Versions::new(),
            pool_versions: PoolVersions::new(),
            retries: Retries::default(),
            memo: DecisionMemo::default(),
            settled: true,
        }
    }
}

impl Leading {
    /// The last pass's writes settle and every watch event in `seen` shows a version they
    /// returned, or the one a pending write started from (the decision saw it): the last
    /// decision held all of it, so the next would write nothing ([`crate::echoes`]).
    fn only_echoes(&self, seen: &Seen) -> bool {
        self.settled
            && seen.only_echoes(
                |uid, rv| self.versions.get(uid).is_some_and(|w| w.around(rv)),
                &self.pool_versions,
            )
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn pass(
    ctx: &Context,
    stores: &Stores,
    leading: &mut Leading,
    leader: &watch::Receiver<bool>,
) {
    let start = Instant::now();
    let Some(keys) = ctx.proof_keys.borrow().clone() else {
        return;
    };
    let Leading {
        pending,
        versions,
        pool_versions,
        retries,
        memo,
        settled,
    } = leading;
    // Every event seen so far is in the snapshot: none of them is left to judge.
    stores.seen();
    let watched = stores.snapshot();
    settle_pending(pending, versions, &watched, &keys);
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let stamp_key = ctx.stamp_key.borrow().clone();
    let deciding = Instant::now();
    let writes = decision::decide_with_memo(
        &decision::Inputs {
            watched: &watched,
            pending,
            config: &ctx.config,
            stamp_key: stamp_key.as_ref(),
            keys: &keys,
            now: &now,
        },
        memo,
    );
    *settled = writes.settle();
    let Writes {
        services,
        pools,
        plan,
    } = writes;
    ctx.metrics
        .decision_seconds
        .observe(deciding.elapsed().as_secs_f64());
    for (name, usage) in &plan.pools {
        for (family, f) in [("ipv4", &usage.ipv4), ("ipv6", &usage.ipv6)] {
            let labels = PoolLabels {
                pool: name.clone(),
                family: family.into(),
            };
            ctx.metrics
                .pool_used
                .get_or_create(&labels)
                .set(i64::try_from(f.used).unwrap_or(i64::MAX));
            ctx.metrics
                .pool_available
                .get_or_create(&labels)
                .set(i64::try_from(f.available).unwrap_or(i64::MAX));
        }
    }
    retries.keep_only(services.iter().map(|w| w.service.uid().unwrap_or_default()));
    if services.is_empty() && pools.is_empty() {
        return;
    }
    debug!(
        services = services.len(),
        pools = pools.len(),
        "applying a plan"
    );
    // Per Service uid: what was written and the resourceVersions before and after, or None
    // when the write failed (re-read it).
    type Outcome = (current_fields::Observed, Written);
    let keys = &keys;
    let service_writes = stream::iter(services)
        .filter(|_| std::future::ready(*leader.borrow()))
        .map(|w| async move {
            let uid = w.service.uid().unwrap_or_default();
            match apply::service(&ctx.client, &ctx.reporter, &w).await {
                Ok(after) => {
                    count(ctx, &w, keys);
                    let before = w.service.resource_version().unwrap_or_default();
                    (uid, Some((w.want, Written { before, after })))
                }
                Err(e) => {
                    ctx.metrics.write_errors.inc();
                    warn!(service = %describe(&w.service), error = %e, "writing a Service");
                    (uid, None)
                }
            }
        })
        .buffer_unordered(ctx.concurrency)
        .collect::<Vec<(String, Option<Outcome>)>>();
    // Pools are written beside the Services, not after them: the watch then shows both in
    // one burst, and the next decision sees them together (one decision, not two).
    // A pool whose write failed has no retry of its own: the next decision writes it again,
    // so the echoes of this pass's other writes are decided ([`Leading::settled`]).
    let pool_writes = async {
        let mut written = Vec::new();
        for w in &pools {
            if !*leader.borrow() {
                break;
            }
            let rv = apply::pool(&ctx.client, w).await.inspect_err(|e| {
                ctx.metrics.write_errors.inc();
                warn!(pool = %w.name, error = %e, "writing a pool's status");
            });
            written.push((w.name.clone(), rv));
        }
        written
    };
    let (results, pools_written) = tokio::join!(service_writes, pool_writes);
    for (name, rv) in pools_written {
        match rv {
            Ok(Some(rv)) => {
                pool_versions.insert(name, rv);
            }
            Ok(None) => {
                pool_versions.remove(&name);
            }
            Err(_) => {
                pool_versions.remove(&name);
                *settled = false;
            }
        }
    }
    for (uid, written) in results {
        match written {
            Some((want, rvs)) => {
                retries.succeeded(&uid);
                pending.insert(uid.clone(), want);
                versions.insert(uid, rvs);
            }
            None => {
                retries.failed(&uid, Instant::now());
                pending.remove(&uid);
                versions.remove(&uid);
            }
        };
    }
    ctx.metrics
        .reconcile_seconds
        .observe(start.elapsed().as_secs_f64());
}

fn count(ctx: &Context, w: &ServiceWrite, keys: &ProofKeys) {
    let before = w.service.as_ref();
    let had = current_fields::observe(before, &keys.verify)
        .owned
        .ips
        .len();
    let has = w.want.owned.ips.len();
    if has > had {
        ctx.metrics.allocations.inc_by((has - had) as u64);
    } else if has < had {
        ctx.metrics.releases.inc_by((had - has) as u64);
    }
    if let Some(reason) = &w.failure {
        ctx.metrics
            .failures
            .get_or_create(&ReasonLabels {
                reason: reason.clone(),
            })
            .inc();
    }
}

/// The resourceVersions around one of the controller's writes to a Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Written {
    /// The version the decision saw.
    before: String,
    /// The versions the write's requests returned.
    after: Vec<String>,
}

impl Written {
    /// `rv` is the version the write started from or one it made.
    fn around(&self, rv: &str) -> bool {
        self.before == rv || self.after.iter().any(|a| a == rv)
    }
}

/// [`Written`] by Service uid, beside [`Pending`].
type Versions = HashMap<String, Written>;

/// The resourceVersion each pool's status had after the controller's last write of it.
type PoolVersions = HashMap<String, String>;

/// Forgets written fields once the watch shows them, once the Service is gone, and once the
/// watch shows a version that is neither the one the write started from nor one it made:
/// someone else wrote after the controller, and what they wrote (a forged status, say) is what
/// the next decision must see, not what the controller wrote before it.
fn settle_pending(
    pending: &mut Pending,
    versions: &mut Versions,
    watched: &Watched,
    keys: &ProofKeys,
) {
    if pending.is_empty() {
        versions.clear();
        return;
    }
    // Only the pending Services are looked up: no copy of every uid.
    let current: HashMap<&str, &Service> = watched
        .services
        .iter()
        .filter_map(|s| Some((s.metadata.uid.as_deref()?, s.as_ref())))
        .filter(|(uid, _)| pending.contains_key(*uid))
        .collect();
    pending.retain(|uid, want| {
        let Some(svc) = current.get(uid.as_str()) else {
            return false;
        };
        let rv = svc.resource_version().unwrap_or_default();
        let ours = versions.get(uid).is_some_and(|w| w.around(&rv));
        ours && current_fields::observe(svc, &keys.verify).owned != want.owned
    });
    versions.retain(|uid, _| pending.contains_key(uid));
}

/// `namespace/name` of a Service, for logs.
fn describe(svc: &Service) -> String {
    format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::prove::test_keys;
    use crate::inputs::current_fields::Observed;
    use serde_json::json;

    fn svc(rv: &str, ip: &str) -> Arc<Service> {
        let s: Service = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "n", "uid": "u1", "resourceVersion": rv,
                "managedFields": [{"manager": "ferrolb-controller", "operation": "Apply",
                    "subresource": "status", "apiVersion": "v1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}}}]},
            "spec": {"type": "LoadBalancer"},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
        }))
        .unwrap();
        Arc::new(crate::decision::prove::signed(s, 1))
    }

    fn watched(s: Arc<Service>) -> Watched {
        Watched {
            services: vec![s],
            ..Watched::default()
        }
    }

    fn written(want_ip: &str, before: &str, after: &[&str]) -> (Pending, Versions) {
        let want: Observed = current_fields::observe(&svc("0", want_ip), &test_keys().verify);
        let pending = Pending::from([("u1".to_string(), want)]);
        let versions = Versions::from([(
            "u1".to_string(),
            Written {
                before: before.into(),
                after: after.iter().map(|s| s.to_string()).collect(),
            },
        )]);
        (pending, versions)
    }

    #[test]
    fn echoes_are_the_versions_around_pending_writes_and_only_after_writes_that_settle() {
        let (pending, versions) = written("192.0.2.1", "10", &["11", "12"]);
        let mut leading = Leading {
            pending,
            versions,
            ..Leading::default()
        };
        let seen = |rvs: &[&str]| Seen {
            services: rvs
                .iter()
                .map(|rv| ("u1".to_string(), rv.to_string()))
                .collect(),
            ..Seen::default()
        };
        assert!(leading.only_echoes(&seen(&["10", "11", "12"])));
        assert!(!leading.only_echoes(&seen(&["11", "13"])));
        leading.settled = false;
        assert!(!leading.only_echoes(&seen(&["11"])));
    }

    #[test]
    fn kept_while_the_watch_shows_the_version_the_write_started_from() {
        let (mut p, mut v) = written("192.0.2.1", "10", &["11"]);
        settle_pending(
            &mut p,
            &mut v,
            &watched(svc("10", "192.0.2.9")),
            test_keys(),
        );
        assert!(p.contains_key("u1"));
    }

    #[test]
    fn forgotten_once_the_watch_shows_the_write() {
        let (mut p, mut v) = written("192.0.2.1", "10", &["11"]);
        settle_pending(
            &mut p,
            &mut v,
            &watched(svc("11", "192.0.2.1")),
            test_keys(),
        );
        assert!(p.is_empty() && v.is_empty());
    }

    #[test]
    fn forgotten_when_someone_else_wrote_after_the_controller() {
        // The forged status arrives in the same snapshot as (after) the controller's write:
        // the decision must see it and write the right address again.
        let (mut p, mut v) = written("192.0.2.1", "10", &["11"]);
        settle_pending(
            &mut p,
            &mut v,
            &watched(svc("12", "198.51.100.240")),
            test_keys(),
        );
        assert!(p.is_empty() && v.is_empty());
    }
}
