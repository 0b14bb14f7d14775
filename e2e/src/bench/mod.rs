//! The benchmarks (`cargo xtask bench ...`): allocation, speakers, edge, failover in the lab;
//! the node's rules and ARP answers in scratch namespaces without a lab.

pub mod alloc;
pub mod arp;
pub mod edge;
pub mod failover;
pub mod rules;
pub mod speaker;

pub use alloc::{AllocOptions, alloc, peak_rss};
