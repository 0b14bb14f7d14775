//! The controller against the lab's real apiserver: every allocation rule, status, events,
//! pool status, restarts and leader changes. One lab for the whole file; scenarios run in
//! order, each in its own namespace, and remove their pools when done.

mod scenarios;

use ferrolb_e2e::testlab::{TestLab, build_binaries, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_scenarios() {
    build_binaries().expect("building ferrolb's binaries");
    let lab = TestLab::start(env!("CARGO_BIN_EXE_ferrolb-lab"))
        .await
        .expect("starting the lab");
    lab.install(&repo_root()).await.expect("installing ferrolb");
    let client = lab.client().await.expect("a client");
    let s = scenarios::Scenarios { lab: &lab, client };
    s.basic().await;
    s.requests().await;
    s.sharing().await;
    s.dual_stack().await;
    s.selectors_and_priorities().await;
    s.disabled_and_manual().await;
    s.pool_shrunk_and_deleted().await;
    s.classes_and_type_changes().await;
    s.overlap_and_node_addresses().await;
    s.forged_status().await;
    s.restart_and_failover().await;
}
