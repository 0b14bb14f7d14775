//! A minimal HTTP/1.1 client over raw TCP and bounded polling helpers for the health tests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrolb_speaker::health::HealthHandle;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const POLL: Duration = Duration::from_millis(50);
const REQUEST_DEADLINE: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), bounded in time.
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Result<Reply, String> {
    request_with(addr, method, path, None).await
}

/// [`request`] with an `Authorization` header.
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<Reply, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let auth = authorization.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n{auth}\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        parse(&raw)
    };
    tokio::time::timeout(REQUEST_DEADLINE, exchange)
        .await
        .map_err(|_| format!("{method} {path}: no answer within {REQUEST_DEADLINE:?}"))?
}

fn parse(raw: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no end of head")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty answer")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Polls `GET path` every 50 ms until `ok` holds; returns the time it took.
pub async fn answers_within(
    addr: SocketAddr,
    path: &str,
    deadline: Duration,
    ok: impl Fn(&Reply) -> bool,
) -> Duration {
    let start = Instant::now();
    let mut last = None;
    for _ in 0..=(deadline.as_millis() / POLL.as_millis()) {
        match request(addr, "GET", path).await {
            Ok(reply) if ok(&reply) => return start.elapsed(),
            other => last = Some(other),
        }
        if start.elapsed() > deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("GET {addr}{path}: condition not met within {deadline:?}; last: {last:?}");
}

/// Waits until `cond` holds on the handle, polling every 50 ms.
pub async fn handle_within(
    handle: &HealthHandle,
    deadline: Duration,
    cond: impl Fn(&HealthHandle) -> bool,
) {
    let start = Instant::now();
    while !cond(handle) {
        assert!(
            start.elapsed() < deadline,
            "not within {deadline:?}: open {:?}, failed {:?}",
            handle.ports_open(),
            handle.ports_failed()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Reads until the server closes the connection; returns how long that took.
pub async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(
            deadline.saturating_sub(start.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => continue, // an error answer before closing is fine
            Err(_) => panic!("connection still open after {deadline:?}"),
        }
    }
}
