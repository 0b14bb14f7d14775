//! A client for the echo backends: one bounded TCP, UDP or HTTP exchange.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::Error;

/// Protocol of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    /// Connect, send a line, read the answer.
    Tcp,
    /// Send a datagram, read one back.
    Udp,
    /// `GET /` over TCP, read the response.
    Http,
}

/// Sends one probe to `to` and returns what came back (HTTP: `GET /`).
pub async fn probe(proto: Proto, to: SocketAddr, limit: Duration) -> Result<String, Error> {
    probe_path(proto, to, "/", limit).await
}

/// One HTTP/1.1 request (`Connection: close`) with `method`, `path` and extra `headers`
/// (`Name: value` each); returns the whole raw response (status line, headers, body).
pub async fn http_request(
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    limit: Duration,
) -> Result<String, Error> {
    let deadline = |what: &str| Error::Timeout {
        what: format!("{what} {to}"),
        secs: limit.as_secs_f64(),
    };
    let mut s = timeout(limit, TcpStream::connect(to))
        .await
        .map_err(|_| deadline("tcp connect to"))?
        .map_err(|e| Error::io(format!("tcp connect to {to}"), e))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| Error::io(format!("writing to {to}"), e))?;
    let mut out = Vec::new();
    timeout(limit, s.read_to_end(&mut out))
        .await
        .map_err(|_| deadline("reading from"))?
        .map_err(|e| Error::io(format!("reading from {to}"), e))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Like [`probe`], with the path of the HTTP request.
pub async fn probe_path(
    proto: Proto,
    to: SocketAddr,
    path: &str,
    limit: Duration,
) -> Result<String, Error> {
    let deadline = |what: &str| Error::Timeout {
        what: format!("{what} {to}"),
        secs: limit.as_secs_f64(),
    };
    match proto {
        Proto::Tcp | Proto::Http => {
            let mut s = timeout(limit, TcpStream::connect(to))
                .await
                .map_err(|_| deadline("tcp connect to"))?
                .map_err(|e| Error::io(format!("tcp connect to {to}"), e))?;
            let req = if proto == Proto::Http {
                format!("GET {path} HTTP/1.0\r\nHost: probe\r\n\r\n")
            } else {
                "probe\n".to_string()
            };
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| Error::io(format!("writing to {to}"), e))?;
            let mut out = Vec::new();
            timeout(limit, s.read_to_end(&mut out))
                .await
                .map_err(|_| deadline("reading from"))?
                .map_err(|e| Error::io(format!("reading from {to}"), e))?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Proto::Udp => {
            let bind: SocketAddr = if to.is_ipv4() {
                "0.0.0.0:0"
                    .parse()
                    .map_err(|_| Error::msg("bind address"))?
            } else {
                "[::]:0".parse().map_err(|_| Error::msg("bind address"))?
            };
            let s = UdpSocket::bind(bind)
                .await
                .map_err(|e| Error::io("binding a udp socket", e))?;
            s.send_to(b"probe\n", to)
                .await
                .map_err(|e| Error::io(format!("sending to {to}"), e))?;
            let mut buf = [0u8; 2048];
            let (n, _) = timeout(limit, s.recv_from(&mut buf))
                .await
                .map_err(|_| deadline("udp answer from"))?
                .map_err(|e| Error::io(format!("receiving from {to}"), e))?;
            Ok(String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned())
        }
    }
}

/// Splits an HTTP/1.x response into its status code and body.
pub fn parse_http(response: &str) -> Option<(u16, String)> {
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
    let code = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((code, body.to_string()))
}
