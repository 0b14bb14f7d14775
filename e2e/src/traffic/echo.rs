//! The pods' backend: whatever the image, a pod answers on each container port (TCP and UDP)
//! with its name and the source address it saw, so tests tell which backend answered and
//! whether the client's address survived. HTTP requests get the same line as an HTTP body.
//! A TCP client whose first line is `hold` keeps its connection: each further line gets the
//! answer line (a long-lived flow, for tests that change endpoints under it).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::Error;

/// The first line that asks a backend to hold the connection.
pub const HOLD: &str = "hold";
/// Most lines a held connection answers.
const HOLD_MAX_LINES: usize = 10_000;
/// Longest a held connection lasts.
const HOLD_MAX_TIME: Duration = Duration::from_secs(600);
/// Longest line a held connection accepts.
const HOLD_MAX_LINE: usize = 1024;

/// The line a backend answers with.
pub fn reply_line(pod: &str, peer: SocketAddr) -> String {
    format!(
        "pod={pod} client={} port={}\n",
        peer.ip().to_canonical(),
        peer.port()
    )
}

/// A parsed backend answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The pod that answered.
    pub pod: String,
    /// The source address the pod saw.
    pub client: IpAddr,
}

impl Reply {
    /// Parses a backend's answer (the line, or an HTTP response whose body is the line).
    pub fn parse(text: &str) -> Option<Reply> {
        let line = text.lines().rev().find(|l| l.starts_with("pod="))?;
        let mut pod = None;
        let mut client = None;
        for field in line.split_whitespace() {
            if let Some(v) = field.strip_prefix("pod=") {
                pod = Some(v.to_string());
            } else if let Some(v) = field.strip_prefix("client=") {
                client = v.parse().ok();
            }
        }
        Some(Reply {
            pod: pod?,
            client: client?,
        })
    }
}

/// Serves the pod's ports until the process is stopped.
pub async fn serve(pod: String, tcp: Vec<u16>, udp: Vec<u16>) -> Result<(), Error> {
    let mut tasks = tokio::task::JoinSet::new();
    for port in tcp {
        let l = TcpListener::bind(("::", port))
            .await
            .map_err(|e| Error::io(format!("binding tcp port {port}"), e))?;
        let pod = pod.clone();
        tasks.spawn(async move {
            while let Ok((stream, peer)) = l.accept().await {
                tokio::spawn(answer_tcp(stream, peer, pod.clone()));
            }
        });
    }
    for port in udp {
        let s = UdpSocket::bind(("::", port))
            .await
            .map_err(|e| Error::io(format!("binding udp port {port}"), e))?;
        let pod = pod.clone();
        tasks.spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((_, peer)) = s.recv_from(&mut buf).await {
                let _ = s.send_to(reply_line(&pod, peer).as_bytes(), peer).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn answer_tcp(mut stream: TcpStream, peer: SocketAddr, pod: String) {
    let mut buf = [0u8; 2048];
    // A client that sends nothing still gets its answer after a short wait.
    let n = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    let line = reply_line(&pod, peer);
    let request = buf.get(..n).unwrap_or_default();
    if let Some(rest) = after_hold(request) {
        return hold(stream, &line, rest.to_vec()).await;
    }
    let is_http = [&b"GET "[..], b"HEAD ", b"POST ", b"PUT "]
        .iter()
        .any(|m| request.starts_with(m));
    let out = if is_http {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{line}",
            line.len()
        )
    } else {
        line
    };
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// What follows the first line if it is [`HOLD`] (`None`: not a held connection).
fn after_hold(request: &[u8]) -> Option<&[u8]> {
    let end = request.iter().position(|b| *b == b'\n')?;
    let first = request.get(..end)?;
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    (first == HOLD.as_bytes()).then(|| request.get(end + 1..).unwrap_or_default())
}

/// Removes the complete lines at the front of `pending`; returns how many there were.
fn take_lines(pending: &mut Vec<u8>) -> usize {
    let Some(last) = pending.iter().rposition(|b| *b == b'\n') else {
        return 0;
    };
    let n = pending
        .iter()
        .take(last + 1)
        .filter(|b| **b == b'\n')
        .count();
    pending.drain(..=last);
    n
}

/// Answers each line on a held connection with `line` until the client closes (bounded in
/// lines, time and line length).
async fn hold(mut stream: TcpStream, line: &str, mut pending: Vec<u8>) {
    let deadline = tokio::time::Instant::now() + HOLD_MAX_TIME;
    let mut answered = 0;
    let mut buf = [0u8; 1024];
    while answered < HOLD_MAX_LINES {
        for _ in 0..take_lines(&mut pending).min(HOLD_MAX_LINES - answered) {
            if stream.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            answered += 1;
        }
        if pending.len() > HOLD_MAX_LINE {
            break;
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => pending.extend_from_slice(buf.get(..n).unwrap_or_default()),
            _ => break,
        }
    }
    tracing::debug!(answered, "held connection done");
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_round_trips_and_unmaps_ipv4() {
        let peer: SocketAddr = "[::ffff:198.51.100.100]:4242".parse().unwrap();
        let line = reply_line("web-1", peer);
        assert_eq!(line, "pod=web-1 client=198.51.100.100 port=4242\n");
        let r = Reply::parse(&format!("HTTP/1.1 200 OK\r\n\r\n{line}")).unwrap();
        assert_eq!(r.pod, "web-1");
        assert_eq!(r.client, "198.51.100.100".parse::<IpAddr>().unwrap());
        assert_eq!(Reply::parse("garbage"), None);
    }

    #[test]
    fn hold_lines() {
        assert_eq!(after_hold(b"hold\n"), Some(&b""[..]));
        assert_eq!(after_hold(b"hold\r\nprobe\n"), Some(&b"probe\n"[..]));
        assert_eq!(after_hold(b"probe\n"), None);
        assert_eq!(after_hold(b"hold"), None);
        assert_eq!(after_hold(b"holding\n"), None);
        let mut p = b"a\nb\nc".to_vec();
        assert_eq!(take_lines(&mut p), 2);
        assert_eq!(p, b"c");
        assert_eq!(take_lines(&mut p), 0);
        p.extend_from_slice(b"\n");
        assert_eq!(take_lines(&mut p), 1);
        assert!(p.is_empty());
    }
}
