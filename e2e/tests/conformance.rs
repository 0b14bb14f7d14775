//! The upstream Kubernetes LoadBalancer e2e tests (the pinned release's `test/e2e/network`)
//! against ferrolb, beside the real kube-proxy (nftables) with ferrolb installed from deploy/:
//! the subset `cargo xtask test` runs (the cleanup finalizer, changing a Service's type and
//! ports, and the two externalTrafficPolicy=Local tests that check every node's health check
//! node port). The whole selection runs with `cargo xtask conformance`.

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ferrolb_e2e::conformance::{self, Options, State, runner};
use ferrolb_e2e::testlab::repo_root;

ferrolb_e2e::lab_test!(upstream_subset, kube_proxy = Nftables, |turn| {
    conformance::prepare(turn.lab).await.unwrap();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), Into::into);
    let opts = Options {
        out: target.join("conformance-subset"),
        subset: true,
        only: None,
        skips: conformance::load_skips(&repo_root().join("e2e/conformance/skips.yaml")).unwrap(),
        timeout: Duration::from_secs(6 * 60),
    };
    let lab = turn.lab;
    let outcomes = tokio::task::spawn_blocking(move || conformance::run(lab, &opts))
        .await
        .unwrap()
        .unwrap();
    let (passed, failed, skipped) = runner::counts(&outcomes);
    let report: Vec<String> = outcomes.iter().map(runner::line).collect();
    assert_eq!(
        (passed, failed, skipped),
        (conformance::SUBSET.len(), 0, 0),
        "upstream tests:\n{}",
        report.join("\n")
    );
    assert!(outcomes.iter().all(|o| o.state == State::Passed));
});
