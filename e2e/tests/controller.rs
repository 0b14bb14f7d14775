//! The controller against the lab's real apiserver: every allocation rule, status, events,
//! pool status, restarts and leader changes. One lab for the whole file; scenarios run in
//! order, each in its own namespace, and remove their pools when done.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scenarios;

use ferrolb_e2e::testlab::TestLab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_scenarios() {
    let (lab, client) = TestLab::installed(env!("CARGO_BIN_EXE_ferrolb-lab"))
        .await
        .expect("a lab with ferrolb installed");
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
