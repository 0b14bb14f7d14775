//! The node-local file holding [`KeptHealth`] (`--kept-state`, a hostPath under `/run`): written
//! after every synced health snapshot that changes it, read once at start. A speaker started
//! while the apiserver is unreachable serves it until its watches sync, but only while the
//! table it describes is still in the kernel (`/run` and the table both go with a reboot).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::dataplane::Nft;
use crate::health::{HealthSnapshot, KeptHealth, SnapshotRx};

/// The snapshot to serve until the first sync: the kept state when the file is this node's and,
/// if the node programs rules (`serve_node_ports`), table `inet ferrolb` still holds a sync
/// token; otherwise `starting`.
pub async fn restore(
    path: &Path,
    node: &str,
    serve_node_ports: bool,
    nft: &Nft,
    starting: HealthSnapshot,
) -> HealthSnapshot {
    let kept = match tokio::fs::read(path).await {
        Ok(bytes) => match serde_json::from_slice::<KeptHealth>(&bytes) {
            Ok(kept) => kept,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "the kept health state is not readable; starting without it");
                return starting;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return starting,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the kept health state; starting without it");
            return starting;
        }
    };
    if serve_node_ports {
        match nft.sync_tokens().await {
            Ok(Some(tokens)) if !tokens.is_empty() => {}
            other => {
                info!(path = %path.display(), table = ?other.map_err(|e| e.to_string()),
                    "table inet ferrolb is not the kept one; the kept health state is not used");
                return starting;
            }
        }
    }
    match kept.restore(node, serve_node_ports) {
        Some(snapshot) => {
            info!(path = %path.display(), services = kept.services.len(),
                "serving the kept health state until the watches sync");
            snapshot
        }
        None => {
            warn!(path = %path.display(), kept_node = %kept.node, %node,
                "the kept health state is another node's; starting without it");
            starting
        }
    }
}

/// Writes the kept state of every synced snapshot that changes it (atomically: a temporary
/// file renamed over `path`); ends with the channel.
pub fn spawn_writer(path: PathBuf, node: String, mut rx: SnapshotRx) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Option<KeptHealth> = None;
        loop {
            let snapshot: Arc<HealthSnapshot> = rx.borrow_and_update().clone();
            if let Some(kept) = KeptHealth::of(&node, &snapshot)
                && last.as_ref() != Some(&kept)
            {
                match write(&path, &kept).await {
                    Ok(()) => last = Some(kept),
                    Err(e) => {
                        warn!(path = %path.display(), error = %e, "cannot write the kept health state; a restart during an apiserver outage will answer as a starting node")
                    }
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    })
}

async fn write(path: &Path, kept: &KeptHealth) -> std::io::Result<()> {
    let text = serde_json::to_vec(kept).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, text).await?;
    tokio::fs::rename(&tmp, path).await
}
