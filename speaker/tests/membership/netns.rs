//! Network namespaces for tests: created with iproute2, removed on drop (also when a test
//! fails), and a way to run async code on a thread inside one.

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs a command line (words separated by spaces) that must succeed; returns its stdout.
pub fn ok(cmdline: &str) -> String {
    let argv: Vec<&str> = cmdline.split_whitespace().collect();
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmdline}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace with `lo` up, removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("flbt-{tag}{}-{n}", std::process::id());
        ok(&format!("ip netns add {name}"));
        let ns = Netns { name };
        ns.ip("link set lo up");
        ns
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &str) -> String {
        ok(&format!("ip -n {} {args}", self.name))
    }

    /// Runs `f` on a new thread inside this namespace, on a current-thread tokio runtime;
    /// a panic in `f` is raised here.
    pub fn run<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f())
        });
        match thread.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
