//! The data path: a userspace L4 proxy (tokio), one listener per frontend bound to the
//! frontend address.
//!
//! Why userspace and not nftables DNAT on the edge host: the edge must choose among healthy
//! nodes per connection with least-connections balancing, keep connections to a node that
//! turned unhealthy (drain) and refuse at once when nobody is healthy — each a rule rewrite
//! and conntrack bookkeeping in nftables, but a few lines here; the edge host also needs no
//! routing back through it (the nodes answer the edge, which answers the client), so nodes
//! need no route to the clients and eTP=Local keeps working. The cost is a copy through
//! userspace per connection, measured by the benchmark the issue asks for.
//!
//! [`Proxy::sync`] keeps the listeners in line with the desired frontends: new ones are
//! bound, changed ones are updated in place (same address, protocol and port; the listener
//! stays open), removed ones are closed (TCP connections already forwarded finish on their
//! own). A frontend that cannot be bound is logged, listed in [`Proxy::failed`] and tried
//! again on the next sync.

mod served;
pub mod tcp;
pub mod udp;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::frontends::{Frontend, FrontendId};
use crate::metrics::{FrontendLabels, Metrics};
use crate::prober::SharedHealth;
use ferrolb_core::Protocol;

pub use served::{Active, Served};
pub use udp::UdpOptions;

/// Data-path settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyOptions {
    /// Time to connect to a node before trying the next.
    pub connect_timeout: Duration,
    /// UDP flows.
    pub udp: UdpOptions,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            connect_timeout: Duration::from_secs(2),
            udp: UdpOptions {
                idle_timeout: Duration::from_secs(30),
                max_flows: 65_536,
            },
        }
    }
}

struct Listener {
    served: Arc<Served>,
    task: JoinHandle<()>,
}

/// Every listener.
pub struct Proxy {
    opts: ProxyOptions,
    health: SharedHealth,
    metrics: Metrics,
    listeners: BTreeMap<FrontendId, Listener>,
    failed: BTreeMap<FrontendId, String>,
}

impl Proxy {
    /// No listeners yet.
    pub fn new(opts: ProxyOptions, health: SharedHealth, metrics: Metrics) -> Proxy {
        Proxy {
            opts,
            health,
            metrics,
            listeners: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }

    /// Serves exactly `frontends` (unique ids) from now on. Must run inside a Tokio runtime,
    /// on a thread of the network namespace that owns the frontend addresses.
    pub fn sync(&mut self, frontends: &[Frontend]) {
        let wanted: BTreeMap<FrontendId, &Frontend> =
            frontends.iter().map(|f| (f.id(), f)).collect();
        let gone: Vec<FrontendId> = self
            .listeners
            .iter()
            .filter(|(id, l)| !wanted.contains_key(id) || l.task.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.close(&id);
        }
        self.failed.retain(|id, _| wanted.contains_key(id));
        for (id, f) in wanted {
            if let Some(l) = self.listeners.get(&id) {
                let old = l.served.frontend();
                if old.service != f.service {
                    self.metrics.forget_frontend(&id, &FrontendLabels::of(&old));
                }
                if *old != *f {
                    l.served.update(f.clone());
                }
                continue;
            }
            match self.open(f) {
                Ok(listener) => {
                    info!(frontend = %id, service = %f.service, "listening");
                    self.failed.remove(&id);
                    self.listeners.insert(id, listener);
                }
                Err(error) => {
                    self.metrics.listen_errors.inc();
                    let error = error.to_string();
                    if self.failed.get(&id) != Some(&error) {
                        warn!(frontend = %id, service = %f.service, %error, "cannot listen; retrying on the next sync");
                    }
                    self.failed.insert(id, error);
                }
            }
        }
    }

    fn open(&self, f: &Frontend) -> std::io::Result<Listener> {
        let served = Arc::new(Served::new(
            f.clone(),
            self.health.clone(),
            self.metrics.clone(),
        ));
        let addr = std::net::SocketAddr::new(f.ip, f.port);
        let task = match f.protocol {
            Protocol::Tcp => {
                let listener = tcp::bind(addr)?;
                tokio::spawn(tcp::serve(
                    listener,
                    served.clone(),
                    self.opts.connect_timeout,
                ))
            }
            Protocol::Udp => {
                let socket = udp::bind(addr)?;
                tokio::spawn(udp::serve(socket, served.clone(), self.opts.udp))
            }
            Protocol::Sctp => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "SCTP frontends are not served by the edge",
                ));
            }
        };
        Ok(Listener { served, task })
    }

    fn close(&mut self, id: &FrontendId) {
        if let Some(l) = self.listeners.remove(id) {
            l.task.abort();
            let f = l.served.frontend();
            self.metrics.forget_frontend(id, &FrontendLabels::of(&f));
            info!(frontend = %id, service = %f.service, "listener closed");
        }
    }

    /// Closes every listener.
    pub fn close_all(&mut self) {
        let ids: Vec<FrontendId> = self.listeners.keys().copied().collect();
        for id in ids {
            self.close(&id);
        }
        self.failed.clear();
    }

    /// Frontends with an open listener.
    pub fn listening(&self) -> BTreeSet<FrontendId> {
        self.listeners.keys().copied().collect()
    }

    /// Frontends that could not be bound, with the error.
    pub fn failed(&self) -> &BTreeMap<FrontendId, String> {
        &self.failed
    }

    /// The shared state of a listener, if open.
    pub fn served(&self, id: &FrontendId) -> Option<Arc<Served>> {
        self.listeners.get(id).map(|l| l.served.clone())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for l in self.listeners.values() {
            l.task.abort();
        }
    }
}

/// A non-blocking socket bound to `addr` with `IP_FREEBIND` (it may bind before the address
/// is on the interface; the address manager adds it in the same pass), `SO_REUSEADDR`, and
/// IPv6-only for IPv6 addresses.
fn freebind_socket(
    addr: std::net::SocketAddr,
    kind: socket2::Type,
    protocol: socket2::Protocol,
) -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), kind, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
        socket.set_freebind_v6(true)?;
    } else {
        socket.set_freebind_v4(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}
