//! Several [`Core`]s on a simulated network with virtual time: datagrams arrive after
//! `LATENCY`, timers and join/refresh ticks fire in time order, links can be cut.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use foca::Timer;

use super::super::core::{Core, Output};
use super::super::{Id, Members, MembershipConfig};
use crate::election::InterfaceView;

pub const LATENCY: Duration = Duration::from_millis(1);
/// Virtual wall clock at time zero, µs since the epoch.
const EPOCH_US: u64 = 1_700_000_000_000_000;

enum Event {
    Deliver {
        from: usize,
        to: SocketAddr,
        data: Vec<u8>,
    },
    Timer {
        node: usize,
        generation: u32,
        timer: Timer<Id>,
    },
    Join {
        node: usize,
        generation: u32,
    },
    Refresh {
        node: usize,
        generation: u32,
    },
}

struct Slot {
    name: String,
    addr: SocketAddr,
    core: Option<Core>,
    generation: u32,
}

pub struct Sim {
    pub now: Duration,
    pub config: MembershipConfig,
    slots: Vec<Slot>,
    queue: BTreeMap<(Duration, u64), Event>,
    seq: u64,
    /// `(from, to)` pairs whose datagrams are dropped.
    cut: BTreeSet<(usize, usize)>,
    seed: u64,
}

impl Sim {
    pub fn new(config: MembershipConfig, seed: u64) -> Sim {
        Sim {
            now: Duration::ZERO,
            config,
            slots: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            seed,
        }
    }

    /// `n` speakers `node-0`… started together.
    pub fn cluster(config: MembershipConfig, seed: u64, n: usize) -> Sim {
        let mut sim = Sim::new(config, seed);
        for i in 0..n {
            sim.add(&format!("node-{i}"), &[iface(&format!("eth{i}"))]);
        }
        sim
    }

    pub fn addr(i: usize) -> SocketAddr {
        let last = u8::try_from(10 + i).unwrap();
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, last)), 7946)
    }

    pub fn add(&mut self, name: &str, interfaces: &[InterfaceView]) -> usize {
        let i = self.slots.len();
        self.slots.push(Slot {
            name: name.into(),
            addr: Sim::addr(i),
            core: None,
            generation: 0,
        });
        self.start(i, interfaces);
        i
    }

    /// (Re)starts speaker `i` as a new process.
    pub fn start(&mut self, i: usize, interfaces: &[InterfaceView]) {
        let slot = &mut self.slots[i];
        slot.generation += 1;
        let started = EPOCH_US + u64::try_from(self.now.as_micros()).unwrap();
        let seed = self.seed ^ ((i as u64) << 32) ^ u64::from(slot.generation);
        let core = Core::new(
            &slot.name,
            slot.addr,
            started,
            seed,
            self.config.clone(),
            interfaces,
        );
        slot.core = Some(core.unwrap());
        let generation = slot.generation;
        self.push(
            self.now,
            Event::Join {
                node: i,
                generation,
            },
        );
        let refresh = self.now + self.config.info_refresh;
        self.push(
            refresh,
            Event::Refresh {
                node: i,
                generation,
            },
        );
        self.pump(i);
    }

    /// Stops speaker `i` without a word (crash).
    pub fn kill(&mut self, i: usize) {
        self.slots[i].core = None;
    }

    /// Speaker `i` leaves gracefully, then stops.
    pub fn leave(&mut self, i: usize) {
        self.core(i).leave();
        self.pump(i);
        self.slots[i].core = None;
    }

    pub fn core(&mut self, i: usize) -> &mut Core {
        self.slots[i].core.as_mut().expect("running")
    }

    /// Drops every datagram between the two groups, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                self.cut.insert((y, x));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn members(&self, i: usize) -> Members {
        self.slots[i].core.as_ref().expect("running").members()
    }

    /// Whether speaker `i` sees `node` alive.
    pub fn sees_alive(&self, i: usize, node: usize) -> bool {
        self.members(i).is_alive(&self.slots[node].name)
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(((at, _), _)) = self.queue.first_key_value() {
            if *at > end {
                break;
            }
            self.step();
        }
        self.now = end;
    }

    /// Runs until `cond` holds (checked after every event); the time it took.
    pub fn run_until(
        &mut self,
        max: Duration,
        mut cond: impl FnMut(&Sim) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + max;
        loop {
            if cond(self) {
                return Some(self.now - start);
            }
            match self.queue.first_key_value() {
                Some(((at, _), _)) if *at <= end => self.step(),
                _ => return None,
            }
        }
    }

    fn step(&mut self) {
        let Some(((at, _), event)) = self.queue.pop_first() else {
            return;
        };
        self.now = at;
        match event {
            Event::Deliver { from, to, data } => {
                let Some(i) = self.slots.iter().position(|s| s.addr == to) else {
                    return;
                };
                if self.cut.contains(&(from, i)) {
                    return;
                }
                if let Some(core) = self.slots[i].core.as_mut() {
                    let _ = core.handle_data(&data);
                    self.pump(i);
                }
            }
            Event::Timer {
                node,
                generation,
                timer,
            } => {
                if let Some(core) = self.live(node, generation) {
                    core.handle_timer(timer);
                    self.pump(node);
                }
            }
            Event::Join { node, generation } => {
                let seeds: Vec<SocketAddr> = self.slots.iter().map(|s| s.addr).collect();
                if let Some(core) = self.live(node, generation) {
                    core.join(&seeds);
                    self.pump(node);
                    let next = self.now + self.config.join_interval;
                    self.push(next, Event::Join { node, generation });
                }
            }
            Event::Refresh { node, generation } => {
                if let Some(core) = self.live(node, generation) {
                    core.spread_info();
                    self.pump(node);
                    let next = self.now + self.config.info_refresh;
                    self.push(next, Event::Refresh { node, generation });
                }
            }
        }
    }

    fn live(&mut self, node: usize, generation: u32) -> Option<&mut Core> {
        let slot = &mut self.slots[node];
        (slot.generation == generation)
            .then_some(slot.core.as_mut())
            .flatten()
    }

    /// Queues what speaker `i` produced.
    fn pump(&mut self, i: usize) {
        let generation = self.slots[i].generation;
        let Some(core) = self.slots[i].core.as_mut() else {
            return;
        };
        for output in core.take_outputs() {
            match output {
                Output::Send { to, data } => {
                    self.push(self.now + LATENCY, Event::Deliver { from: i, to, data });
                }
                Output::Schedule { after, timer } => {
                    let event = Event::Timer {
                        node: i,
                        generation,
                        timer,
                    };
                    self.push(self.now + after, event);
                }
            }
        }
    }

    fn push(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }
}

/// An up Ethernet interface `name` on 198.51.100.0/24.
pub fn iface(name: &str) -> InterfaceView {
    InterfaceView::ethernet(name, vec!["198.51.100.10/24".parse().unwrap()])
}
