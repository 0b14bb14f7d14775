//! New connections through a VIP: client ↔ node (forwards, holds table `inet ferrolb`) ↔
//! backend, three scratch namespaces joined by veths.
//!
//! - client `eth0` 203.0.113.2/24, route to 198.51.100.0/24 via the node's 203.0.113.1;
//! - node `c0` 203.0.113.1/24 and `b0` 192.0.2.1/24, forwarding on;
//! - backend `eth0` with the measured Service's endpoints (192.0.2.10, .11), an accept loop on
//!   port 8080 that closes every connection at once.
//!
//! The client connects and closes (with SO_LINGER 0: a reset, so neither end keeps TIME_WAIT
//! state and ports never run out) one connection after another for a fixed time. Both ends use
//! blocking sockets on plain threads.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::input::{MEASURED_PORT, MEASURED_VIP, TARGET_PORT, endpoints_of};
use super::scratch::{Scratch, join, thread_in};
use crate::Error;
use ferrolb_testkit as netns;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the path may take to work after the rules are in.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// The three namespaces and the backend's accept loop (stopped on drop).
pub struct Path {
    /// The client namespace.
    pub client: String,
    /// The node namespace (table `inet ferrolb` goes here).
    pub node: String,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<Result<(), Error>>>,
}

impl Path {
    /// Builds one such topology in `scratch` (namespaces `…-client-<tag>`, `…-node-<tag>`,
    /// `…-backend-<tag>`) and starts the backend's accept loop.
    pub fn build(scratch: &mut Scratch, tag: &str) -> Result<Path, Error> {
        let client = scratch.add(&format!("client-{tag}"), false)?;
        let node = scratch.add(&format!("node-{tag}"), true)?;
        let backend = scratch.add(&format!("backend-{tag}"), false)?;
        netns::veth_between(&client, "eth0", &node, "c0")?;
        netns::veth_between(&node, "b0", &backend, "eth0")?;
        netns::addr(&client, "eth0", "203.0.113.2/24")?;
        netns::addr(&node, "c0", "203.0.113.1/24")?;
        netns::addr(&node, "b0", "192.0.2.1/24")?;
        for ip in endpoints_of(0) {
            netns::addr(&backend, "eth0", &format!("{ip}/24"))?;
        }
        netns::route(&client, &["198.51.100.0/24", "via", "203.0.113.1"])?;
        netns::route(&backend, &["203.0.113.0/24", "via", "192.0.2.1"])?;
        // Each connection is a new flow: room for ephemeral ports.
        netns::exec(
            &client,
            &["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"],
        )?;

        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = Arc::clone(&stop);
        let server = thread_in(&backend, move || {
            let listener = listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, TARGET_PORT)))?;
            let _ = ready_tx.send(());
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok(accepted) => drop(accepted),
                    // The receive timeout: time to look at the stop flag.
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => return Err(Error::io("accepting", e)),
                }
            }
            Ok(())
        });
        let path = Path {
            client,
            node,
            stop,
            server: Some(server),
        };
        ready_rx
            .recv_timeout(READY_WITHIN)
            .map_err(|_| Error::msg("the backend's accept loop did not start"))?;
        Ok(path)
    }

    /// Forgets the node's connection tracking state, so each measurement starts alike.
    pub fn flush_conntrack(&self) -> Result<(), Error> {
        netns::exec(&self.node, &["conntrack", "-F"])?;
        Ok(())
    }

    /// Waits until one connection through the VIP succeeds, then connects and closes one
    /// connection after another for `duration`.
    pub async fn connection_rate(&self, duration: Duration) -> Result<Rate, Error> {
        let vip = SocketAddrV4::new(MEASURED_VIP, MEASURED_PORT);
        join(thread_in(&self.client, move || {
            let deadline = Instant::now() + READY_WITHIN;
            while connect_close(vip).is_err() {
                if Instant::now() >= deadline {
                    return Err(Error::Timeout {
                        what: format!("a connection to {vip} through the node"),
                        secs: READY_WITHIN.as_secs_f64(),
                    });
                }
                thread::sleep(Duration::from_millis(50));
            }
            let started = Instant::now();
            let (mut connections, mut failures) = (0u64, 0u64);
            while started.elapsed() < duration {
                match connect_close(vip) {
                    Ok(()) => connections += 1,
                    Err(_) => failures += 1,
                }
            }
            Ok(Rate {
                connections,
                failures,
                seconds: started.elapsed().as_secs_f64(),
            })
        }))
        .await
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(server) = self.server.take()
            && let Ok(Err(error)) = server.join()
        {
            tracing::warn!(%error, "the backend's accept loop failed");
        }
    }
}

/// A blocking listener with a deep backlog (a burst while the accept thread waits for a core
/// must not drop SYNs: each drop costs the client a one-second retransmission) whose `accept`
/// gives up after 100 ms.
fn listen(addr: SocketAddr) -> Result<Socket, Error> {
    let io = |e| Error::io(format!("listening on {addr}"), e);
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(io)?;
    socket.set_reuse_address(true).map_err(io)?;
    socket.bind(&addr.into()).map_err(io)?;
    socket.listen(4096).map_err(io)?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(io)?;
    Ok(socket)
}

/// One connection: connect, then close with a reset.
fn connect_close(to: SocketAddrV4) -> std::io::Result<()> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_linger(Some(Duration::ZERO))?;
    socket.connect_timeout(&SocketAddr::V4(to).into(), CONNECT_TIMEOUT)?;
    drop(socket);
    Ok(())
}

/// What one measurement saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Connections completed.
    pub connections: u64,
    /// Attempts that failed or timed out.
    pub failures: u64,
    /// How long it ran.
    pub seconds: f64,
}

impl Rate {
    /// Completed connections per second.
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.connections as f64 / self.seconds
        } else {
            0.0
        }
    }
}
