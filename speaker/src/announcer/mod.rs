//! The L2 announcer: answers ARP and NDP for the VIPs this node owns, on the interfaces it owns
//! them on, and announces each VIP it gains (gratuitous ARP, unsolicited NA).
//!
//! Driven by a [`Desired`] state in a `tokio::sync::watch` channel. The supervisor
//! (`supervisor`) turns each new desired state into [`Change`]s ([`diff`]) and keeps one task
//! per interface (`interface_task`) with one raw socket ([`rawsock`]). Each task reads its set
//! of owned VIPs from a `watch` on every received query, so a lost VIP is not answered any
//! more as soon as the new desired state has been seen, without touching the socket.
//!
//! Decisions are pure and unit-tested: [`diff`], [`answer`], [`takeover_frames`],
//! [`group_mac`], the burst and backoff schedules and the socket filter program.
//!
//! ```no_run
//! # async fn f() {
//! use ferrolb_speaker::announcer::{Announcer, AnnouncerOptions, Desired};
//! let (tx, rx) = tokio::sync::watch::channel(Desired::new());
//! let handle = Announcer::spawn(rx, AnnouncerOptions::default());
//! tx.send_modify(|d| {
//!     d.entry("eth0".into()).or_default().insert("198.51.100.200".parse().unwrap());
//! });
//! // ...
//! handle.shutdown().await;
//! # }
//! ```

mod filter;
mod interface_task;
mod link;
mod plan;
pub mod rawsock;
mod respond;
mod schedule;
mod supervisor;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use filter::Receive;
pub use link::{Link, LinkError, lookup as lookup_link, mac_string};
pub use plan::{Change, diff};
pub use respond::{Answer, answer, group_mac, takeover_frames};

/// The VIPs to answer for, per interface name. An interface with an empty set is the same as
/// an absent one (no socket is kept open for it).
pub type Desired = BTreeMap<String, BTreeSet<IpAddr>>;

/// How the announcer announces and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncerOptions {
    /// Rounds of announcements when a VIP is gained (or its interface reopened); 0 for none.
    pub burst_count: u32,
    /// Time between two rounds of a burst; the first round is sent at once.
    pub burst_interval: Duration,
    /// If set, every owned VIP is announced once more with this period.
    pub reannounce: Option<Duration>,
    /// First delay before reopening an interface that failed (missing, down, socket error).
    pub retry_initial: Duration,
    /// Longest delay between two attempts; the delay doubles from `retry_initial` up to this.
    pub retry_max: Duration,
}

impl Default for AnnouncerOptions {
    fn default() -> Self {
        AnnouncerOptions {
            burst_count: 3,
            burst_interval: Duration::from_millis(50),
            reannounce: None,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// Counters since the announcer started.
#[derive(Debug, Default)]
pub struct Stats {
    /// ARP replies sent.
    pub arp_replies: AtomicU64,
    /// Neighbor Advertisements sent in answer to solicitations.
    pub na_replies: AtomicU64,
    /// Announcement frames sent: gratuitous ARP (two frames per round: request and reply
    /// forms) and unsolicited NAs (one per round).
    pub gratuitous_sent: AtomicU64,
    /// Failures: an interface that could not be opened, a socket error, a failed send.
    pub errors: AtomicU64,
}

/// The values of [`Stats`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub arp_replies: u64,
    pub na_replies: u64,
    pub gratuitous_sent: u64,
    pub errors: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            arp_replies: self.arp_replies.load(Ordering::Relaxed),
            na_replies: self.na_replies.load(Ordering::Relaxed),
            gratuitous_sent: self.gratuitous_sent.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// How long [`AnnouncerHandle::shutdown`] waits for the tasks to end before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Entry point: see [`Announcer::spawn`].
#[derive(Debug)]
pub struct Announcer;

impl Announcer {
    /// Starts the announcer on the current tokio runtime. Sockets are opened in the network
    /// namespace of the runtime's threads. It runs until [`AnnouncerHandle::shutdown`], until
    /// the handle is dropped, or until the `watch` sender is dropped (then it stops answering).
    pub fn spawn(rx: watch::Receiver<Desired>, opts: AnnouncerOptions) -> AnnouncerHandle {
        let stats = Arc::new(Stats::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(supervisor::run(rx, opts, Arc::clone(&stats), stop_rx));
        AnnouncerHandle {
            stats,
            stop: Some(stop_tx),
            task,
        }
    }
}

/// A running announcer. Dropping it stops the announcer too (without waiting).
#[derive(Debug)]
pub struct AnnouncerHandle {
    stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AnnouncerHandle {
    /// The counters (shared, live).
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Stops every interface task and closes every socket; returns once they are gone, within
    /// about two seconds at most (tasks still running then are aborted).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("announcer did not stop in time; aborting it");
            self.task.abort();
            let _ = (&mut self.task).await;
        }
    }
}

impl Drop for AnnouncerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
