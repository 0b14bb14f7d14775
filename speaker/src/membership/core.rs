//! The gossip without I/O: foca plus this node's interface list, driven by the caller with
//! datagrams, timer events and ticks; what to send and when to call back comes out of
//! [`Core::take_outputs`]. Deterministic for a given RNG seed.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, OwnedNotification, PostcardCodec, State, Timer};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tracing::{debug, info, warn};

use super::config::{ConfigError, MembershipConfig};
use super::identity::Id;
use super::info::{self, InfoError, InfoHandler, InfoStore, NodeInfo};
use super::{Member, Members};
use crate::election::InterfaceView;

type Gossip = Foca<Id, PostcardCodec, SmallRng, InfoHandler>;

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `data` to `to` (one datagram).
    Send { to: SocketAddr, data: Vec<u8> },
    /// Give `timer` back to [`Core::handle_timer`] after `after`.
    Schedule { after: Duration, timer: Timer<Id> },
}

/// Why a core cannot be built or take a new interface list.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid gossip configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("encoding this node's interfaces: {0}")]
    Info(#[from] InfoError),
    #[error("gossip: {0}")]
    Foca(#[from] foca::Error),
}

/// One speaker's gossip state.
pub struct Core {
    foca: Gossip,
    runtime: AccumulatingRuntime<Id>,
    store: Arc<Mutex<InfoStore>>,
    config: MembershipConfig,
    version: u64,
    /// The list as gossiped (possibly trimmed, see [`info`]).
    interfaces: Vec<InterfaceView>,
    info: Vec<u8>,
    seed_cursor: usize,
    leaving: bool,
    out: Vec<Output>,
}

impl Core {
    /// A speaker named `node` gossiping from `addr`, whose process started at `started` (µs
    /// since the Unix epoch; see [`Id`]).
    pub fn new(
        node: &str,
        addr: SocketAddr,
        started: u64,
        rng_seed: u64,
        config: MembershipConfig,
        interfaces: &[InterfaceView],
    ) -> Result<Core, CoreError> {
        config.validate()?;
        let store = Arc::new(Mutex::new(InfoStore::default()));
        let handler = InfoHandler {
            local: node.to_string(),
            store: store.clone(),
        };
        let id = Id {
            node: node.to_string(),
            addr,
            started,
            renewed: 0,
        };
        let rng = SmallRng::seed_from_u64(rng_seed);
        let foca = Foca::with_custom_broadcast(id, config.foca(), rng, PostcardCodec, handler);
        let (info, interfaces) = NodeInfo::encode_within(node, started, interfaces, &config)?;
        let mut core = Core {
            foca,
            runtime: AccumulatingRuntime::new(),
            store,
            config,
            version: started,
            interfaces,
            info,
            seed_cursor: 0,
            leaving: false,
            out: Vec::new(),
        };
        core.foca.add_broadcast(&core.info)?;
        Ok(core)
    }

    /// The current identity (it changes when renewed).
    pub fn identity(&self) -> &Id {
        self.foca.identity()
    }

    /// A new interface list: when it differs from the gossiped one, a new version is spread.
    pub fn set_interfaces(&mut self, interfaces: &[InterfaceView]) -> Result<(), CoreError> {
        let node = self.identity().node.clone();
        let version = self.version.saturating_add(1);
        let (bytes, kept) = NodeInfo::encode_within(&node, version, interfaces, &self.config)?;
        if kept.len() < interfaces.len() {
            warn!(node = %node, sent = kept.len(), total = interfaces.len(), "too many interfaces to gossip; left out the least useful");
        }
        if kept == self.interfaces {
            return Ok(());
        }
        (self.version, self.info, self.interfaces) = (version, bytes, kept);
        info!(node = %node, version, interfaces = self.interfaces.len(), "gossiping a new interface list");
        self.spread_info();
        Ok(())
    }

    /// Spreads this node's interface list again (a newcomer, or the periodic refresh).
    pub fn spread_info(&mut self) {
        if self.leaving {
            return;
        }
        if let Err(e) = self.foca.add_broadcast(&self.info) {
            warn!(error = %e, "cannot gossip this node's interfaces");
        }
        let result = self.foca.gossip(&mut self.runtime);
        self.absorb(result);
    }

    /// A datagram from the network. Errors concern that datagram only (junk, our own echo…).
    pub fn handle_data(&mut self, data: &[u8]) -> Result<(), foca::Error> {
        let result = self.foca.handle_data(data, &mut self.runtime);
        self.absorb(Ok(()));
        result
    }

    /// A timer scheduled through [`Output::Schedule`] is due.
    pub fn handle_timer(&mut self, timer: Timer<Id>) {
        let result = self.foca.handle_timer(timer, &mut self.runtime);
        self.absorb(result);
    }

    /// Announces to seeds that are not live members (at most
    /// [`MembershipConfig::max_seeds_per_join`], taken in turn). Call every
    /// [`MembershipConfig::join_interval`].
    pub fn join(&mut self, seeds: &[SocketAddr]) {
        if self.leaving {
            return;
        }
        let own = self.identity().addr;
        let live: BTreeSet<SocketAddr> = self.foca.iter_members().map(|m| m.id().addr).collect();
        let wanted: Vec<SocketAddr> = seeds
            .iter()
            .filter(|s| **s != own && !live.contains(s))
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let count = wanted.len().min(self.config.max_seeds_per_join.get());
        for n in 0..count {
            let seed = wanted[(self.seed_cursor + n) % wanted.len()];
            let result = self.foca.announce(Id::seed(seed), &mut self.runtime);
            self.absorb(result);
        }
        self.seed_cursor = self.seed_cursor.wrapping_add(count);
    }

    /// Leaves the cluster: every live member is told at once that this speaker is down.
    /// The caller sends the outputs, then stops.
    pub fn leave(&mut self) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        // Tell every member, not the three foca picks by default, in one message each.
        let everyone = self.foca.num_members().max(1);
        let mut config = self.config.foca();
        config.num_indirect_probes = NonZeroUsize::new(everyone).unwrap_or(NonZeroUsize::MIN);
        config.max_transmissions = NonZeroU8::MAX;
        if let Err(e) = self.foca.set_config(config) {
            debug!(error = %e, "leave: keeping the configured fan-out");
        }
        let result = self.foca.leave_cluster(&mut self.runtime);
        self.absorb(result);
    }

    /// Number of live members besides this one.
    pub fn live_peers(&self) -> usize {
        self.foca.num_members()
    }

    /// What to send and schedule since the last call.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// The membership as this speaker sees it (itself always alive, with its gossiped list).
    pub fn members(&self) -> Members {
        let me = self.identity();
        let store = info::lock(&self.store);
        let mut members = Members {
            local: me.node.clone(),
            nodes: Default::default(),
        };
        // Per node, a live identity beats a down one, then the newest.
        let mut best: std::collections::BTreeMap<&str, (bool, &Id)> = Default::default();
        for m in self.foca.iter_membership_state() {
            let id = m.id();
            if id.node.is_empty() || id.node == me.node {
                continue;
            }
            let alive = m.state() != State::Down;
            let better = best
                .get(id.node.as_str())
                .is_none_or(|(a, b)| (alive, id.started, id.renewed) > (*a, b.started, b.renewed));
            if better {
                best.insert(&id.node, (alive, id));
            }
        }
        for (node, (alive, id)) in best {
            let interfaces = store
                .lists
                .get(node)
                .map(|(_, l)| l.clone())
                .unwrap_or_default();
            members.nodes.insert(
                node.to_string(),
                Member {
                    addr: id.addr,
                    alive,
                    interfaces,
                },
            );
        }
        members.nodes.insert(
            me.node.clone(),
            Member {
                addr: me.addr,
                alive: true,
                interfaces: self.interfaces.clone(),
            },
        );
        members
    }

    /// Moves what foca produced into `out`, reacting to notifications.
    fn absorb(&mut self, result: Result<(), foca::Error>) {
        if let Err(e) = result {
            debug!(error = %e, "gossip");
        }
        let mut respread = false;
        let mut defunct = false;
        while let Some(n) = self.runtime.to_notify() {
            match n {
                OwnedNotification::MemberUp(id) => {
                    info!(node = %id.node, addr = %id.addr, "speaker up");
                    respread = true;
                }
                OwnedNotification::MemberDown(id) => {
                    info!(node = %id.node, addr = %id.addr, "speaker down");
                }
                OwnedNotification::Rename(old, new) => {
                    info!(node = %new.node, addr = %new.addr, previous = %old.node, "speaker restarted or renewed");
                    respread = true;
                }
                OwnedNotification::Rejoin(id) => {
                    info!(node = %id.node, addr = %id.addr, renewed = id.renewed, "this speaker was declared down; rejoined with a renewed identity");
                }
                OwnedNotification::Active => {
                    info!(node = %self.foca.identity().node, "joined the gossip")
                }
                OwnedNotification::Idle => {
                    info!(node = %self.foca.identity().node, "no live peer in the gossip")
                }
                OwnedNotification::Defunct => defunct = !self.leaving,
                #[allow(unreachable_patterns)] // more variants with foca's unstable-notifications
                _ => {}
            }
        }
        while let Some((to, data)) = self.runtime.to_send() {
            self.out.push(Output::Send {
                to: to.addr,
                data: data.to_vec(),
            });
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.out.push(Output::Schedule { after, timer });
        }
        if defunct {
            self.restart_identity();
        }
        if respread {
            self.spread_info();
        }
    }

    /// Declared down and out of renewals: start over as a newer process would.
    fn restart_identity(&mut self) {
        let old = self.identity().clone();
        let new = Id {
            started: old.started.saturating_add(1),
            renewed: 0,
            ..old
        };
        warn!(node = %new.node, addr = %new.addr, "declared down; taking a new identity");
        let result = self.foca.change_identity(new, &mut self.runtime);
        self.absorb(result);
    }
}
