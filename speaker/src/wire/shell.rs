//! The probe's I/O: per interface, look the link up, open a raw socket (every ARP and
//! NS/NA frame, incoming only), send the one probe frame, and record what arrives until the
//! window ends. Interfaces are probed at the same time; the whole probe lasts the window.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use nix::ifaddrs::getifaddrs;
use tokio::time::{Instant, timeout_at};
use tracing::{debug, warn};

use super::{Collector, ProbedInterface, Sources, probe_frame};
use crate::announcer::rawsock::RawSocket;
use crate::announcer::{Receive, lookup_link, mac_string};

/// Receive buffer: ARP and ND frames are far shorter; longer frames are cut and then fail
/// validation.
const RECV_BUF_LEN: usize = 2048;

/// What a probe found.
#[derive(Debug)]
pub struct Probed {
    /// Where the probe was sent.
    pub interfaces: Vec<ProbedInterface>,
    /// Every answer.
    pub collector: Collector,
}

/// Probes `address` out of each of `interfaces` for `window`. An interface that is missing,
/// down, without MAC or (for IPv6) without address, or whose socket fails, is skipped and
/// logged; the caller answers 503 when none was probed. Returns within the window (plus the
/// time to open the sockets).
pub async fn probe(interfaces: &BTreeSet<String>, address: IpAddr, window: Duration) -> Probed {
    let mut opened = Vec::new();
    for name in interfaces {
        match open(name, address) {
            Ok((sock, mac, frame)) => opened.push((name.clone(), sock, mac, frame)),
            Err(error) => warn!(iface = %name, %address, %error, "probe: interface skipped"),
        }
    }
    let started = Instant::now();
    let deadline = started + window;
    let mut sent = Vec::new();
    for (name, sock, mac, frame) in opened {
        match sock.send(&frame).await {
            Ok(()) => sent.push((name, sock, mac)),
            Err(error) => warn!(iface = %name, %address, %error, "probe: send failed"),
        }
    }
    let interfaces = sent
        .iter()
        .map(|(name, _, mac)| ProbedInterface {
            name: name.clone(),
            mac: mac_string(*mac),
        })
        .collect();
    let listens = sent
        .iter()
        .map(|(name, sock, _)| listen(name, sock, address, started, deadline));
    let mut collector = Collector::new(address);
    for one in futures::future::join_all(listens).await {
        collector.merge(one);
    }
    Probed {
        interfaces,
        collector,
    }
}

/// The socket, MAC and probe frame of one interface.
fn open(name: &str, address: IpAddr) -> Result<(RawSocket, crate::packets::Mac, Vec<u8>), String> {
    let link = lookup_link(name).map_err(|e| e.to_string())?;
    let sources = sources(name).map_err(|e| format!("listing addresses: {e}"))?;
    let frame = probe_frame(link.mac, &sources, address).ok_or_else(|| {
        format!("{name} has no IPv6 address to send a Neighbor Solicitation from")
    })?;
    let sock = RawSocket::open(link.index, Receive::NeighborTraffic)
        .map_err(|e| format!("raw socket: {e}"))?;
    Ok((sock, link.mac, frame))
}

/// The addresses of interface `name` (calling thread's network namespace).
fn sources(name: &str) -> Result<Sources, nix::Error> {
    let mut out = Sources::default();
    for ifaddr in getifaddrs()?.filter(|a| a.interface_name == name) {
        let Some(addr) = ifaddr.address else {
            continue;
        };
        if let Some(v4) = addr.as_sockaddr_in() {
            out.v4.push(v4.ip());
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            out.v6.push(v6.ip());
        }
    }
    Ok(out)
}

/// Records every frame `sock` receives until `deadline`.
async fn listen(
    name: &str,
    sock: &RawSocket,
    address: IpAddr,
    started: Instant,
    deadline: Instant,
) -> Collector {
    let mut collector = Collector::new(address);
    let mut buf = vec![0u8; RECV_BUF_LEN];
    loop {
        match timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_window_over) => return collector,
            Ok(Ok(len)) => {
                let frame = buf.get(..len).unwrap_or_default();
                collector.record(name, frame, started.elapsed());
            }
            Ok(Err(error)) => {
                debug!(iface = name, %error, "probe: receive failed, interface done");
                return collector;
            }
        }
    }
}
