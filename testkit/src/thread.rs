//! Threads inside a network namespace: `setns` on the thread itself, so every socket it (and
//! a current-thread tokio runtime on it) opens belongs to the namespace.

use std::fs::File;
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

use crate::Error;

/// Moves the calling thread into network namespace `ns`.
pub fn enter(ns: &str) -> Result<(), Error> {
    let path = format!("/run/netns/{ns}");
    let enter_err = |reason: String| Error::Enter {
        netns: ns.to_string(),
        reason,
    };
    let file = File::open(&path).map_err(|e| enter_err(format!("opening {path}: {e}")))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| enter_err(format!("setns: {e}")))
}

/// Runs `f` on a new thread that first enters namespace `ns`.
pub fn thread_in<T, F>(ns: &str, f: F) -> JoinHandle<Result<T, Error>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns)?;
        Ok(f())
    })
}

/// Runs the future `f` makes on a new thread inside `ns`, on a current-thread tokio runtime.
pub fn task_in<T, F, Fut>(ns: &str, f: F) -> JoinHandle<Result<T, Error>>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(rt.block_on(f()))
    })
}

/// Waits for a namespace thread without blocking the calling tokio runtime.
pub async fn join<T: Send + 'static>(
    ns: &str,
    handle: JoinHandle<Result<T, Error>>,
) -> Result<T, Error> {
    let panicked = || Error::Panicked(ns.to_string());
    tokio::task::spawn_blocking(move || handle.join())
        .await
        .map_err(|_| panicked())?
        .map_err(|_| panicked())?
}
