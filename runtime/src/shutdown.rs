//! Waiting for the signal that stops a daemon.

use tokio::signal::unix::{SignalKind, signal};
use tracing::warn;

/// Returns when SIGTERM (the kubelet stopping the pod) or SIGINT (Ctrl-C) arrives. If the
/// handlers cannot be installed, logs it and never returns: the process then stops only when
/// killed, without its graceful shutdown.
pub async fn shutdown_signal() {
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        (Err(error), _) | (_, Err(error)) => {
            warn!(%error, "cannot install signal handlers; stopping only when killed");
            std::future::pending::<()>().await;
        }
    }
}
