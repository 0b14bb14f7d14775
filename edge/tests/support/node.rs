//! A "node" for the test: in its namespace, an HTTP health server on port 10256 (`/healthz`,
//! 200 or 503 as switched) and TCP + UDP echo servers on the NodePort that answer with the
//! node's name (TCP: the name on connect, then `<name> <line>` for every line received).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio::sync::oneshot;

/// The health API port of the nodes.
pub const HEALTH_PORT: u16 = 10256;
/// The NodePort of the test Service (TCP and UDP).
pub const NODE_PORT: u16 = 30080;

/// A running node.
pub struct Node {
    healthy: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ferrolb_testkit::Error>>>,
}

impl Node {
    /// Starts the servers of node `name` in namespace `ns`; waits until they listen.
    pub fn start(ns: &str, name: &str) -> Node {
        let healthy = Arc::new(AtomicBool::new(true));
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let name = name.to_string();
        let h = healthy.clone();
        let thread = ferrolb_testkit::task_in(ns, move || async move {
            let health = dual_stack(HEALTH_PORT).unwrap();
            let tcp = dual_stack(NODE_PORT).unwrap();
            let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, NODE_PORT))
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            let app = Router::new().route("/healthz", get(healthz)).with_state(h);
            tokio::select! {
                _ = axum::serve(health, app) => {}
                () = echo_tcp(tcp, name.clone()) => {}
                () = echo_udp(udp, name) => {}
                _ = stopped => {}
            }
        });
        ready_rx.recv().unwrap();
        Node {
            healthy,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The switch of `/healthz`: `true` answers 200, `false` 503.
    pub fn switch(&self) -> Arc<AtomicBool> {
        self.healthy.clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `[::]:port`, which also accepts IPv4 (the namespace's default `bindv6only=0`).
fn dual_stack(port: u16) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v6()?;
    s.set_reuseaddr(true)?;
    s.bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port))?;
    s.listen(128)
}

async fn healthz(State(h): State<Arc<AtomicBool>>) -> (StatusCode, &'static str) {
    if h.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    }
}

async fn echo_tcp(listener: TcpListener, name: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let name = name.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            if write
                .write_all(format!("{name}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if write
                    .write_all(format!("{name} {line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

async fn echo_udp(socket: UdpSocket, name: String) {
    let mut buf = [0u8; 1500];
    loop {
        if let Ok((_, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(name.as_bytes(), from).await;
        }
    }
}
