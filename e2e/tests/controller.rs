//! The controller against the lab's real apiserver: every allocation rule, status, events,
//! pool status, the load-balancer cleanup finalizer, restarts and leader changes; ferrolb's own Pods as the node agent runs them. One lab for the whole binary, started by the
//! first scenario; each scenario is its own test, takes its turn on the lab, works in its own
//! namespace and removes its pools when done, so any one runs alone
//! (`cargo test -p ferrolb-e2e --features root-tests --test controller -- sharing`).

// Test support code unwraps too (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scenarios;
// MetalLB's migration, on this binary's lab (a lab of its own would cost minutes of CI).
#[path = "scenarios/metallb.rs"]
mod metallb;

use scenarios::Scenarios;

// One test per scenario: takes its turn on the shared lab and runs that step of [`Scenarios`].
ferrolb_e2e::lab_scenarios!(
    Scenarios:
    basic,
    decided_once,
    requests,
    sharing,
    dual_stack,
    selectors_and_priorities,
    disabled_and_manual,
    pool_shrunk_and_deleted,
    classes_and_type_changes,
    cleanup_finalizer,
    overlap_and_node_addresses,
    forged_status,
    restart_and_failover,
    installed_as_pods,
    killed_controller_restarts,
    pods_run_as_their_spec,
    liveness_failure_restarts,
);
