//! The speaker's health API, compatible with kube-proxy's, so an unmodified cloud load
//! balancer can probe ferrolb nodes.
//!
//! - Main port: `/healthz` (node eligible for traffic), `/livez` and
//!   `/services/{namespace}/{name}`, any method; other paths: Go's 404, like kube-proxy. Both
//!   families on `0.0.0.0` ([`serve::bind`]).
//! - `/metrics`, `/debug/state`, `/debug/probe` and `/debug/rules` are not there: [`admin`]
//!   serves them on their own, authenticated listener.
//! - While the snapshot says so (`serve_node_ports`: the dataplane decision; never while
//!   announce-only, so that kube-proxy can bind them), each `spec.healthCheckNodePort` in the
//!   snapshot, answering any path like kube-proxy.
//! - Every request is counted by kind of path and code ([`requests`]).
//!
//! The speaker's loop publishes an `Arc<`[`HealthSnapshot`]`>` on a `tokio::sync::watch`
//! channel; every request reads the latest one, so answers flip as soon as it is published.
//! [`model`] and [`answers`] are pure; [`server`], [`node_ports`] and [`serve`] do the I/O.

pub mod admin;
pub mod answers;
pub mod kept;
pub mod model;
pub mod node_ports;
pub mod requests;
pub mod serve;
pub mod server;
pub mod timefmt;

#[cfg(test)]
mod tests;

pub use answers::Answer;
pub use kept::KeptHealth;
pub use model::{DebugState, HealthSnapshot, Judge, RulesState, ServiceHealth, Verdict};
pub use node_ports::PortStatus;
pub use requests::{HealthRequests, PathKind};
pub use serve::ConnLimits;
pub use server::{HealthConfig, HealthError, HealthHandle, HealthServer, SnapshotRx};
