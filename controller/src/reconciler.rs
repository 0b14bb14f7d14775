//! The control loop: reflectors keep a snapshot of Services, IPPools, Namespaces and Nodes;
//! on any change (and every resync period) the leader plans the whole snapshot, compares, and
//! applies the difference.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_api::{ExternalIPPolicy, IPPool};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::actions::{self, Actions, World};
use crate::http::Health;
use crate::leader::stopped;
use crate::metrics::{Metrics, PoolLabels, ReasonLabels};
use crate::observed::{self, Observed};
use crate::writer;

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
    /// Ownership and policy settings.
    pub settings: actions::Settings,
    /// Writes in flight at once.
    pub concurrency: usize,
    /// Replan at least this often.
    pub resync: Duration,
}

/// The watched objects.
#[derive(Clone)]
pub struct Stores {
    services: Store<Service>,
    pools: Store<IPPool>,
    namespaces: Store<Namespace>,
    nodes: Store<Node>,
    policies: Store<ExternalIPPolicy>,
    service_cidrs: Store<ServiceCIDR>,
}

impl Stores {
    /// A snapshot of everything watched.
    pub fn world(&self) -> World {
        World {
            services: self.services.state(),
            pools: self.pools.state(),
            namespaces: self.namespaces.state(),
            nodes: self.nodes.state(),
            policies: self.policies.state(),
            service_cidrs: self.service_cidrs.state(),
        }
    }
}

/// Starts the watches; returns their stores and the change signal.
pub fn start_watches(client: &Client) -> (Stores, Arc<Notify>) {
    let changed = Arc::new(Notify::new());
    let stores = Stores {
        services: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        pools: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        namespaces: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        nodes: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        policies: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
        service_cidrs: ferrolb_adapter::reflect::watch_all(client, changed.clone()),
    };
    (stores, changed)
}

/// Runs the loop until `shutdown` turns true.
pub async fn run(
    ctx: Context,
    stores: Stores,
    changed: Arc<Notify>,
    mut leader: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ready = async {
        let _ = stores.services.wait_until_ready().await;
        let _ = stores.pools.wait_until_ready().await;
        let _ = stores.namespaces.wait_until_ready().await;
        let _ = stores.nodes.wait_until_ready().await;
        let _ = stores.policies.wait_until_ready().await;
        let _ = stores.service_cidrs.wait_until_ready().await;
    };
    tokio::select! {
        () = ready => {}
        () = stopped(&mut shutdown) => return,
    }
    ctx.health.set_synced();
    info!("watches synced");
    let mut pending: HashMap<String, Observed> = HashMap::new();
    loop {
        let is_leader = *leader.borrow_and_update();
        ctx.health.set_leader(is_leader);
        ctx.metrics.leader.set(i64::from(is_leader));
        if is_leader {
            pass(&ctx, &stores, &mut pending, &leader).await;
        } else {
            pending.clear();
        }
        tokio::select! {
            () = changed.notified() => {
                // Let a burst of watch events land before planning again.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ = leader.changed() => {}
            () = tokio::time::sleep(ctx.resync) => {}
            () = stopped(&mut shutdown) => return,
        }
    }
}

async fn pass(
    ctx: &Context,
    stores: &Stores,
    pending: &mut HashMap<String, Observed>,
    leader: &watch::Receiver<bool>,
) {
    let start = Instant::now();
    let world = stores.world();
    settle_pending(pending, &world);
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let Actions {
        services,
        pools,
        plan,
    } = actions::compute(&world, pending, &ctx.settings, &now);
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
    if services.is_empty() && pools.is_empty() {
        return;
    }
    debug!(
        services = services.len(),
        pools = pools.len(),
        "applying a plan"
    );
    // Per Service uid: what was written, or None when the write failed (re-read it).
    let results: Vec<(String, Option<Observed>)> = stream::iter(services)
        .filter(|_| std::future::ready(*leader.borrow()))
        .map(|w| async move {
            let uid = w.service.uid().unwrap_or_default();
            match writer::apply_service(&ctx.client, &ctx.reporter, &w).await {
                Ok(()) => {
                    count(ctx, &w);
                    (uid, Some(w.want))
                }
                Err(e) => {
                    ctx.metrics.write_errors.inc();
                    warn!(service = %actions::describe(&w.service), error = %e, "writing a Service");
                    (uid, None)
                }
            }
        })
        .buffer_unordered(ctx.concurrency)
        .collect()
        .await;
    for (uid, written) in results {
        match written {
            Some(want) => pending.insert(uid, want),
            None => pending.remove(&uid),
        };
    }
    for w in pools {
        if !*leader.borrow() {
            break;
        }
        if let Err(e) = writer::apply_pool(&ctx.client, &w).await {
            ctx.metrics.write_errors.inc();
            warn!(pool = %w.name, error = %e, "writing a pool's status");
        }
    }
    ctx.metrics
        .reconcile_seconds
        .observe(start.elapsed().as_secs_f64());
}

fn count(ctx: &Context, w: &actions::ServiceWrite) {
    let before = w.service.as_ref();
    let had = observed::observe(before).owned.ips.len();
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

/// Forgets written fields once the watch shows them (or the Service is gone).
fn settle_pending(pending: &mut HashMap<String, Observed>, world: &World) {
    if pending.is_empty() {
        return;
    }
    let current: HashMap<String, Observed> = world
        .services
        .iter()
        .filter_map(|s| Some((s.uid()?, observed::observe(s))))
        .collect();
    pending.retain(|uid, want| {
        current
            .get(uid)
            .is_some_and(|seen| seen.owned != want.owned)
    });
}
