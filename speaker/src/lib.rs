//! ferrolb speaker: ARP/NDP announcements, node service rules and the health API.
#![forbid(unsafe_code)]

pub mod election;
pub mod packets;
pub mod ruleset;
