//! One interface: open its socket (retrying with backoff), answer queries for the owned VIPs,
//! announce gained ones, and keep the solicited-node multicast memberships in step.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at, sleep, sleep_until};
use tracing::{debug, info, warn};

use super::link::{self, Link, LinkError, mac_string};
use super::plan::{Owned, reconcile};
use super::rawsock::RawSocket;
use super::respond::{Answer, answer, group_mac, takeover_frames};
use super::schedule::{Backoff, Bursts};
use super::{AnnouncerOptions, Receive, Stats};

/// Receive buffer: any ARP request or Neighbor Solicitation fits with room to spare; a longer
/// frame is truncated and then fails validation.
const RECV_BUF_LEN: usize = 2048;

#[derive(Debug, thiserror::Error)]
enum TaskError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("{op}: {source}")]
    Socket {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

fn socket_error(op: &'static str) -> impl FnOnce(io::Error) -> TaskError {
    move |source| TaskError::Socket { op, source }
}

/// Runs until the owned-set sender is dropped (or the task is aborted).
pub(super) async fn run(
    iface: String,
    mut owned: watch::Receiver<Owned>,
    opts: AnnouncerOptions,
    stats: Arc<Stats>,
    start_delay: Duration,
) {
    let mut backoff = Backoff::new(opts.retry_initial, opts.retry_max);
    sleep(start_delay).await;
    loop {
        let started = Instant::now();
        let result = match link::lookup(&iface) {
            Ok(link) => serve(&iface, link, &mut owned, &opts, &stats).await,
            Err(e) => Err(e.into()),
        };
        let error = match result {
            Ok(()) => return,
            Err(error) => error,
        };
        Stats::add(&stats.errors, 1);
        backoff.attempt_lasted(started.elapsed());
        let delay = backoff.next_delay();
        warn!(iface, %error, retry_in_ms = delay.as_millis() as u64, "interface not answering");
        sleep(delay).await;
    }
}

/// What one open socket serves with.
struct Served<'a> {
    iface: &'a str,
    link: Link,
    sock: RawSocket,
    stats: &'a Stats,
}

/// Answers on one open socket until the owned-set sender is dropped (`Ok`) or the socket fails.
async fn serve(
    iface: &str,
    link: Link,
    owned: &mut watch::Receiver<Owned>,
    opts: &AnnouncerOptions,
    stats: &Stats,
) -> Result<(), TaskError> {
    let sock = RawSocket::open(link.index, Receive::Queries).map_err(socket_error("open"))?;
    info!(iface, ifindex = link.index, mac = %mac_string(link.mac), "answering");
    let s = Served {
        iface,
        link,
        sock,
        stats,
    };
    let mut announced = Owned::new();
    let mut bursts = Bursts::new(opts.burst_interval);
    let mut reannounce = opts.reannounce.map(|period| {
        let mut tick = interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick
    });
    let mut buf = vec![0u8; RECV_BUF_LEN];
    owned.mark_changed();
    loop {
        let next_burst = bursts.next_due();
        tokio::select! {
            received = s.sock.recv(&mut buf) => {
                let len = received.map_err(socket_error("receive"))?;
                let reply = {
                    let owned = owned.borrow();
                    answer(buf.get(..len).unwrap_or_default(), link.mac, |ip| owned.contains_key(&ip))
                };
                if let Some(reply) = reply {
                    s.send_answer(&reply).await;
                }
            }
            changed = owned.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let now_owned = owned.borrow_and_update().clone();
                s.follow(&mut announced, &now_owned, &mut bursts, opts.burst_count)?;
            }
            () = sleep_until_some(next_burst) => {
                for ip in bursts.take_due(Instant::now().into_std()) {
                    let still_owned = owned.borrow().contains_key(&ip);
                    if still_owned {
                        s.announce(ip).await;
                    }
                }
            }
            () = next_tick(&mut reannounce) => {
                let now = Instant::now().into_std();
                for ip in owned.borrow().keys() {
                    if !bursts.is_pending(*ip) {
                        bursts.start(*ip, 1, now);
                    }
                }
            }
        }
    }
}

impl Served<'_> {
    /// Brings memberships and bursts in step with `owned`.
    fn follow(
        &self,
        announced: &mut Owned,
        owned: &Owned,
        bursts: &mut Bursts,
        burst_count: u32,
    ) -> Result<(), TaskError> {
        let plan = reconcile(announced, owned);
        let now = Instant::now().into_std();
        for ip in plan.leave {
            bursts.cancel(ip);
            announced.remove(&ip);
            if let Some(group) = group_mac(ip) {
                self.sock
                    .leave_multicast(group)
                    .map_err(socket_error("leave multicast group"))?;
            }
            debug!(iface = self.iface, %ip, "stopped answering");
        }
        for ip in plan.join {
            if let Some(group) = group_mac(ip) {
                self.sock
                    .join_multicast(group)
                    .map_err(socket_error("join multicast group"))?;
            }
        }
        for (ip, epoch) in plan.announce {
            announced.insert(ip, epoch);
            bursts.start(ip, burst_count, now);
            debug!(iface = self.iface, %ip, "announcing");
        }
        Ok(())
    }

    async fn send_answer(&self, reply: &Answer) {
        if self.send(reply.frame()).await {
            let counter = match reply {
                Answer::ArpReply(_) => &self.stats.arp_replies,
                Answer::NeighborAdvertisement(_) => &self.stats.na_replies,
            };
            Stats::add(counter, 1);
        }
    }

    async fn announce(&self, ip: IpAddr) {
        for frame in takeover_frames(self.link.mac, ip) {
            if self.send(&frame).await {
                Stats::add(&self.stats.gratuitous_sent, 1);
            }
        }
    }

    /// Sends a frame; a failure is logged and counted but does not close the socket (a
    /// vanished interface shows up as a receive error).
    async fn send(&self, frame: &[u8]) -> bool {
        match self.sock.send(frame).await {
            Ok(()) => true,
            Err(error) => {
                Stats::add(&self.stats.errors, 1);
                warn!(iface = self.iface, %error, "send failed");
                false
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<std::time::Instant>) {
    match at {
        Some(at) => sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// The next tick of an optional interval, or never.
async fn next_tick(tick: &mut Option<Interval>) {
    match tick {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}
