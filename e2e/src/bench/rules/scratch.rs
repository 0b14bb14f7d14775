//! Scratch network namespaces for the benchmarks (the test kit's `flbt-<pid>-<n>-bench-<role>`),
//! removed on drop — also when the benchmark fails or panics — and threads that run inside one
//! of them.

use std::future::Future;
use std::thread::{self, JoinHandle};

use ferrolb_testkit::{Netns, Sysctls};

use crate::Error;

/// Every namespace a benchmark made; dropping this deletes them.
#[derive(Debug, Default)]
pub struct Scratch {
    made: Vec<Netns>,
}

impl Scratch {
    /// Nothing made yet (the test kit removes leftovers of killed runs).
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// Creates a namespace for `role` (loopback up, DAD off, forwarding as asked) and returns
    /// its name.
    pub fn add(&mut self, role: &str, forwarding: bool) -> Result<String, Error> {
        let netns = Netns::with(&format!("bench-{role}"), Sysctls::host(forwarding))?;
        let name = netns.name().to_string();
        self.made.push(netns);
        Ok(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        while let Some(netns) = self.made.pop() {
            drop(netns);
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
    let ns = ns.to_string();
    thread::spawn(move || {
        ferrolb_testkit::enter(&ns)?;
        f()
    })
}

/// `thread_in` with a current-thread tokio runtime created there.
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
