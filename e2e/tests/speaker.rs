//! The speakers in the lab, against the real apiserver and controller: ARP/NDP answers from
//! the elected node seen by the client's own tools (arping, ndisc6), TCP through the VIP,
//! eTP=Local, forged and uncovered addresses never answered, L2Announcement node selection,
//! SCTP through a VIP (crafted on a raw socket), a held TCP flow surviving endpoint changes,
//! serviceSelector and interfaces, the exclude label, a node's table restored after deletion,
//! and failover on SIGKILL, on SIGTERM and during an apiserver outage.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod spk;

use ferrolb_e2e::testlab::TestLab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speakers_announce_and_fail_over() {
    let (lab, client) = TestLab::installed(env!("CARGO_BIN_EXE_ferrolb-lab"))
        .await
        .expect("a lab with ferrolb installed");
    let s = spk::Spk { lab: &lab, client };
    s.setup().await;
    let ips = s.announce().await;
    s.never_answered().await;
    s.local().await;
    s.rules().await;
    s.flows().await;
    s.node_selector(ips[0]).await;
    s.policy(ips[0]).await;
    s.table_restored(ips[0]).await;
    s.kill_announcer(ips[0]).await;
    s.stop_announcer(ips[0]).await;
    s.apiserver_outage(ips[0]).await;
}
