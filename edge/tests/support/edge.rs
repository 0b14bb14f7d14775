//! The edge under test: the library's [`Engine`] on a thread inside the edge namespace,
//! driven by commands. Dropping every handle (or a panic in the test) ends the thread after
//! [`Engine::shutdown`], so the addresses go even when the test fails.

use std::thread::JoinHandle;

use ferrolb_edge::engine::{DataPlaneView, Engine, EngineConfig};
use ferrolb_edge::frontends::{EdgeRanges, Frontend};
use ferrolb_edge::metrics::Metrics;
use tokio::sync::{mpsc, oneshot};

enum Cmd {
    Apply(Vec<Frontend>, EdgeRanges, oneshot::Sender<()>),
    State(oneshot::Sender<DataPlaneView>),
    Shutdown(oneshot::Sender<Result<usize, String>>),
}

/// A handle on the edge thread.
#[derive(Clone)]
pub struct EdgeHandle {
    tx: mpsc::Sender<Cmd>,
}

/// Starts the engine in `ns` on its interface; returns the handle and the thread.
pub fn start(
    ns: &str,
    config: EngineConfig,
) -> (EdgeHandle, JoinHandle<Result<(), ferrolb_testkit::Error>>) {
    let (tx, mut rx) = mpsc::channel::<Cmd>(8);
    let thread = ferrolb_testkit::task_in(ns, move || async move {
        let (metrics, _registry) = Metrics::new();
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let mut engine = Engine::start(&config, metrics, changed).await.unwrap();
        let view = engine.view();
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Apply(frontends, edge, done) => {
                    engine.apply(&frontends, &edge).await;
                    let _ = done.send(());
                }
                Cmd::State(reply) => {
                    let _ = reply.send(view.render());
                }
                Cmd::Shutdown(reply) => {
                    let _ = reply.send(engine.shutdown().await.map_err(|e| e.to_string()));
                }
            }
        }
        let _ = engine.shutdown().await;
    });
    (EdgeHandle { tx }, thread)
}

impl EdgeHandle {
    /// Serves exactly `frontends`.
    pub async fn apply(&self, frontends: Vec<Frontend>, edge: EdgeRanges) {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Cmd::Apply(frontends, edge, done))
            .await
            .ok()
            .unwrap();
        wait.await.unwrap();
    }

    /// The data plane's state now.
    pub async fn state(&self) -> DataPlaneView {
        let (reply, wait) = oneshot::channel();
        self.tx.send(Cmd::State(reply)).await.ok().unwrap();
        wait.await.unwrap()
    }

    /// Closes listeners, stops probes, removes the addresses.
    pub async fn shutdown(&self) -> Result<usize, String> {
        let (reply, wait) = oneshot::channel();
        self.tx.send(Cmd::Shutdown(reply)).await.ok().unwrap();
        wait.await.unwrap()
    }
}
