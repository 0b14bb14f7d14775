//! Scratch network namespaces for the benchmarks (`flbbench-<pid>-<role>`), removed on drop —
//! also when the benchmark fails or panics — and threads that run inside one of them.

use std::future::Future;
use std::thread::{self, JoinHandle};

use nix::sched::{CloneFlags, setns};

use crate::{Error, netns};

/// Start of every benchmark namespace's name.
const PREFIX: &str = "flbbench-";

/// The pid in `flbbench-<pid>-<role>`.
fn owner(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Every namespace a benchmark made; dropping this deletes them.
#[derive(Debug)]
pub struct Scratch {
    prefix: String,
    made: Vec<String>,
}

impl Scratch {
    /// Nothing made yet; names will be `flbbench-<pid>-<role>`. Removes leftovers of
    /// benchmarks that were killed (their pid no longer runs).
    pub fn new() -> Scratch {
        for name in netns::list(PREFIX) {
            if let Some(pid) = owner(&name)
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                tracing::info!(netns = %name, "removing a killed benchmark's namespace");
                let _ = netns::delete(&name);
            }
        }
        Scratch {
            prefix: format!("{PREFIX}{}", std::process::id()),
            made: Vec::new(),
        }
    }

    /// Creates namespace `<prefix>-<role>` (loopback up, DAD off, forwarding as asked) and
    /// returns its name. A leftover of the same name (same pid, earlier crash) is replaced.
    pub fn add(&mut self, role: &str, forwarding: bool) -> Result<String, Error> {
        let name = format!("{}-{role}", self.prefix);
        netns::delete(&name)?;
        self.made.push(name.clone());
        netns::create(&name, forwarding)?;
        Ok(name)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for name in self.made.iter().rev() {
            if let Err(error) = netns::delete(name) {
                tracing::warn!(netns = %name, %error, "cannot delete a scratch namespace");
            }
        }
    }
}

/// Runs `f` on a new thread that first enters network namespace `ns` (so every socket it
/// opens belongs to `ns`).
pub fn thread_in<T, F>(ns: &str, f: F) -> JoinHandle<Result<T, Error>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file =
            std::fs::File::open(&path).map_err(|e| Error::io(format!("opening {path}"), e))?;
        setns(&file, CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::msg(format!("entering {path}: {e}")))?;
        f()
    })
}

/// [`thread_in`] with a current-thread tokio runtime created there.
pub fn spawn_in<T, F, Fut>(ns: &str, f: F) -> JoinHandle<Result<T, Error>>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Error>>,
{
    thread_in(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting a runtime", e))?;
        rt.block_on(f())
    })
}

/// Waits (without blocking the runtime) for a thread from [`spawn_in`].
pub async fn join<T: Send + 'static>(handle: JoinHandle<Result<T, Error>>) -> Result<T, Error> {
    tokio::task::spawn_blocking(move || handle.join())
        .await
        .map_err(|e| Error::msg(format!("joining a namespace thread: {e}")))?
        .map_err(|_| Error::msg("a namespace thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::owner;

    #[test]
    fn owner_is_the_pid_in_the_name() {
        assert_eq!(owner("flbbench-4242-node"), Some(4242));
        assert_eq!(owner("flbbench-try-a"), None);
        assert_eq!(owner("flbt-dp1-a"), None);
    }
}
