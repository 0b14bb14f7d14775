//! The client's side: connections and datagrams through the edge, and reading the edge
//! interface's addresses. Every operation is bounded by [`IO`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, UdpSocket};

use super::topology::{IFACE, ip};

/// Bound of every client operation.
pub const IO: Duration = Duration::from_secs(2);

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The edge interface's addresses as `ip/prefix`.
pub fn addresses(ns: &str) -> BTreeSet<String> {
    let out = ip(ns, &["-o", "addr", "show", "dev", IFACE]);
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet" || *w == "inet6")?;
            words.next().map(String::from)
        })
        .collect()
}

pub fn count(names: Vec<String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for n in names {
        *out.entry(n).or_insert(0) += 1;
    }
    out
}

/// An open connection through the edge.
pub struct Conn {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Conn {
    /// Sends a line, returns the answer line.
    pub async fn ask(&mut self, line: &str) -> Result<String, String> {
        self.write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        next_line(&mut self.lines).await
    }
}

pub async fn next_line(lines: &mut Lines<BufReader<OwnedReadHalf>>) -> Result<String, String> {
    match tokio::time::timeout(IO, lines.next_line()).await {
        Ok(Ok(Some(l))) => Ok(l),
        Ok(Ok(None)) => Err("closed".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}

/// Connects from `src` and reads the node's greeting.
pub async fn tcp_hello(src: &str, dst: SocketAddr) -> Result<(String, Conn), String> {
    let socket = if dst.is_ipv6() {
        TcpSocket::new_v6()
    } else {
        TcpSocket::new_v4()
    }
    .map_err(|e| e.to_string())?;
    socket
        .bind(SocketAddr::new(ipa(src), 0))
        .map_err(|e| e.to_string())?;
    let stream = match tokio::time::timeout(IO, socket.connect(dst)).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => return Err("connect timeout".into()),
    };
    let (read, write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let name = next_line(&mut lines).await?;
    Ok((name, Conn { lines, write }))
}

/// `n` connections one after the other; the node of each.
pub async fn tcp_names(src: &str, dst: SocketAddr, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(tcp_hello(src, dst).await.unwrap().0);
    }
    out
}

/// One datagram from a fresh source port; the reply, if any within `wait`.
pub async fn udp_hello(src: &str, dst: SocketAddr, wait: Duration) -> Option<String> {
    let socket = UdpSocket::bind(SocketAddr::new(ipa(src), 0)).await.unwrap();
    socket.send_to(b"hi", dst).await.unwrap();
    let mut buf = [0u8; 256];
    match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => {
            assert_eq!(from, dst, "reply not from the frontend address");
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        }
        _ => None,
    }
}
