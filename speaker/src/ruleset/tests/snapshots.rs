//! Snapshot tests: the full script of each representative scenario, compared with
//! `snapshots/<scenario>.snap` by insta. After an intended change, rerun with
//! `INSTA_UPDATE=always cargo test -p ferrolb-speaker --lib ruleset` (or `cargo insta review`)
//! and review the diff.

use super::super::build;
use super::fixtures;

fn check(name: &str) {
    let input = fixtures::scenarios()
        .into_iter()
        .find(|(scenario, _)| *scenario == name)
        .map(|(_, input)| input)
        .expect("scenario exists");
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, build(&input).to_nft_script());
    });
}

macro_rules! snapshot_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*

        #[test]
        fn every_scenario_has_a_snapshot_test() {
            let tested = [$(stringify!($name)),*];
            for (scenario, _) in fixtures::scenarios() {
                assert!(tested.contains(&scenario), "no snapshot test for {scenario}");
            }
        }
    };
}

snapshot_tests!(
    cluster_tcp,
    local_policy,
    local_without_local_endpoints,
    named_port,
    udp,
    sctp,
    source_ranges,
    affinity,
    terminating_fallback,
    no_endpoints,
    dual_stack,
    node_port,
    node_port_any_local_address,
);
