//! Benchmark of ARP reply latency (issue 6): ferrolb's announcer against the kernel answering
//! for a node's own address on the same link.
//!
//! Namespaces `flbt-<pid>-…-bench-a` and `-b` joined by a veth (`eth0` each, removed at the end,
//! also on error). In `a`: 198.51.100.1/24 on `eth0` (the kernel answers for it) and the
//! announcer ([`Announcer::spawn`] on a runtime whose thread entered `a`) holding VIP
//! 198.51.100.10 on `eth0`. From `b` (198.51.100.2) a raw socket sends broadcast ARP requests,
//! alternating between the two addresses, and times each reply from send to receive.
//! (iputils `arping` only takes whole seconds as interval.) Needs root and iproute2; no lab.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_speaker::announcer::rawsock::RawSocket;
use ferrolb_speaker::announcer::{Announcer, AnnouncerOptions, Receive, lookup_link};
use ferrolb_speaker::packets::arp::{ARP_OP_REPLY, ARP_OP_REQUEST};
use ferrolb_speaker::packets::{BROADCAST_MAC, Mac, decode_arp};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use crate::Error;
use crate::bench::rules::{Scratch, join, spawn_in};
use ferrolb_testkit as netns;

const IFACE: &str = "eth0";
/// `a`'s own address: the kernel answers.
const NODE_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The asking side.
const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The VIP: the announcer answers.
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// How long one request waits for its reply before it counts as lost.
const REPLY_WITHIN: Duration = Duration::from_millis(200);
/// How long both must take to start answering.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Options of the ARP benchmark.
#[derive(Debug, Clone, Copy)]
pub struct ArpOptions {
    /// Requests per address.
    pub count: usize,
    /// Pause after each request.
    pub gap: Duration,
}

/// Runs the benchmark and returns its JSON.
pub async fn arp(opts: ArpOptions) -> Result<Value, Error> {
    let mut scratch = Scratch::new();
    let a = scratch.add("a", false)?;
    let b = scratch.add("b", false)?;
    netns::veth_between(&a, IFACE, &b, IFACE)?;
    netns::addr(&a, IFACE, &format!("{NODE_IP}/24"))?;
    netns::addr(&b, IFACE, &format!("{PEER_IP}/24"))?;

    let mut desired = BTreeMap::new();
    desired.insert(IFACE.to_string(), BTreeSet::from([IpAddr::V4(VIP)]));
    let (_desired_tx, desired_rx) = watch::channel(desired);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (stats_tx, stats_rx) = oneshot::channel();
    let speaker = spawn_in(&a, move || async move {
        let handle = Announcer::spawn(desired_rx, AnnouncerOptions::default());
        let _ = stats_tx.send(handle.stats());
        let _ = stop_rx.await;
        handle.shutdown().await;
        Ok(())
    });
    let stats = stats_rx
        .await
        .map_err(|_| Error::msg("the announcer did not start"))?;

    let (count, gap) = (opts.count.max(1), opts.gap);
    let probed = join(spawn_in(&b, move || probe([NODE_IP, VIP], count, gap))).await;
    let _ = stop_tx.send(());
    join(speaker).await?;
    drop(scratch);
    let [(kernel, kernel_lost), (announcer, announcer_lost)] = probed?;
    let replies = stats.snapshot().arp_replies;
    Ok(json!({
        "benchmark": "arp",
        "method": "broadcast ARP requests from a raw socket in namespace b over a veth, alternating kernel/announcer, time from send to reply received (user space, both ends)",
        "requests_each": count,
        "gap_ms": gap.as_secs_f64() * 1e3,
        "kernel": summarize(&kernel, kernel_lost),
        "announcer": summarize(&announcer, announcer_lost),
        "announcer_arp_replies_counted": replies,
    }))
}

/// Warm-up (each address must answer within [`READY_WITHIN`]), then `count` requests per
/// address, alternating, each followed by `gap`: per address the round trips in µs and how many
/// went unanswered.
async fn probe(
    targets: [Ipv4Addr; 2],
    count: usize,
    gap: Duration,
) -> Result<[(Vec<f64>, usize); 2], Error> {
    let link = lookup_link(IFACE).map_err(|e| Error::msg(format!("{IFACE} in b: {e}")))?;
    let sock = RawSocket::open(link.index, Receive::NeighborTraffic)
        .map_err(|e| Error::io("opening a raw socket in b", e))?;
    for target in targets {
        let deadline = Instant::now() + READY_WITHIN;
        while ask(&sock, link.mac, target).await?.is_none() {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("an ARP reply for {target}"),
                    secs: READY_WITHIN.as_secs_f64(),
                });
            }
        }
    }
    let mut out = [
        (Vec::with_capacity(count), 0),
        (Vec::with_capacity(count), 0),
    ];
    for _ in 0..count {
        for (slot, target) in out.iter_mut().zip(targets) {
            match ask(&sock, link.mac, target).await? {
                Some(rtt) => slot.0.push(rtt.as_secs_f64() * 1e6),
                None => slot.1 += 1,
            }
            tokio::time::sleep(gap).await;
        }
    }
    Ok(out)
}

/// One broadcast request for `target`; the time until its reply, `None` after
/// [`REPLY_WITHIN`].
async fn ask(sock: &RawSocket, mac: Mac, target: Ipv4Addr) -> Result<Option<Duration>, Error> {
    let frame = arp_request(mac, PEER_IP, target);
    let mut buf = vec![0u8; 2048];
    let sent = Instant::now();
    sock.send(&frame)
        .await
        .map_err(|e| Error::io("sending an ARP request", e))?;
    let deadline = sent + REPLY_WITHIN;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(received) = tokio::time::timeout(left, sock.recv(&mut buf)).await else {
            return Ok(None);
        };
        let n = received.map_err(|e| Error::io("receiving in b", e))?;
        let rtt = sent.elapsed();
        let is_reply = decode_arp(&buf[..n]).is_some_and(|m| {
            m.operation == ARP_OP_REPLY && m.sender_ip == target && m.target_ip == PEER_IP
        });
        if is_reply {
            return Ok(Some(rtt));
        }
    }
}

/// A broadcast ARP request (op 1) from `(mac, sender)` for `target`, padded to 60 bytes.
pub fn arp_request(mac: Mac, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&BROADCAST_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&ARP_OP_REQUEST.to_be_bytes());
    f.extend_from_slice(&mac);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f.resize(60, 0);
    f
}

/// Latency figures in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Replies timed.
    pub replies: usize,
    /// Requests without a reply in time.
    pub lost: usize,
    /// Fastest.
    pub min_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// Summarizes round trips (µs); all zero without samples.
pub fn summarize(samples: &[f64], lost: usize) -> Summary {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = if sorted.is_empty() {
        0.0
    } else {
        sorted.iter().sum::<f64>() / sorted.len() as f64
    };
    Summary {
        replies: sorted.len(),
        lost,
        min_us: percentile(&sorted, 0.0),
        p50_us: percentile(&sorted, 0.50),
        p95_us: percentile(&sorted, 0.95),
        p99_us: percentile(&sorted, 0.99),
        max_us: percentile(&sorted, 1.0),
        mean_us: mean,
    }
}

/// Nearest-rank percentile of ascending `sorted` (`q` in 0..=1): the smallest value with at
/// least `q` of the samples at or below it; 0 for no samples.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[7.0], 0.95), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), 2.0);
    }

    #[test]
    fn summary_sorts_and_counts() {
        let s = summarize(&[30.0, 10.0, 20.0, 40.0], 2);
        assert_eq!((s.replies, s.lost), (4, 2));
        assert_eq!(
            (s.min_us, s.p50_us, s.p95_us, s.max_us),
            (10.0, 20.0, 40.0, 40.0)
        );
        assert_eq!(s.mean_us, 25.0);
        assert_eq!(summarize(&[], 3).p50_us, 0.0);
    }

    #[test]
    fn request_frame_decodes_as_a_broadcast_request() {
        let mac = [0x02, 0, 0, 0, 0x0b, 1];
        let frame = arp_request(mac, PEER_IP, VIP);
        assert_eq!(frame.len(), 60);
        let m = decode_arp(&frame).unwrap();
        assert_eq!(m.operation, ARP_OP_REQUEST);
        assert_eq!(
            (m.eth_dst, m.eth_src, m.sender_mac),
            (BROADCAST_MAC, mac, mac)
        );
        assert_eq!((m.sender_ip, m.target_ip), (PEER_IP, VIP));
        assert!(ferrolb_speaker::packets::classify(&frame).is_some());
    }
}
