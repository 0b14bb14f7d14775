//! The speaker's I/O shell: watches → [`desired`](crate::nodestate::desired) → announcer,
//! rules, health API and `ServiceAnnouncement`s.
//!
//! [`run`] has three parts:
//! - **start** (here): the watches, the dataplane supervisor (its first decision), the health
//!   API, the announcer, the dataplane task, the gossip keys (`gossip_keys.rs`: Secret
//!   `ferrolb-gossip`, created when missing, watched; no gossip until a usable key), the
//!   gossip (joined before the first step, so that a restarting node does not elect itself for
//!   everything), the publisher and the event recorder;
//! - **step** (`cycle.rs`): whenever an input changes (a watched object, gossip membership,
//!   local interfaces), one call of [`nodestate::desired`](crate::nodestate::desired) computes
//!   this node's whole desired state from a snapshot, compared with the last one; the step memo
//!   ([`StepMemo`](crate::nodestate::StepMemo)) keeps each Service's share between
//!   steps, so only the Services whose objects changed are computed again;
//! - **apply** (`cycle.rs`): each part that changed goes to the task that applies it through a
//!   `watch` channel: the announcer (ARP/NDP), the dataplane task (nft), the publisher (API
//!   writes) and the health API. A change of the dataplane's apply status only refreshes the
//!   health snapshot; nothing is recomputed. A new dataplane decision (`--dataplane=auto`
//!   follows kube-proxy, see [`dataplane::Decider`](crate::dataplane::Decider)) is an input:
//!   the next step hands the dataplane task the ruleset or "withdraw" (delete the table) and
//!   the health API whether to bind the healthCheckNodePorts.
//!
//! Ordering guarantees: no consumer can delay another, and the announcer gets its part first,
//! as soon as the election is done: before the probes, plans and publication are computed and
//! before the ruleset is built ([`elect_if_changed`](crate::nodestate::elect_if_changed), then
//! [`Elected::finish`](crate::nodestate::Elected::finish) and
//! [`NodeDesired::build_rules`](crate::nodestate::NodeDesired::build_rules)). A change after
//! which nothing the desired state is computed from differs ([`crate::nodestate::Basis`]: a
//! ClusterIP Service, a finalizer) ends the step after the rows. A takeover is
//! answered on the wire as soon as gossip reports a peer down, whatever the apiserver or nft
//! are doing: the step reads the reflectors' stores (no API call) and never waits for a
//! consumer.
//!
//! On SIGTERM the speaker hands over: it leaves the gossip (peers mark it down at once and the
//! successors announce), keeps answering for `--handover-wait`, then goes quiet. The rules in
//! table `inet ferrolb` are left in place, like kube-proxy's, so connections already on this
//! node keep working while it restarts (and the next run leaves them alone until its first
//! step) — unless ferrolb is being uninstalled (`uninstall.rs`: its DaemonSet gone or being
//! deleted, or its ServiceAccount refused), which is asked only after the handover.

pub mod announced;
pub mod cli;
mod cycle;
mod events;
mod gossip_keys;
mod kept_file;
mod metrics;
mod node;
mod observed;
mod publish;
mod rules;
pub mod scale;
mod uninstall;
mod watches;

#[cfg(test)]
mod switch_tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferrolb_runtime::access::{self, Gate, KubeReviewer};
use kube::Client;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::announcer::{self, Announcer, AnnouncerOptions};
use crate::dataplane::{self, Applier, Mode, Nft};
use crate::election::InterfaceView;
use crate::health::{self, HealthConfig, HealthServer, HealthSnapshot};
use crate::interfaces;
use crate::membership::{Members, Membership, MembershipConfig, MembershipOptions};

pub use crate::nodestate::Since;
pub use cli::Args;
pub use metrics::Metrics;
pub use publish::FIELD_MANAGER;

use cycle::{Inputs, Outputs, Settings, Speaker, Tasks};

/// kube-proxy's healthz port (`--healthz-bind-address`'s default).
pub const KUBE_PROXY_HEALTHZ_PORT: u16 = 10256;
/// Deadline of one detection of kube-proxy (`nft list chains`); a hung `nft` counts as
/// unreadable and keeps the decision.
const DETECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the speaker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No Kubernetes client configuration.
    #[error("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {0}")]
    Client(#[source] kube::Error),
    /// The health API's port.
    #[error(transparent)]
    Health(#[from] crate::health::HealthError),
    /// The port of `/metrics` and `/debug/state`.
    #[error(transparent)]
    Private(#[from] ferrolb_runtime::access::ListenError),
    /// The gossip socket.
    #[error("cannot start the gossip on {addr}: {source}")]
    Gossip {
        /// Where it tried to bind.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: crate::membership::MembershipError,
    },
}

/// Runs the speaker until SIGTERM or SIGINT.
pub async fn run(args: Args) -> Result<(), StartError> {
    let mut shutdown = Box::pin(ferrolb_runtime::shutdown_signal());
    let Some(mut speaker) = start(args, &mut shutdown).await? else {
        return Ok(());
    };
    speaker.run(&mut shutdown).await;
    speaker.stop().await;
    Ok(())
}

/// Starts every task and joins the gossip; `None` when `shutdown` came first.
async fn start(
    args: Args,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<Option<Speaker>, StartError> {
    let client = Client::try_default().await.map_err(StartError::Client)?;
    let changed = Arc::new(Notify::new());
    let announced = Arc::new(Notify::new());
    let stores =
        watches::Stores::start(&client, &args.namespace, changed.clone(), announced.clone());
    let (metrics, registry) = Metrics::new();
    let metrics = Arc::new(metrics);
    let mut keys = gossip_keys::spawn(
        client.clone(),
        client.default_namespace().to_string(),
        args.gossip_secret.clone(),
        metrics.gossip_keys.clone(),
    );

    let mode = args.dataplane.mode();
    if let Some(note) = args.dataplane.deprecation() {
        warn!("{note}");
    }
    if mode == Mode::Auto && args.health_addr.port() == KUBE_PROXY_HEALTHZ_PORT {
        warn!(health_addr = %args.health_addr,
            "--dataplane=auto with the health API on kube-proxy's port {KUBE_PROXY_HEALTHZ_PORT}: kube-proxy cannot start on this node while the speaker holds it; deploy/ uses --health-addr=0.0.0.0:10266");
    }
    let (dataplane_rx, supervisor) = dataplane::supervise(
        args.supervisor(),
        Nft::new(None).with_timeout(DETECT_TIMEOUT),
        metrics.dataplane.clone(),
    )
    .await;

    // Until the watches sync, the answers of the previous run if the table it left is still
    // there: a speaker restarted during an apiserver outage answers as before (README).
    let first = kept_file::restore(
        &args.kept_state,
        &args.node_name,
        dataplane_rx.borrow().enabled,
        &Nft::new(None).with_timeout(DETECT_TIMEOUT),
        HealthSnapshot::starting(SystemTime::now()),
    )
    .await;
    let (health_tx, health_rx) = watch::channel(Arc::new(first));
    let _kept_writer = kept_file::spawn_writer(
        args.kept_state.clone(),
        args.node_name.clone(),
        health_rx.clone(),
    );
    let mut health_config = HealthConfig::new(args.health_addr);
    health_config.requests = metrics.health_requests.clone();
    if mode != Mode::AnnounceOnly {
        // Bound only while the decision says so (`HealthSnapshot::serve_node_ports`).
        health_config.node_port_ip = Some(std::net::Ipv4Addr::UNSPECIFIED.into());
    }
    let (_, private) = access::serve(
        args.metrics_addr,
        health::admin::router(health_rx.clone(), Arc::new(registry)),
        Arc::new(Gate::new(KubeReviewer::new(client.clone()))),
    )
    .await?;
    let health = HealthServer::spawn(health_config, health_rx).await?;

    let (announce_tx, announce_rx) = watch::channel(announcer::Desired::new());
    let announcer_options = AnnouncerOptions {
        reannounce: (!args.reannounce.is_zero()).then_some(args.reannounce),
        ..AnnouncerOptions::default()
    };
    let announcer = Announcer::spawn(announce_rx, announcer_options);

    let (rules_tx, rules_rx) = watch::channel(rules::Wanted::NotYet);
    // Updated at the start, as kube-proxy's SyncLoop does "in case Sync() never succeeds": the
    // health API's `lastUpdated` and `status` are never Go's zero time once running.
    let (rules_status_tx, rules_status) = watch::channel(rules::RulesStatus {
        last_updated: Some(SystemTime::now()),
        ..rules::RulesStatus::default()
    });
    let rules_task = rules::spawn(
        Applier::new(None),
        rules_rx,
        rules_status_tx,
        metrics.clone(),
    );

    let ifaces = spawn_interface_reader(args.interface_interval).await;

    tokio::select! {
        () = stores.synced() => {}
        () = &mut *shutdown => return Ok(None),
    }
    info!(node = %args.node_name, "watches synced");

    let gossip_ip = loop {
        if let Some(ip) = args
            .gossip_addr
            .or_else(|| node::gossip_ip(&stores.snapshot().objects.nodes, &args.node_name))
        {
            break ip;
        }
        warn!(node = %args.node_name, "this Node has no InternalIP yet (or does not exist); waiting to start the gossip");
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = &mut *shutdown => return Ok(None),
        }
    };
    let bind = SocketAddr::new(gossip_ip, args.gossip_port);
    if !first_keys(&mut keys, &args.gossip_secret, shutdown).await {
        return Ok(None);
    }
    let (seeds_tx, seeds_rx) = watch::channel(node::seeds(
        &stores.snapshot().objects.nodes,
        &args.node_name,
        args.gossip_port,
    ));
    let config = MembershipConfig {
        probe_period: args.gossip_probe_period,
        probe_rtt: args.gossip_probe_period / 2,
        suspect_to_down_after: args.gossip_suspect_timeout,
        ..MembershipConfig::default()
    };
    let membership = Membership::spawn(
        config,
        MembershipOptions {
            node: args.node_name.clone(),
            bind,
            seeds_rx,
            interfaces_rx: ifaces.clone(),
            keys_rx: keys,
            dropped: metrics.gossip_dropped.clone(),
        },
    )
    .await
    .map_err(|source| StartError::Gossip { addr: bind, source })?;
    let mut members = membership.members();
    if !seeds_tx.borrow().is_empty() {
        let joined = tokio::time::timeout(args.join_wait, joined(&mut members)).await;
        match joined {
            Ok(()) => {
                info!(node = %args.node_name, live = ?members.borrow().live(), "joined the other speakers")
            }
            Err(_) => warn!(node = %args.node_name, wait_ms = args.join_wait.as_millis() as u64,
                "no other speaker answered in time; announcing with what is known"),
        }
    }

    let (publish_tx, publish_rx) = watch::channel(Arc::new(publish::Batch::default()));
    let publisher = publish::spawn(client.clone(), publish_rx);
    let takeovers = events::spawn(client.clone(), args.node_name.clone());

    Ok(Some(Speaker::new(
        Settings {
            node: args.node_name,
            gossip_port: args.gossip_port,
            handover_wait: args.handover_wait,
            uninstall: uninstall::Check {
                client: client.clone(),
                namespace: args.namespace.clone(),
                daemonset: args.daemonset.clone(),
            },
        },
        metrics,
        Inputs {
            stores,
            changed,
            announced,
            members,
            ifaces,
            rules_status,
            dataplane: dataplane_rx,
        },
        Outputs {
            announce: announce_tx,
            rules: rules_tx,
            publish: publish_tx,
            health: health_tx,
            seeds: seeds_tx,
            takeovers,
        },
        Tasks {
            announcer,
            membership,
            health,
            rules: rules_task,
            _supervisor: supervisor,
            _publisher: publisher,
            _private: private,
        },
    )))
}

/// Waits for a usable gossip keyring, warning while there is none; `false` when `shutdown`
/// came first.
async fn first_keys(
    keys: &mut watch::Receiver<Option<Arc<crate::membership::Keyring>>>,
    secret: &str,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> bool {
    loop {
        if keys.borrow_and_update().is_some() {
            return true;
        }
        tokio::select! {
            changed = keys.changed() => if changed.is_err() { return false },
            () = tokio::time::sleep(Duration::from_secs(10)) => {
                warn!(secret, "no usable gossip key yet (see the warnings above); not gossiping in clear, waiting");
            }
            () = &mut *shutdown => return false,
        }
    }
}

/// Waits until another speaker is alive and every live speaker's interfaces are known: before
/// that this node would elect itself for everything and steal VIPs for a moment on restart.
async fn joined(members: &mut watch::Receiver<Members>) {
    loop {
        {
            let m = members.borrow_and_update();
            let live = m.live();
            let of = m.interfaces_of();
            if live.len() > 1
                && live
                    .iter()
                    .all(|n| of.get(n).is_some_and(|i| !i.is_empty()))
            {
                return;
            }
        }
        if members.changed().await.is_err() {
            return;
        }
    }
}

/// Reads the node's interfaces every `every`; a failed read keeps the last list.
async fn spawn_interface_reader(every: Duration) -> watch::Receiver<Vec<InterfaceView>> {
    let (tx, rx) = watch::channel(read_interfaces().await.unwrap_or_default());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(now) = read_interfaces().await {
                tx.send_if_modified(|old| (*old != now).then(|| *old = now).is_some());
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}

async fn read_interfaces() -> Option<Vec<InterfaceView>> {
    interfaces::local_interfaces()
        .await
        .map_err(|e| warn!(error = %e, "reading the node's interfaces failed"))
        .ok()
}
