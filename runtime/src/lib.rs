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
//! - [`allocator`]: the daemons' memory allocator ([`Allocator`]) and its counters.
#![forbid(unsafe_code)]

pub mod access;
pub mod allocator;
pub mod duration;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod pace;
pub mod shutdown;

pub use shutdown::shutdown_signal;

pub use allocator::{ALLOCATOR, Allocator};
