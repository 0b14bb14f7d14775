//! The pods' backend: whatever the image, a pod answers on each container port (TCP and UDP)
//! with its name and the source address it saw, so tests tell which backend answered and
//! whether the client's address survived. HTTP requests get the same line as an HTTP body.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::Error;

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
}
