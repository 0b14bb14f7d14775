//! The speaker's I/O shell: watches → [`nodestate::desired`] → announcer, rules, health API
//! and `ServiceAnnouncement`s.
//!
//! One loop computes this node's whole desired state from a snapshot (Kubernetes objects,
//! gossip membership, local interfaces) whenever any input changes, and hands each part to the
//! task that applies it through a `watch` channel: the announcer (ARP/NDP), the dataplane task
//! (nft), the publisher (API writes) and the health API. No consumer can delay another: a
//! takeover is answered on the wire as soon as gossip reports a peer down, whatever the
//! apiserver or nft are doing.
//!
//! On SIGTERM the speaker hands over: it leaves the gossip (peers mark it down at once and the
//! successors announce), keeps answering for `--handover-wait`, then goes quiet. The rules in
//! table `inet ferrolb` are left in place, like kube-proxy's, so connections already on this
//! node keep working while it restarts.

pub mod cli;
mod events;
mod metrics;
mod node;
mod publish;
mod rules;
mod watches;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::announcer::{self, Announcer, AnnouncerOptions};
use crate::dataplane::{self, Applier, Mode, Nft};
use crate::election::{InterfaceView, ServiceKey};
use crate::health::{HealthConfig, HealthServer, HealthSnapshot};
use crate::interfaces;
use crate::membership::{Members, Membership, MembershipConfig, MembershipOptions};
use crate::nodestate::{self, Local, NodeDesired};
use crate::ruleset::{self, Ruleset};

pub use cli::Args;
pub use metrics::Metrics;
pub use publish::{FIELD_MANAGER, Since, compose};

/// Why the speaker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No Kubernetes client configuration.
    #[error("cannot build a Kubernetes client (in-cluster config or KUBECONFIG): {0}")]
    Client(#[source] kube::Error),
    /// The health API's port.
    #[error(transparent)]
    Health(#[from] crate::health::HealthError),
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
    let client = Client::try_default().await.map_err(StartError::Client)?;
    let changed = Arc::new(Notify::new());
    let stores = watches::Stores::start(&client, changed.clone());
    let (metrics, registry) = Metrics::new();
    let metrics = Arc::new(metrics);

    let nft = Nft::new(None);
    let kube_proxy = match args.dataplane {
        Mode::Auto => dataplane::detect_kube_proxy(&nft).await,
        _ => dataplane::KubeProxy::Absent,
    };
    let decision = dataplane::resolve(args.dataplane, &kube_proxy);
    info!(enabled = decision.enabled, reason = %decision.reason, "dataplane");

    let (health_tx, health_rx) = watch::channel(Arc::new(HealthSnapshot::default()));
    let mut health_config = HealthConfig::new(args.health_addr);
    if decision.enabled {
        health_config.node_port_ip = Some(std::net::Ipv4Addr::UNSPECIFIED.into());
    }
    let _health = HealthServer::spawn(health_config, health_rx, Arc::new(registry)).await?;

    let (announce_tx, announce_rx) = watch::channel(announcer::Desired::new());
    let announcer_options = AnnouncerOptions {
        reannounce: (!args.reannounce.is_zero()).then_some(args.reannounce),
        ..AnnouncerOptions::default()
    };
    let announcer = Announcer::spawn(announce_rx, announcer_options);

    let (rules_tx, rules_rx) = watch::channel(Arc::new(Ruleset::default()));
    let (rules_status_tx, mut rules_status) = watch::channel(rules::RulesStatus::default());
    let _rules_task = decision.enabled.then(|| {
        rules::spawn(
            Applier::new(None),
            rules_rx,
            rules_status_tx,
            metrics.clone(),
        )
    });

    let mut ifaces = spawn_interface_reader(args.interface_interval).await;
    let mut shutdown = Box::pin(ferrolb_runtime::shutdown_signal());

    tokio::select! {
        () = stores.synced() => {}
        () = &mut shutdown => return Ok(()),
    }
    info!(node = %args.node_name, "watches synced");

    let gossip_ip = loop {
        if let Some(ip) = args
            .gossip_addr
            .or_else(|| node::gossip_ip(&stores.snapshot().nodes, &args.node_name))
        {
            break ip;
        }
        warn!(node = %args.node_name, "this Node has no InternalIP yet (or does not exist); waiting to start the gossip");
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = &mut shutdown => return Ok(()),
        }
    };
    let bind = SocketAddr::new(gossip_ip, args.gossip_port);
    let (seeds_tx, seeds_rx) = watch::channel(node::seeds(
        &stores.snapshot().nodes,
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
    let _publisher = publish::spawn(client.clone(), publish_rx);

    let takeover_tx = events::spawn(client.clone(), args.node_name.clone());
    let mut since = Since::default();
    let mut last_desired: Option<NodeDesired> = None;
    loop {
        let snapshot = stores.snapshot();
        let members_now: Members = members.borrow_and_update().clone();
        let local = Local {
            node: args.node_name.clone(),
            interfaces: ifaces.borrow_and_update().clone(),
            live_speakers: members_now.live(),
            interfaces_of: members_now.interfaces_of(),
        };
        let desired = nodestate::desired(&snapshot, &local);
        metrics.computations.inc();
        if last_desired.as_ref().map(|d| &d.warnings) != Some(&desired.warnings) {
            for w in &desired.warnings {
                warn!(node = %args.node_name, warning = %w, "input skipped");
            }
        }
        announce_tx.send_if_modified(|d| {
            if *d == desired.announce {
                return false;
            }
            log_announce_changes(d, &desired.announce, &args.node_name);
            *d = desired.announce.clone();
            true
        });
        if let Some(last) = &last_desired {
            for t in events::takeovers(&last.election, &desired.election, &args.node_name) {
                let _ = takeover_tx.try_send((t, snapshot.services.clone()));
            }
        }
        metrics
            .announced
            .set(desired.announce.values().map(|s| s.len() as i64).sum());
        metrics.silent.set(desired.silent.len() as i64);
        metrics.live_speakers.set(local.live_speakers.len() as i64);
        metrics.announcer(announcer.stats().snapshot());

        if decision.enabled {
            let ruleset = ruleset::build(&desired.ruleset_input);
            rules_tx.send_if_modified(|r| {
                if **r == ruleset {
                    return false;
                }
                *r = Arc::new(ruleset);
                true
            });
        }

        // Whole seconds: what the API keeps, so the watched objects compare equal.
        let now = k8s_openapi::jiff::Timestamp::from_second(
            k8s_openapi::jiff::Timestamp::now().as_second(),
        )
        .map(Time)
        .unwrap_or_else(|_| Time(k8s_openapi::jiff::Timestamp::now()));
        since.update(&desired.election, now);
        let statuses = compose(
            &desired.announcements,
            &desired.election,
            &args.node_name,
            &local.live_speakers,
            &since,
        );
        let described: BTreeSet<ServiceKey> = desired
            .announcements
            .iter()
            .map(|p| p.service.clone())
            .collect();
        let sweeper = local.live_speakers.iter().next() == Some(&args.node_name);
        publish_tx.send_replace(Arc::new(publish::Batch {
            statuses,
            described,
            sweeper,
            services: snapshot.services.clone(),
            current: stores.announcements(),
        }));

        let status = rules_status.borrow_and_update().clone();
        let (node_deleting, node_excluded) = node::eligibility(&snapshot.nodes, &args.node_name);
        let mut debug = desired.debug_json();
        if let Some(obj) = debug.as_object_mut() {
            obj.insert(
                "dataplane".into(),
                serde_json::json!({"enabled": decision.enabled, "reason": decision.reason}),
            );
            obj.insert("gossip".into(), members_now.debug_json());
        }
        health_tx.send_replace(Arc::new(HealthSnapshot {
            synced: true,
            rules: status.state,
            last_updated: status.last_updated,
            node_deleting,
            node_excluded,
            services: desired.health_services.clone(),
            debug_state: debug,
        }));
        seeds_tx.send_if_modified(|s| {
            let next = node::seeds(&snapshot.nodes, &args.node_name, args.gossip_port);
            (*s != next).then(|| *s = next).is_some()
        });
        last_desired = Some(desired);

        tokio::select! {
            () = changed.notified() => {}
            _ = members.changed() => {}
            _ = ifaces.changed() => {}
            _ = rules_status.changed() => {}
            () = &mut shutdown => break,
        }
    }

    info!(node = %args.node_name, wait_ms = args.handover_wait.as_millis() as u64, "SIGTERM: leaving the gossip so that other speakers take over");
    membership.leave().await;
    tokio::time::sleep(args.handover_wait).await;
    announce_tx.send_replace(announcer::Desired::new());
    announcer.shutdown().await;
    info!(node = %args.node_name, "stopped; rules in table inet ferrolb left in place");
    Ok(())
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

fn log_announce_changes(old: &announcer::Desired, new: &announcer::Desired, node: &str) {
    let flat = |d: &announcer::Desired| -> BTreeSet<(std::net::IpAddr, String)> {
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
