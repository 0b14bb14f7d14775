//! externalIPs policy and VIPPool admission against the lab's real apiserver, which calls the
//! controller's webhook over TLS: the table of bad inputs, allowed inputs and removal, user
//! and group limits through real impersonation, pool overlap/shrink/node addresses, and a
//! webhook outage with failurePolicy Ignore caught by the reconcile path; uninstalling (no
//! webhook configuration, no node table, externalIPs accepted again; tables kept across a
//! rolling restart of the speakers), then installing again.
//!
//! One lab for the whole binary, started by the first scenario; each scenario is its own test,
//! takes its turn on the lab and starts from the same ground (both controllers ready, the
//! policies, namespaces and pools of [`eip::Eip::setup`]), so any one runs alone
//! (`cargo test -p ferrolb-e2e --features root-tests --test externalips -- pool_admission`).

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eip;

use eip::Eip;

// One test per scenario: takes its turn on the shared lab, lays the common ground and runs
// that step of [`Eip`].
ferrolb_e2e::lab_scenarios!(
    Eip,
    begin:
    bad_input_table,
    allowed_and_removal,
    user_and_group_limits,
    pool_admission,
    outage_with_ignore,
    uninstall,
);
