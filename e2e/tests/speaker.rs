//! The speakers in the lab, against the real apiserver and controller: ARP/NDP answers from
//! the elected node seen by the client's own tools (arping, ndisc6), TCP through the VIP,
//! eTP=Local, forged and uncovered addresses never answered, L2Announcement node selection,
//! and failover on SIGKILL, on SIGTERM and during an apiserver outage.

mod spk;

use ferrolb_e2e::testlab::{TestLab, build_binaries, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speakers_announce_and_fail_over() {
    build_binaries().expect("building ferrolb's binaries");
    let lab = TestLab::start(env!("CARGO_BIN_EXE_ferrolb-lab"))
        .await
        .expect("starting the lab");
    lab.install(&repo_root()).await.expect("installing ferrolb");
    let client = lab.client().await.expect("a client");
    let s = spk::Spk { lab: &lab, client };
    s.setup().await;
    let ips = s.announce().await;
    s.never_answered().await;
    s.local().await;
    s.rules().await;
    s.node_selector(ips[0]).await;
    s.kill_announcer(ips[0]).await;
    s.stop_announcer(ips[0]).await;
    s.apiserver_outage(ips[0]).await;
}
