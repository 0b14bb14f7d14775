//! Programs the node's Service rules (thin I/O around [`crate::ruleset`]).
//!
//! - [`Applier`] keeps table `inet ferrolb` equal to the latest
//!   [`Ruleset`](crate::ruleset::Ruleset): full atomic replacement the first
//!   time or when the table vanished or was recreated behind its back, else
//!   an in-place update (falling back to one replacement if refused); then it
//!   deletes UDP conntrack entries of endpoints that went away.
//! - [`detect_kube_proxy`] looks for kube-proxy; the pure [`Decider`] turns each detection
//!   into a [`Decision`] (`--dataplane=auto` keeps deciding, with hysteresis) and
//!   [`supervise`] runs both on a task, publishing each new decision.
//! - [`Nft`] and [`Conntrack`] run the tools, in the current network
//!   namespace or (tests) in a named one. They only ever write table
//!   `inet ferrolb`; other tables are never touched.
//!
//! - [`inspect`] reads what the kernel's tables (ferrolb's and kube-proxy's) do with one
//!   address, for `/debug/rules`.
//!
//! Everything that decides *what* to run is pure ([`choose_mode`],
//! [`conntrack_deletions`], [`find_kube_proxy`], [`Decider`]).

mod applier;
mod command;
mod conntrack;
mod decider;
mod detect;
pub mod inspect;
mod nft;
mod plan;
mod supervisor;

#[cfg(test)]
mod tests;

pub use applier::{Applier, ConntrackReport, RESYNC_EVERY, SyncError, SyncReport};
pub use command::CommandError;
pub use conntrack::{CONNTRACK_TIMEOUT, Conntrack};
pub use decider::{DETECT_INTERVAL, Decider, Decision, TAKEOVER_DELAY};
pub use detect::{KubeProxy, Mode, detect_kube_proxy, find_kube_proxy};
pub use nft::{NFT_TIMEOUT, Nft, NftError};
pub use plan::{
    ConntrackDeletion, FullReason, SyncMode, choose_mode, conntrack_deletions, deleted_flow_count,
    sync_tokens,
};
pub use supervisor::{ChangeLabels, DecisionMetrics, SupervisorConfig, supervise, supervise_with};
