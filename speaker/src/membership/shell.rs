//! The gossip on a real UDP socket: one tokio task owns the socket and the [`Core`], delivers
//! datagrams and foca's timers, announces to seeds every `join_interval`, re-gossips the
//! interface list when it changes and publishes [`Members`] when they change.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foca::Timer;
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::Members;
use super::config::MembershipConfig;
use super::core::{Core, CoreError, Output};
use super::identity::Id;
use crate::election::InterfaceView;

/// Receive buffer: larger than any accepted datagram, so oversized ones are seen and refused.
const RECV_BUFFER: usize = 65536;
/// How long [`MembershipHandle::leave`] waits for the task to flush the leave.
const LEAVE_WAIT: Duration = Duration::from_secs(1);

/// What a speaker's gossip needs.
#[derive(Debug)]
pub struct MembershipOptions {
    /// This node's name.
    pub node: String,
    /// The gossip address: this node's IP (not `0.0.0.0`/`::`, it is also the address peers
    /// reach it at) and the gossip port.
    pub bind: SocketAddr,
    /// Other speakers' gossip addresses (other nodes' InternalIPs and the gossip port).
    pub seeds_rx: watch::Receiver<Vec<SocketAddr>>,
    /// This node's interfaces.
    pub interfaces_rx: watch::Receiver<Vec<InterfaceView>>,
}

/// Why the gossip cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("gossip address {0} is unspecified; peers must be able to reach the address bound")]
    UnspecifiedBind(SocketAddr),
    #[error("binding the gossip socket {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Starts a speaker's gossip.
pub struct Membership;

impl Membership {
    /// Binds the socket and starts the gossip task on the current tokio runtime.
    pub async fn spawn(
        config: MembershipConfig,
        options: MembershipOptions,
    ) -> Result<MembershipHandle, MembershipError> {
        let MembershipOptions {
            node,
            bind,
            mut seeds_rx,
            mut interfaces_rx,
        } = options;
        if bind.ip().is_unspecified() {
            return Err(MembershipError::UnspecifiedBind(bind));
        }
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|source| MembershipError::Bind { addr: bind, source })?;
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let interfaces = interfaces_rx.borrow_and_update().clone();
        let core = Core::new(
            &node,
            bind,
            started,
            rand::random(),
            config.clone(),
            &interfaces,
        )?;
        let identity = core.identity().clone();
        let (members_tx, members_rx) = watch::channel(core.members());
        let (leave_tx, leave_rx) = oneshot::channel();
        seeds_rx.mark_changed();
        let task = tokio::spawn(
            Driver {
                core,
                socket,
                config,
                timers: BTreeMap::new(),
                timer_seq: 0,
                members_tx,
            }
            .run(seeds_rx, interfaces_rx, leave_rx),
        );
        info!(node = %identity.node, addr = %identity.addr, started = identity.started, "gossip started");
        Ok(MembershipHandle {
            members: members_rx,
            identity,
            leave_tx: Some(leave_tx),
            task,
        })
    }
}

/// A running gossip. Dropping it stops the gossip without telling anyone (peers then notice
/// the silence as they would a crash); [`MembershipHandle::leave`] is the graceful way.
pub struct MembershipHandle {
    members: watch::Receiver<Members>,
    identity: Id,
    leave_tx: Option<oneshot::Sender<oneshot::Sender<()>>>,
    task: JoinHandle<()>,
}

impl MembershipHandle {
    /// The membership, updated when it changes.
    pub fn members(&self) -> watch::Receiver<Members> {
        self.members.clone()
    }

    /// This speaker's identity at start.
    pub fn identity(&self) -> &Id {
        &self.identity
    }

    /// Leaves the gossip: every live peer is told this speaker is down (they mark it down as
    /// soon as the datagram arrives), then the task stops.
    pub async fn leave(mut self) {
        let Some(leave_tx) = self.leave_tx.take() else {
            return;
        };
        let (done_tx, done_rx) = oneshot::channel();
        if leave_tx.send(done_tx).is_ok() {
            let _ = tokio::time::timeout(LEAVE_WAIT, done_rx).await;
        }
    }

    /// Stops the gossip at once without telling peers (as a crash would).
    pub fn abort(self) {
        self.task.abort();
    }
}

impl Drop for MembershipHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Driver {
    core: Core,
    socket: UdpSocket,
    config: MembershipConfig,
    timers: BTreeMap<(Instant, u64), Timer<Id>>,
    timer_seq: u64,
    members_tx: watch::Sender<Members>,
}

impl Driver {
    async fn run(
        mut self,
        mut seeds_rx: watch::Receiver<Vec<SocketAddr>>,
        mut interfaces_rx: watch::Receiver<Vec<InterfaceView>>,
        mut leave_rx: oneshot::Receiver<oneshot::Sender<()>>,
    ) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut join = tokio::time::interval(self.config.join_interval);
        join.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let refresh_at = Instant::now() + self.config.info_refresh;
        let mut refresh = tokio::time::interval_at(refresh_at, self.config.info_refresh);
        refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut seeds_open, mut interfaces_open) = (true, true);
        let mut seeds: Vec<SocketAddr> = Vec::new();
        self.flush().await;
        loop {
            let next_timer = self.timers.keys().next().map(|(at, _)| *at);
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        if let Err(e) = self.core.handle_data(&buf[..len]) {
                            debug!(%from, error = %e, "gossip datagram refused");
                        }
                    }
                    Err(e) => warn!(error = %e, "gossip socket receive"),
                },
                () = sleep_until(next_timer) => self.due_timers(),
                _ = join.tick() => self.core.join(&seeds),
                _ = refresh.tick() => self.core.spread_info(),
                changed = seeds_rx.changed(), if seeds_open => match changed {
                    Ok(()) => seeds = seeds_rx.borrow_and_update().clone(),
                    Err(_) => seeds_open = false,
                },
                changed = interfaces_rx.changed(), if interfaces_open => match changed {
                    Ok(()) => {
                        let now = interfaces_rx.borrow_and_update().clone();
                        if let Err(e) = self.core.set_interfaces(&now) {
                            warn!(error = %e, "cannot gossip the new interface list");
                        }
                    }
                    Err(_) => interfaces_open = false,
                },
                done = &mut leave_rx => {
                    // A handle dropped without `leave` stops the task silently (see Drop).
                    let Ok(done) = done else { return };
                    self.core.leave();
                    self.flush().await;
                    self.publish();
                    info!(node = %self.core.identity().node, "left the gossip");
                    let _ = done.send(());
                    return;
                }
            }
            self.flush().await;
            self.publish();
        }
    }

    fn due_timers(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.core.handle_timer(timer);
        }
    }

    async fn flush(&mut self) {
        for output in self.core.take_outputs() {
            match output {
                Output::Send { to, data } => {
                    if let Err(e) = self.socket.send_to(&data, to).await {
                        debug!(%to, error = %e, "gossip send");
                    }
                }
                Output::Schedule { after, timer } => {
                    self.timer_seq += 1;
                    self.timers
                        .insert((Instant::now() + after, self.timer_seq), timer);
                }
            }
        }
    }

    fn publish(&self) {
        let now = self.core.members();
        self.members_tx
            .send_if_modified(|old| (*old != now).then(|| *old = now).is_some());
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
