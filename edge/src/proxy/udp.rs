//! UDP frontends: one socket per frontend; each client (source address and port) is a flow
//! with its own upstream socket connected to the node chosen for its first datagram. Replies
//! go back from the frontend socket, so the client sees the frontend address. A flow lives
//! until `idle_timeout` passes without a datagram either way; it stays with its node even if
//! that node turns unhealthy (like a TCP connection draining). At most `max_flows` flows per
//! frontend; datagrams that would start one more are dropped.
//!
//! Refusals (outside the source ranges, no healthy node, too many flows) are counted per
//! datagram that would have started a flow. Flows belong to the frontend's task: closing the
//! frontend ends them (UDP has nothing to drain once the address is gone).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Protocol, Type};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::served::{Active, Served};
use crate::metrics::Refusal;

/// Largest datagram relayed.
const MAX_DATAGRAM: usize = 65_535;

/// Binds the frontend socket (`IP_FREEBIND`, like TCP).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = super::freebind_socket(addr, Type::DGRAM, Protocol::UDP)?;
    UdpSocket::from_std(socket.into())
}

/// UDP settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpOptions {
    /// A flow without traffic for this long ends.
    pub idle_timeout: Duration,
    /// Flows per frontend at most.
    pub max_flows: usize,
}

struct Flow {
    upstream: Arc<UdpSocket>,
    last: Arc<AtomicU64>,
}

/// Milliseconds since `epoch` (the frontend's start), for idle tracking across tasks.
fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Relays until the task is aborted (which ends every flow).
pub async fn serve(socket: UdpSocket, served: Arc<Served>, opts: UdpOptions) {
    let socket = Arc::new(socket);
    let epoch = Instant::now();
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut tasks: JoinSet<SocketAddr> = JoinSet::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (n, client) = match received {
                    Ok(r) => r,
                    Err(error) => {
                        debug!(%error, "edge: UDP receive failed");
                        continue;
                    }
                };
                if let Some(flow) = flows.get(&client) {
                    flow.last.store(ms_since(epoch), Ordering::Relaxed);
                    let _ = flow.upstream.send(&buf[..n]).await;
                    continue;
                }
                if let Some((flow, active)) = start_flow(&served, client, flows.len(), opts).await {
                    flow.last.store(ms_since(epoch), Ordering::Relaxed);
                    let _ = flow.upstream.send(&buf[..n]).await;
                    tasks.spawn(replies(
                        Relay { frontend: socket.clone(), upstream: flow.upstream.clone(), last: flow.last.clone(), client, epoch },
                        active,
                        opts.idle_timeout,
                    ));
                    flows.insert(client, flow);
                }
            }
            Some(ended) = tasks.join_next() => {
                if let Ok(client) = ended {
                    flows.remove(&client);
                }
            }
        }
    }
}

/// A new flow for `client`, or `None` (refused and counted).
async fn start_flow(
    served: &Arc<Served>,
    client: SocketAddr,
    flows: usize,
    opts: UdpOptions,
) -> Option<(Flow, Active)> {
    let f = served.frontend();
    if !f.source_ranges.allows(client.ip()) {
        served.count_refused(&f, Refusal::SourceRange);
        return None;
    }
    if flows >= opts.max_flows {
        served.count_refused(&f, Refusal::FlowLimit);
        return None;
    }
    let Some((node, active)) = served.pick(&[]) else {
        served.count_refused(&f, Refusal::NoHealthyBackend);
        return None;
    };
    let upstream = f.upstream(&node);
    let local: IpAddr = if upstream.is_ipv6() {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let socket = match UdpSocket::bind(SocketAddr::new(local, 0)).await {
        Ok(s) => s,
        Err(error) => {
            warn!(frontend = %f.id(), %error, "cannot open an upstream UDP socket");
            served.count_refused(&f, Refusal::ConnectFailed);
            return None;
        }
    };
    if let Err(error) = socket.connect(upstream).await {
        warn!(frontend = %f.id(), node = %node.node, %error, "cannot reach the node");
        served.count_refused(&f, Refusal::ConnectFailed);
        return None;
    }
    served.count_accepted(&f);
    debug!(frontend = %f.id(), %client, node = %node.node, "new UDP flow");
    let flow = Flow {
        upstream: Arc::new(socket),
        last: Arc::new(AtomicU64::new(0)),
    };
    Some((flow, active))
}

/// One flow's reply path.
struct Relay {
    frontend: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    last: Arc<AtomicU64>,
    client: SocketAddr,
    epoch: Instant,
}

/// Sends the node's replies to the client until the flow is idle; returns the client.
async fn replies(r: Relay, active: Active, idle: Duration) -> SocketAddr {
    let _active = active;
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let quiet = ms_since(r.epoch).saturating_sub(r.last.load(Ordering::Relaxed));
        let Some(left) = idle_ms.checked_sub(quiet).filter(|l| *l > 0) else {
            return r.client;
        };
        match tokio::time::timeout(Duration::from_millis(left), r.upstream.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                r.last.store(ms_since(r.epoch), Ordering::Relaxed);
                let _ = r.frontend.send_to(&buf[..n], r.client).await;
            }
            // An ICMP error (port unreachable) for one datagram; the flow lives on until idle.
            Ok(Err(error)) => debug!(client = %r.client, %error, "upstream UDP error"),
            Err(_) => {}
        }
    }
}
