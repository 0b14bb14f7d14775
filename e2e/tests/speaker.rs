//! The speakers in the lab, against the real apiserver and controller: ARP/NDP answers from
//! the elected node seen by the client's own tools (arping, ndisc6), TCP through the VIP,
//! eTP=Local, forged and uncovered addresses never answered, L2AnnouncementPolicy node selection,
//! SCTP through a VIP (crafted on a raw socket), a held TCP flow surviving endpoint changes,
//! serviceSelector and interfaces, the exclude label, a node's table restored after deletion,
//! failover on SIGKILL, on SIGTERM and during an apiserver outage, forged gossip from the client
//! and a gossip key rotation; `kubectl ferrolb why` naming each broken link and its fix
//! (`spk/why.rs`).
//!
//! One lab for the whole binary, started by the first scenario; each scenario is its own test,
//! takes its turn on the lab and starts from the same ground (namespace, pools, the LAN
//! L2AnnouncementPolicy, every speaker and the apiserver running, Service `web` with a pod per
//! node), so any one runs alone
//! (`cargo test -p ferrolb-e2e --features root-tests --test speaker -- kill_announcer`).

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod spk;

use spk::Spk;

/// One test per scenario: takes its turn on the shared lab, lays the common ground and runs
/// that step of [`Spk`]; `(ip)` ones get the IPv4 address of Service `web`.
macro_rules! scenario {
    ($name:ident) => {
        scenario!($name, |s, _web| s.$name());
    };
    ($name:ident(ip)) => {
        scenario!($name, |s, web| s.$name(web[0]));
    };
    ($name:ident, |$s:ident, $web:ident| $call:expr) => {
        ferrolb_e2e::lab_test!($name, |turn| {
            let $s = Spk::of(&turn);
            let $web = $s.begin().await;
            $call.await;
        });
    };
}

scenario!(announce);
scenario!(never_answered);
scenario!(forged_status(ip));
scenario!(local);
scenario!(rules);
scenario!(debug_probe(ip));
scenario!(flows);
scenario!(node_selector(ip));
scenario!(policy(ip));
scenario!(table_restored(ip));
scenario!(kill_announcer(ip));
scenario!(kill_announcer_v6, |s, web| s.kill_announcer(web[1]));
scenario!(stop_announcer(ip));
scenario!(apiserver_outage(ip));
scenario!(forged_gossip(ip));
scenario!(gossip_rotation(ip));
scenario!(why_address);
scenario!(why_announcer);
