//! Three speakers' gossip on real UDP sockets, in a network namespace the test creates (a veth
//! holding 198.51.100.11–13): join, interface lists, a crash (task aborted, no
//! leave), a restart under the same name, a graceful leave. Prints the measured times. Then the
//! sealing: a speaker with another key and datagrams in clear are dropped and counted, and a key
//! rotation in three steps loses no member.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_speaker::election::InterfaceView;
use ferrolb_speaker::membership::seal::Refused;
use ferrolb_speaker::membership::{
    DropLabels, GossipDrops, Keyring, Members, Membership, MembershipConfig, MembershipHandle,
    MembershipOptions,
};
use ferrolb_testkit::Netns;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(5);

fn addr(i: usize) -> SocketAddr {
    format!("198.51.100.{}:7946", 11 + i).parse().unwrap()
}

fn iface(name: &str) -> InterfaceView {
    InterfaceView::ethernet(name, vec!["198.51.100.0/24".parse().unwrap()])
}

struct Speaker {
    handle: MembershipHandle,
    members: watch::Receiver<Members>,
    interfaces: watch::Sender<Vec<InterfaceView>>,
    keys: watch::Sender<Option<Arc<Keyring>>>,
    dropped: GossipDrops,
}

impl Speaker {
    fn dropped(&self, why: Refused) -> u64 {
        self.dropped.get_or_create(&DropLabels::of(why)).get()
    }
}

/// The keyring of Secret items `(name, key byte)`, `primary` naming the sending one.
fn ring(primary: &str, keys: &[(&str, u8)]) -> Arc<Keyring> {
    let mut items: std::collections::BTreeMap<String, Vec<u8>> = keys
        .iter()
        .map(|(name, byte)| (name.to_string(), vec![*byte; 32]))
        .collect();
    items.insert("primary".into(), primary.as_bytes().to_vec());
    Arc::new(Keyring::from_items(&items).unwrap())
}

async fn start(i: usize, seeds: &watch::Receiver<Vec<SocketAddr>>) -> Speaker {
    start_with(i, seeds, ring("key-1", &[("key-1", 1)])).await
}

async fn start_with(
    i: usize,
    seeds: &watch::Receiver<Vec<SocketAddr>>,
    keys: Arc<Keyring>,
) -> Speaker {
    let (interfaces, interfaces_rx) = watch::channel(vec![iface(&format!("eth{i}"))]);
    let (keys, keys_rx) = watch::channel(Some(keys));
    let dropped = GossipDrops::default();
    let options = MembershipOptions {
        node: format!("node-{i}"),
        bind: addr(i),
        seeds_rx: seeds.clone(),
        interfaces_rx,
        keys_rx,
        dropped: dropped.clone(),
    };
    let handle = Membership::spawn(MembershipConfig::default(), options)
        .await
        .expect("gossip starts");
    let members = handle.members();
    Speaker {
        handle,
        members,
        interfaces,
        keys,
        dropped,
    }
}

/// Waits until `cond` holds for every watcher (checked at each change); the time it took.
async fn wait(
    what: &str,
    watchers: &[&watch::Receiver<Members>],
    cond: impl Fn(&Members) -> bool,
) -> Duration {
    let start = Instant::now();
    let changed = Arc::new(Notify::new());
    let forwarders: Vec<_> = watchers
        .iter()
        .map(|w| {
            let (mut rx, changed) = ((*w).clone(), changed.clone());
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    changed.notify_one();
                }
            })
        })
        .collect();
    let deadline = start + DEADLINE;
    while !watchers.iter().all(|w| cond(&w.borrow())) {
        let woke = tokio::time::timeout_at(deadline, changed.notified()).await;
        assert!(woke.is_ok(), "timed out waiting for {what}");
    }
    let took = start.elapsed();
    forwarders.iter().for_each(|f| f.abort());
    took
}

fn everyone_alive(m: &Members) -> bool {
    (0..3).all(|i| m.is_alive(&format!("node-{i}")))
}

/// A namespace with the three speakers' addresses (and 198.51.100.100 for a stranger).
fn gossip_ns() -> Netns {
    ferrolb_testkit::needs(&["ip"]);
    let ns = Netns::new("mem").unwrap();
    ns.ip_line("link add gossip0 type veth peer name gossip1")
        .unwrap();
    for i in 0..3 {
        ns.ip_line(&format!("addr add {}/24 dev gossip0", addr(i).ip()))
            .unwrap();
    }
    ns.ip_line("addr add 198.51.100.100/24 dev gossip0")
        .unwrap();
    ns.ip_line("link set gossip0 up").unwrap();
    ns.ip_line("link set gossip1 up").unwrap();
    ns
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn gossip_on_real_sockets() {
    let ns = gossip_ns();
    ns.block_on(|| async {
        let (_seeds_tx, seeds) = watch::channel((0..3).map(addr).collect::<Vec<_>>());
        let mut s = Vec::new();
        for i in 0..3 {
            s.push(start(i, &seeds).await);
        }

        let took = wait("all alive", &[&s[0].members, &s[1].members, &s[2].members], everyone_alive).await;
        println!("joined: all three see all alive after {took:?}");
        let took = wait("interface lists", &[&s[0].members, &s[1].members, &s[2].members], |m| {
            let of = m.interfaces_of();
            (0..3).all(|i| of.get(&format!("node-{i}")) == Some(&vec![iface(&format!("eth{i}"))]))
        })
        .await;
        println!("interface lists everywhere after {took:?}");

        // A new interface list on node-0 reaches the others.
        let new = vec![iface("bond0"), iface("eth0")];
        s[0].interfaces.send_replace(new.clone());
        let took = wait("new list", &[&s[1].members, &s[2].members], |m| {
            m.interfaces_of().get("node-0") == Some(&new)
        })
        .await;
        println!("changed interface list spread in {took:?}");

        // Crash: node-2's task stops without a word.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let dead = s.pop().unwrap();
        dead.handle.abort();
        let took = wait("node-2 down after the crash", &[&s[0].members, &s[1].members], |m| {
            !m.is_alive("node-2") && m.is_alive("node-0") && m.is_alive("node-1")
        })
        .await;
        println!("CRASH: node-2 seen down by both others after {took:?}");

        // Restart under the same name and address.
        let start_at = Instant::now();
        s.push(start(2, &seeds).await);
        wait("node-2 alive again", &[&s[0].members, &s[1].members, &s[2].members], everyone_alive).await;
        println!("RESTART: node-2 alive everywhere {:?} after starting again", start_at.elapsed());
        let took = wait("restarted list", &[&s[0].members, &s[1].members], |m| {
            m.interfaces_of().get("node-2") == Some(&vec![iface("eth2")])
        })
        .await;
        println!("restarted node's list everywhere after {took:?}");

        // Graceful leave.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let leaving = s.pop().unwrap();
        let t0 = Instant::now();
        leaving.handle.leave().await;
        let took = wait("node-2 down after leaving", &[&s[0].members, &s[1].members], |m| {
            !m.is_alive("node-2")
        })
        .await;
        let total = t0.elapsed();
        println!("LEAVE: node-2 seen down by both others {total:?} after leave() was called ({took:?} after it returned)");
        assert!(total < Duration::from_millis(100), "leave took {total:?}");

        // The survivors stay alive to each other.
        tokio::time::sleep(Duration::from_secs(1)).await;
        for w in [&s[0].members, &s[1].members] {
            let m = w.borrow();
            assert!(m.is_alive("node-0") && m.is_alive("node-1") && !m.is_alive("node-2"));
        }
    })
    .unwrap();
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn another_key_and_clear_text_are_dropped_and_counted() {
    let ns = gossip_ns();
    ns.block_on(|| async {
        let (_seeds_tx, seeds) = watch::channel((0..3).map(addr).collect::<Vec<_>>());
        let a = start(0, &seeds).await;
        let b = start(1, &seeds).await;
        let stranger = start_with(2, &seeds, ring("key-1", &[("key-1", 9)])).await;
        wait("node-0 and node-1 alive", &[&a.members, &b.members], |m| {
            m.is_alive("node-0") && m.is_alive("node-1")
        })
        .await;
        // Datagrams in clear (junk, and the stranger's keyless twin would be the same) too.
        let sock = tokio::net::UdpSocket::bind("198.51.100.100:0")
            .await
            .unwrap();
        sock.send_to(b"\x00not a sealed datagram", addr(0))
            .await
            .unwrap();
        // The stranger keeps announcing (join every second): two rounds.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        for (who, s) in [("node-0", &a), ("node-1", &b)] {
            let m = s.members.borrow();
            assert!(
                !m.nodes.contains_key("node-2"),
                "{who} let the stranger in: {m:?}"
            );
            assert!(
                s.dropped(Refused::UnknownKey) > 0,
                "{who} counted no unknown key"
            );
        }
        assert!(
            a.dropped(Refused::Malformed) > 0,
            "the datagram in clear was not counted"
        );
        let m = stranger.members.borrow();
        assert!(!m.is_alive("node-0") && !m.is_alive("node-1"), "{m:?}");
    })
    .unwrap();
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
)]
fn a_rotation_in_three_steps_loses_no_member() {
    let ns = gossip_ns();
    ns.block_on(|| async {
        let (_seeds_tx, seeds) = watch::channel((0..3).map(addr).collect::<Vec<_>>());
        let mut s = Vec::new();
        for i in 0..3 {
            s.push(start(i, &seeds).await);
        }
        let watchers = [&s[0].members, &s[1].members, &s[2].members];
        wait("all alive", &watchers, everyone_alive).await;
        // Any moment one speaker sees another down fails the test.
        let lost = Arc::new(std::sync::Mutex::new(Vec::new()));
        let guards: Vec<_> = watchers
            .iter()
            .map(|w| {
                let (mut rx, lost) = ((*w).clone(), lost.clone());
                tokio::spawn(async move {
                    while rx.changed().await.is_ok() {
                        let m = rx.borrow_and_update().clone();
                        if !everyone_alive(&m) {
                            lost.lock().unwrap().push(m);
                        }
                    }
                })
            })
            .collect();
        let steps = [
            ("add key-2", ring("key-1", &[("key-1", 1), ("key-2", 2)])),
            (
                "make key-2 primary",
                ring("key-2", &[("key-1", 1), ("key-2", 2)]),
            ),
            ("remove key-1", ring("key-2", &[("key-2", 2)])),
        ];
        for (step, keys) in steps {
            // One speaker at a time, as watches deliver the Secret: the others lag 300 ms.
            for speaker in &s {
                speaker.keys.send_replace(Some(keys.clone()));
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            println!("{step}: everyone still alive");
        }
        guards.iter().for_each(|g| g.abort());
        let lost = lost.lock().unwrap();
        assert!(
            lost.is_empty(),
            "members lost during the rotation: {lost:?}"
        );
        for speaker in &s {
            assert_eq!(
                speaker.dropped(Refused::UnknownKey),
                0,
                "every datagram understood"
            );
        }
    })
    .unwrap();
}

#[test]
fn unspecified_bind_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (_s, seeds_rx) = watch::channel(Vec::new());
        let (_i, interfaces_rx) = watch::channel(Vec::new());
        let (_k, keys_rx) = watch::channel(None);
        let options = MembershipOptions {
            node: "node-0".into(),
            bind: "0.0.0.0:7946".parse().unwrap(),
            seeds_rx,
            interfaces_rx,
            keys_rx,
            dropped: GossipDrops::default(),
        };
        let err = Membership::spawn(MembershipConfig::default(), options).await;
        assert!(err.is_err());
    });
}
