//! The two ends of the link: the announcer in `a`, a raw-socket peer in `b`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ferrolb_speaker::announcer::rawsock::RawSocket;
use ferrolb_speaker::announcer::{
    Announcer, AnnouncerOptions, Desired, Receive, Stats, lookup_link,
};
use ferrolb_speaker::packets::{
    self, ALL_NODES, ALL_NODES_MAC, ArpMessage, BROADCAST_MAC, Mac, NeighborAdvertisement,
    decode_arp, decode_neighbor_advertisement,
};
use tokio::sync::{oneshot, watch};

use super::frames;
use super::lab::{B6, Lab, MAC_A, MAC_B, WAIT};

/// The announcer, running in namespace `a`.
pub struct Speaker {
    desired: watch::Sender<Desired>,
    pub stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ferrolb_testkit::Error>>>,
}

impl Speaker {
    pub fn start(lab: &Lab, opts: AnnouncerOptions) -> Speaker {
        let (desired, rx) = watch::channel(Desired::new());
        let (stats_tx, stats_rx) = mpsc::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let thread = lab.a.task(move || async move {
            let handle = Announcer::spawn(rx, opts);
            stats_tx.send(handle.stats()).unwrap();
            let _ = stop_rx.await;
            handle.shutdown().await;
        });
        let stats = stats_rx.recv_timeout(WAIT).expect("announcer started");
        Speaker {
            desired,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn set(&self, entries: &[(&str, &[IpAddr])]) {
        let desired = entries
            .iter()
            .map(|(iface, ips)| (iface.to_string(), ips.iter().copied().collect()))
            .collect();
        self.desired.send_replace(desired);
    }

    /// Stops the announcer; returns how long `shutdown` took.
    pub fn stop(&mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(t) = self.thread.take() {
            t.join()
                .expect("announcer thread")
                .expect("announcer thread in namespace a");
        }
        started.elapsed()
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every frame the peer saw, with the time it arrived.
type Seen = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// A raw socket on `b`'s `veth0`: sends crafted frames, records every ARP/NDP frame it sees.
pub struct Peer {
    seen: Seen,
    send: Option<tokio::sync::mpsc::UnboundedSender<Vec<u8>>>,
    thread: Option<JoinHandle<Result<(), ferrolb_testkit::Error>>>,
}

impl Peer {
    pub fn start(lab: &Lab, dev: &str) -> Peer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (send, mut to_send) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (dev, log) = (dev.to_string(), Arc::clone(&seen));
        let thread = lab.b.task(move || async move {
            let link = lookup_link(&dev).expect("peer link");
            let sock = RawSocket::open(link.index, Receive::NeighborTraffic).expect("peer socket");
            ready_tx.send(()).unwrap();
            let mut buf = vec![0u8; 2048];
            loop {
                tokio::select! {
                    n = sock.recv(&mut buf) => {
                        let frame = buf[..n.expect("peer recv")].to_vec();
                        log.lock().unwrap().push((Instant::now(), frame));
                    }
                    frame = to_send.recv() => match frame {
                        Some(frame) => sock.send(&frame).await.expect("peer send"),
                        None => break,
                    },
                }
            }
        });
        ready_rx.recv_timeout(WAIT).expect("peer socket open");
        Peer {
            seen,
            send: Some(send),
            thread: Some(thread),
        }
    }

    pub fn send(&self, frame: Vec<u8>) {
        self.send.as_ref().unwrap().send(frame).unwrap();
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Frames seen after the first `from`, decoded by `pick`.
    pub fn since<T>(&self, from: usize, pick: impl Fn(&[u8]) -> Option<T>) -> Vec<(Instant, T)> {
        let seen = self.seen.lock().unwrap();
        seen[from..]
            .iter()
            .filter_map(|(t, f)| Some((*t, pick(f)?)))
            .collect()
    }

    /// Sends `frame` (again every 300 ms) until a frame after it matches `pick`, or `within`.
    pub fn ask<T>(
        &self,
        frame: Vec<u8>,
        within: Duration,
        pick: impl Fn(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let from = self.count();
        let deadline = Instant::now() + within;
        let mut next_send = Instant::now();
        while Instant::now() < deadline {
            if Instant::now() >= next_send {
                self.send(frame.clone());
                next_send += Duration::from_millis(300);
            }
            if let Some((_, found)) = self.since(from, &pick).into_iter().next() {
                return Some(found);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.send.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An ARP reply (op 2) or request (op 1) from `a` whose sender is `ip`.
pub fn arp_from_a(ip: Ipv4Addr, op: u16) -> impl Fn(&[u8]) -> Option<ArpMessage> {
    move |f| decode_arp(f).filter(|m| m.operation == op && m.sender_ip == ip && m.eth_src == MAC_A)
}

/// A gratuitous ARP from `a` for `ip` (op 1: request form, op 2: reply form): broadcast, with
/// sender and target IP both `ip`.
pub fn garp_from_a(ip: Ipv4Addr, op: u16) -> impl Fn(&[u8]) -> Option<ArpMessage> {
    let from_a = arp_from_a(ip, op);
    move |f| from_a(f).filter(|m| m.eth_dst == BROADCAST_MAC && m.target_ip == ip)
}

/// A valid Neighbor Advertisement from `a` for `target`.
pub fn na_from_a(target: Ipv6Addr) -> impl Fn(&[u8]) -> Option<NeighborAdvertisement> {
    move |f| {
        decode_neighbor_advertisement(f).filter(|na| na.target == target && na.eth_src == MAC_A)
    }
}

/// An unsolicited Neighbor Advertisement from `a` for `target`: to all-nodes.
pub fn unsolicited_na_from_a(target: Ipv6Addr) -> impl Fn(&[u8]) -> Option<NeighborAdvertisement> {
    let from_a = na_from_a(target);
    move |f| from_a(f).filter(|na| na.ip_dst == ALL_NODES && na.eth_dst == ALL_NODES_MAC)
}

pub fn unicast_ns(target: Ipv6Addr) -> Vec<u8> {
    frames::neighbor_solicitation(MAC_A, MAC_B, B6, target, target)
}

pub fn group(ip: Ipv6Addr) -> Mac {
    packets::multicast_mac(packets::solicited_node_multicast(ip))
}

pub fn quick() -> AnnouncerOptions {
    AnnouncerOptions {
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        ..AnnouncerOptions::default()
    }
}
