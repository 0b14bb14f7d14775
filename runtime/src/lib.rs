//! What the ferrolb daemons (controller, speaker, edge) share at their edges, so that each
//! binary's flags and process plumbing read and behave the same:
//!
//! - [`logging`]: the `--log-format` and `--log-level` flags and the tracing subscriber;
//! - [`duration`]: the one value parser of every duration flag (`150ms`, `10s`, `5m`);
//! - [`shutdown`]: waiting for SIGTERM or SIGINT;
//! - [`metrics`]: the `/metrics` handler (OpenMetrics text of a registry), the registrar of
//!   every metric and the shared `ok`/`error` labels;
//! - [`access`]: `/metrics` and `/debug/state` on their own listener, behind a `TokenReview`
//!   and a `SubjectAccessReview` (as kube-rbac-proxy), never on a load-balancer-facing port;
//! - [`pace`]: how long a loop that recomputes everything waits before its next pass;
//! - [`Allocator`]: the daemons' memory allocator.
#![forbid(unsafe_code)]

pub mod access;
pub mod duration;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod pace;
pub mod shutdown;

pub use shutdown::shutdown_signal;

/// The daemons' memory allocator (each binary's `#[global_allocator]`, and what the speaker's
/// heap harness counts on top of): jemalloc, with its background thread returning freed pages.
/// With glibc's malloc a speaker's step at 10,000 Services spent about a third of its time in
/// malloc and free, and its resident set stayed well above the live heap (issue 21; heap
/// harness, bench-release: steady step 76 → 60 ms, resident set 133 → 121 MB; mimalloc gave
/// 61 ms but 182–191 MB).
pub type Allocator = tikv_jemallocator::Jemalloc;

/// The one value of [`Allocator`].
pub const ALLOCATOR: Allocator = tikv_jemallocator::Jemalloc;
