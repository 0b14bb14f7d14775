//! ferrolb speaker: ARP/NDP announcements, node service rules and the health API.
// `deny`, not `forbid`: `announcer::rawsock` (AF_PACKET socket calls) is the one module
// allowed `unsafe`, each block with a `// SAFETY:` comment.
#![deny(unsafe_code)]

pub mod announcer;
pub mod daemon;
pub mod dataplane;
pub mod election;
pub mod health;
pub mod interfaces;
pub mod membership;
pub mod nodestate;
pub mod packets;
pub mod ruleset;
pub mod wire;
