//! The gossip on a real UDP socket: one tokio task owns the socket and the [`Core`], delivers
//! datagrams and foca's timers, announces to seeds every `join_interval`, re-gossips the
//! interface list when it changes and publishes [`Members`] when they change.
//!
//! Every datagram is sealed with the current [`Keyring`]'s primary key on the way out and
//! opened on the way in ([`seal`](super::seal)); one that fails is dropped and counted in
//! [`GossipDrops`] by reason, and never reaches foca.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foca::Timer;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::Members;
use super::config::MembershipConfig;
use super::core::{Core, CoreError, Output};
use super::identity::Id;
use super::keyring::Keyring;
use super::seal::{self, Refused, Replays};
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
    /// The gossip keys (reloaded when they change; the current primary seals what is sent).
    /// While `None` nothing is sent and everything received is dropped: never in clear.
    pub keys_rx: watch::Receiver<Option<Arc<Keyring>>>,
    /// Where refused datagrams are counted.
    pub dropped: GossipDrops,
}

/// Datagrams refused by reason (`malformed`, `unknown_key`, `bad_tag`, `stale`, `replayed`;
/// [`Refused::label`]).
pub type GossipDrops = Family<DropLabels, Counter>;

/// The label of [`GossipDrops`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// Why: [`Refused::label`].
    pub reason: String,
}

impl DropLabels {
    /// The label of `why`.
    pub fn of(why: Refused) -> DropLabels {
        DropLabels {
            reason: why.label().to_string(),
        }
    }
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
            keys_rx,
            dropped,
        } = options;
        if bind.ip().is_unspecified() {
            return Err(MembershipError::UnspecifiedBind(bind));
        }
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|source| MembershipError::Bind { addr: bind, source })?;
        let started = now_since_epoch().map_or(0, |d| saturating_u64(d.as_micros()));
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
                keys_rx,
                dropped,
                replays: Replays::default(),
                random: SystemRandom::new(),
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
    keys_rx: watch::Receiver<Option<Arc<Keyring>>>,
    dropped: GossipDrops,
    replays: Replays,
    random: SystemRandom,
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
                    Ok((len, from)) => self.receive(&buf[..len], from),
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

    /// Opens a datagram and hands it to foca; a refused one is counted and dropped.
    fn receive(&mut self, datagram: &[u8], from: SocketAddr) {
        let now = now_ms();
        let keys = self.keys_rx.borrow().clone();
        let opened = keys
            .ok_or(Refused::UnknownKey)
            .and_then(|keys| seal::open(&keys, datagram, now))
            .and_then(|o| self.replays.check(&o, now).map(|()| o));
        match opened {
            Ok(opened) => {
                if let Err(e) = self.core.handle_data(&opened.payload) {
                    debug!(%from, error = %e, "gossip datagram refused by foca");
                }
            }
            Err(why) => {
                self.dropped.get_or_create(&DropLabels::of(why)).inc();
                debug!(%from, len = datagram.len(), reason = why.label(), "gossip datagram dropped: {why}");
            }
        }
    }

    /// `data` sealed with the primary key (`None` without keys, or, logged, when no nonce
    /// could be drawn).
    fn seal(&self, data: &[u8]) -> Option<Vec<u8>> {
        let keys = self.keys_rx.borrow().clone()?;
        let mut nonce = [0u8; ring::aead::NONCE_LEN];
        if self.random.fill(&mut nonce).is_err() {
            warn!("no random nonce for a gossip datagram; not sent");
            return None;
        }
        seal::seal(&keys, data, now_ms(), nonce)
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
                    let Some(sealed) = self.seal(&data) else {
                        continue;
                    };
                    if let Err(e) = self.socket.send_to(&sealed, to).await {
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

fn now_since_epoch() -> Option<Duration> {
    SystemTime::now().duration_since(UNIX_EPOCH).ok()
}

fn saturating_u64(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The wall clock in ms since the Unix epoch (the sealed datagrams' send time).
fn now_ms() -> u64 {
    now_since_epoch().map_or(0, |d| saturating_u64(d.as_millis()))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
