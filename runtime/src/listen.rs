//! Binding a TCP listener the way Go's `net.Listen("tcp", "0.0.0.0:port")` does for
//! Kubernetes components: an unspecified address (`0.0.0.0` or `[::]`) listens on both
//! families, so every listener is reachable on IPv4-only, dual-stack and IPv6-only clusters.

use std::io;
use std::net::{Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tracing::debug;

/// Binds a TCP listener on `addr` with `SO_REUSEADDR`. An unspecified address listens on both
/// families: one IPv6 socket with `IPV6_V6ONLY` off; a host without IPv6 gets the IPv4 socket
/// alone (for `0.0.0.0`). A specific address binds that address only. Must run inside a Tokio
/// runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if addr.ip().is_unspecified() {
        let any6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), addr.port());
        match bind_one(any6, true) {
            Ok(listener) => return Ok(listener),
            Err(error) if addr.is_ipv4() && ipv6_unavailable(&error) => {
                debug!(%error, %addr, "no IPv6 on this host; listening on IPv4 only");
            }
            Err(error) => return Err(error),
        }
    }
    bind_one(addr, false)
}

/// The errors of a host without IPv6 (module not loaded, disabled by sysctl).
fn ipv6_unavailable(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

fn bind_one(addr: SocketAddr, dual_stack: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    /// Whether a connection to `to` is accepted by `listener` within a second.
    async fn accepts(listener: &TcpListener, to: SocketAddr) -> bool {
        let connect = tokio::net::TcpStream::connect(to);
        let both = async { tokio::join!(connect, listener.accept()) };
        match tokio::time::timeout(std::time::Duration::from_secs(1), both).await {
            Ok((client, server)) => client.is_ok() && server.is_ok(),
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn an_unspecified_address_of_either_family_listens_on_both() {
        for unspecified in ["0.0.0.0:0", "[::]:0"] {
            let listener = bind(unspecified.parse().expect("addr")).expect("bind");
            let port = listener.local_addr().expect("local").port();
            for ip in [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ] {
                let to = SocketAddr::new(ip, port);
                assert!(accepts(&listener, to).await, "{unspecified} from {to}");
            }
        }
    }

    #[tokio::test]
    async fn a_specific_address_binds_that_address_only() {
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let port = listener.local_addr().expect("local").port();
        assert!(
            tokio::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port))
                .await
                .is_err()
        );
        assert!(accepts(&listener, SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)).await);
    }
}
