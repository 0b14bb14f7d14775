//! externalIPs policy and IPPool admission against the lab's real apiserver, which calls the
//! controller's webhook over TLS: the table of bad inputs, allowed inputs and removal, user
//! and group limits through real impersonation, pool overlap/shrink/node addresses, and a
//! webhook outage with failurePolicy Ignore caught by the reconcile path.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eip;

use ferrolb_e2e::testlab::TestLab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn externalips_and_pool_admission() {
    let (lab, client) = TestLab::installed(env!("CARGO_BIN_EXE_ferrolb-lab"))
        .await
        .expect("a lab with ferrolb installed");
    let s = eip::Eip { lab: &lab, client };
    s.setup().await;
    s.bad_input_table().await;
    s.allowed_and_removal().await;
    s.user_and_group_limits().await;
    s.pool_admission().await;
    s.outage_with_ignore().await;
}
