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

/// The speaker's memory allocator (its binary's `#[global_allocator]`, and what the heap
/// harness counts on top of): jemalloc, with its background thread returning freed pages.
/// With glibc's malloc a step at 10,000 Services spent about a third of its time in malloc
/// and free, and the resident set stayed well above the live heap (issue 21; heap harness,
/// bench-release: steady step 76 → 60 ms, resident set 133 → 121 MB; mimalloc measured
/// 61 ms but 182-191 MB).
pub type Allocator = tikv_jemallocator::Jemalloc;
