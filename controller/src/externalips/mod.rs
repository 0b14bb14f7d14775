//! Policy review of Service `spec.externalIPs`, closing CVE-2020-8554.
//!
//! Anyone who can write `spec.externalIPs` can otherwise take traffic for any address,
//! even a Node's own: every node then delivers traffic "to" that address locally.
//! ferrolb reviews externalIPs in an admission webhook ([`review()`], [`review_update`])
//! and again at reconcile time ([`review()`] with no requester). Both paths use this pure
//! module; the shells map Kubernetes objects onto the plain types in [`model`].
//!
//! Secure default: with no [`Policy`] at all, every externalIP is refused. Addresses are
//! judged after turning IPv4-mapped IPv6 (`::ffff:a.b.c.d`) into IPv4, so
//! `::ffff:127.0.0.1` is a loopback address and `::ffff:<node IP>` a node's address.
//! The rules, in the order checked, are listed on [`Rule`].

pub mod cidr;
pub mod examples;
mod fixed_rules;
pub mod model;
mod policy_rules;
pub mod review;
pub mod verdict;

pub use cidr::{CidrProblem, PolicyError, parse_cidr, parse_cidr_list};
pub use model::{Claim, ClaimKind, ClusterFacts, Policy, ServiceRef, UserInfo};
pub use review::{UpdateReview, review, review_update};
pub use verdict::{ConfigProblem, Outcome, Review, Rule, Verdict};

#[cfg(test)]
mod tests;
