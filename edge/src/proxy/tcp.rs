//! TCP frontends: accept → source range → pick a healthy node → connect `nodeIP:nodePort`
//! (with a timeout; a node that refuses is skipped and the next healthy one tried) → copy both
//! ways until both sides closed. Refused clients get a reset.
//!
//! Connections are tasks of their own, not of the listener: closing a listener (frontend
//! removed) or a node turning unhealthy never cuts a connection already forwarded (drain).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Protocol, SockRef, Type};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::served::Served;
use crate::metrics::Refusal;

/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds a listener on `addr`; `IP_FREEBIND` lets it bind before the address is on the
/// interface (the address manager adds it in the same pass).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = super::freebind_socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts until the task is aborted.
pub async fn serve(listener: TcpListener, served: Arc<Served>, connect_timeout: Duration) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "edge: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let f = served.frontend();
        if !f.source_ranges.allows(peer.ip()) {
            debug!(frontend = %f.id(), %peer, "client outside loadBalancerSourceRanges: reset");
            served.count_refused(&f, Refusal::SourceRange);
            reset(client);
            continue;
        }
        tokio::spawn(forward(client, peer, served.clone(), connect_timeout));
    }
}

async fn forward(
    mut client: TcpStream,
    peer: SocketAddr,
    served: Arc<Served>,
    connect_timeout: Duration,
) {
    let f = served.frontend();
    let mut tried: Vec<String> = Vec::new();
    // Each round excludes one more node, so this ends after at most one round per candidate.
    for _ in 0..=f.candidates.len() {
        let Some((node, active)) = served.pick(&tried) else {
            break;
        };
        let upstream = f.upstream(&node);
        match tokio::time::timeout(connect_timeout, TcpStream::connect(upstream)).await {
            Ok(Ok(mut up)) => {
                served.count_accepted(&f);
                let _ = client.set_nodelay(true);
                let _ = up.set_nodelay(true);
                debug!(frontend = %f.id(), %peer, node = %active.node(), "forwarding");
                if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut up).await {
                    debug!(frontend = %f.id(), %peer, node = %active.node(), %error, "connection ended with an error");
                }
                return;
            }
            Ok(Err(error)) => {
                warn!(frontend = %f.id(), node = %node.node, %upstream, %error, "node refused the connection; trying another")
            }
            Err(_) => {
                warn!(frontend = %f.id(), node = %node.node, %upstream, "connect timed out; trying another")
            }
        }
        tried.push(node.node);
    }
    let why = if tried.is_empty() {
        Refusal::NoHealthyBackend
    } else {
        Refusal::ConnectFailed
    };
    debug!(frontend = %f.id(), %peer, reason = why.label(), "connection refused");
    served.count_refused(&f, why);
    reset(client);
}

/// Closes with a reset, so the client learns at once that it was refused.
fn reset(stream: TcpStream) {
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}
