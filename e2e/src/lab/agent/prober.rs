//! Probe requests from a node's network namespace, where the kubelet makes them: one thread
//! per node entered into the node's namespace ([`ferrolb_testkit::task_in`]) runs each request
//! it is handed on its own runtime, so probes cost no process and no namespace switch.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::probes::Action;
use crate::traffic::probe::parse_http;

/// A request: what to ask of which address, and where the answer goes.
struct Request {
    ip: IpAddr,
    action: Action,
    timeout: Duration,
    reply: oneshot::Sender<Result<(), String>>,
}

/// Makes probe requests from inside one node's network namespace.
#[derive(Debug, Clone)]
pub struct NodeProber {
    tx: mpsc::UnboundedSender<Request>,
}

impl NodeProber {
    /// Starts the prober thread of network namespace `netns`.
    pub fn start(netns: &str) -> NodeProber {
        let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
        let name = netns.to_string();
        // The thread ends when every sender is gone (the agent exits).
        drop(ferrolb_testkit::task_in(netns, move || async move {
            while let Some(req) = rx.recv().await {
                tokio::spawn(async move {
                    let outcome = tokio::time::timeout(req.timeout, ask(req.ip, &req.action))
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!("timed out after {}s", req.timeout.as_secs_f64()))
                        });
                    let _ = req.reply.send(outcome);
                });
            }
            eprintln!("agent: the prober of {name} stopped");
        }));
        NodeProber { tx }
    }

    /// One probe of `ip`: Ok, or why it failed (the kubelet's event message).
    pub async fn probe(
        &self,
        ip: IpAddr,
        action: &Action,
        timeout: Duration,
    ) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        let req = Request {
            ip,
            action: action.clone(),
            timeout,
            reply,
        };
        self.tx
            .send(req)
            .map_err(|_| "the node's prober is gone".to_string())?;
        answer
            .await
            .unwrap_or_else(|_| Err("the node's prober dropped the probe".into()))
    }
}

async fn ask(ip: IpAddr, action: &Action) -> Result<(), String> {
    match action {
        Action::Tcp { port } => {
            let to = SocketAddr::new(ip, *port);
            TcpStream::connect(to)
                .await
                .map(drop)
                .map_err(|e| format!("dial tcp {to}: {e}"))
        }
        Action::Http { port, path } => {
            let to = SocketAddr::new(ip, *port);
            let mut s = TcpStream::connect(to)
                .await
                .map_err(|e| format!("Get \"http://{to}{path}\": {e}"))?;
            let req = format!(
                "GET {path} HTTP/1.0\r\nHost: {to}\r\nUser-Agent: kube-probe/lab\r\nAccept: */*\r\n\r\n"
            );
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| format!("writing to {to}: {e}"))?;
            let mut out = Vec::new();
            s.read_to_end(&mut out)
                .await
                .map_err(|e| format!("reading from {to}: {e}"))?;
            let text = String::from_utf8_lossy(&out);
            match parse_http(&text) {
                Some((code, _)) if (200..400).contains(&code) => Ok(()),
                Some((code, _)) => Err(format!("HTTP probe failed with statuscode: {code}")),
                None => Err(format!("{to}{path}: not an HTTP answer")),
            }
        }
    }
}
