//! Serving one listener with bounded resources: at most `max_connections` open at once
//! (accepting pauses while full), headers must arrive within `header_read_timeout` (also for
//! an idle keep-alive connection waiting for its next request), and no connection lives longer
//! than `connection_lifetime`, so slow or silent clients cannot pile up.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// Largest request head we buffer (hyper's minimum is 8 KiB).
const MAX_REQUEST_BUFFER: usize = 16 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Per-listener bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// Time after which any connection is closed, whatever it is doing.
    pub connection_lifetime: Duration,
}

pub use ferrolb_runtime::listen::bind;

/// Serves `router` on `listener` until the task running it is aborted; connections are
/// tasks of this future's own [`JoinSet`], so aborting it closes them too.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnLimits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return; // never closed
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "health API: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        conns.spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_REQUEST_BUFFER);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(limits.connection_lifetime, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => debug!(%peer, %error, "health API: connection ended"),
                Err(_) => debug!(%peer, "health API: connection lifetime reached, closed"),
            }
        });
    }
}
