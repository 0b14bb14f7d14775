//! SCTP on IPv4 raw sockets (this kernel has no SCTP sockets, but conntrack and nftables know
//! SCTP): send crafted `INIT`s to an address, and catch the first SCTP packet to a port in a
//! namespace. Both bounded in time and count.

use std::io::Read;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::Error;
use crate::traffic::sctp::{self, Caught, IPPROTO_SCTP, Init};

/// Most packets one `send` sends.
pub const MAX_SEND: u32 = 1000;
/// Most packets `catch` looks at before giving up.
const MAX_SEEN: usize = 10_000;

/// What [`send`] sent.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    /// Destination.
    pub to: SocketAddrV4,
    /// The packets' source port (one association: every packet is the same `INIT`).
    pub src_port: u16,
    /// The `INIT`'s initiate tag.
    pub initiate_tag: u32,
    /// Packets sent.
    pub sent: u32,
}

fn raw_socket() -> Result<Socket, Error> {
    Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_SCTP)))
        .map_err(|e| Error::io("opening an IPv4 raw socket for SCTP", e))
}

/// Sends `count` copies of one `INIT` (a fresh source port and tag per call) to `to`,
/// `interval` apart; the kernel writes the IP header.
pub fn send(to: SocketAddrV4, count: u32, interval: Duration) -> Result<Sent, Error> {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().rotate_left(16);
    let init = Init {
        src_port: 49_152 + (seed % 16_384) as u16,
        dst_port: to.port(),
        initiate_tag: seed | 1,
        initial_tsn: seed.rotate_left(7),
    };
    let packet = init.packet();
    let socket = raw_socket()?;
    // The port of a raw socket's destination is meaningless: it lives in the SCTP header.
    let dest = SockAddr::from(SocketAddrV4::new(*to.ip(), 0));
    let count = count.min(MAX_SEND);
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(interval);
        }
        socket
            .send_to(&packet, &dest)
            .map_err(|e| Error::io(format!("sending an SCTP INIT to {to}"), e))?;
    }
    tracing::debug!(%to, src_port = init.src_port, count, "sent SCTP INITs");
    Ok(Sent {
        to,
        src_port: init.src_port,
        initiate_tag: init.initiate_tag,
        sent: count,
    })
}

/// Waits up to `limit` for an SCTP packet to `port` on any local address and returns it
/// (`None` when none came). Says on stderr when it listens, so a caller can send after that.
pub fn catch(port: u16, limit: Duration) -> Result<Option<Caught>, Error> {
    let socket = raw_socket()?;
    eprintln!("sctp-catch: listening for SCTP to port {port}");
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    for _ in 0..MAX_SEEN {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .map_err(|e| Error::io("setting the raw socket's timeout", e))?;
        let n = match (&socket).read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading the raw socket", e)),
        };
        match sctp::parse_ipv4(buf.get(..n).unwrap_or_default()) {
            Ok(c) if c.sctp.dst_port == port => return Ok(Some(c)),
            Ok(c) => tracing::debug!(dst_port = c.sctp.dst_port, "SCTP to another port"),
            Err(e) => tracing::debug!(error = %e, "not an SCTP packet"),
        }
    }
    Ok(None)
}
