//! Snapshot tests: the full script of each representative scenario, compared
//! with `snapshots/<scenario>.nft`. Regenerate after an intended change with
//! `FERROLB_UPDATE_SNAPSHOTS=1 cargo test` and review the diff.

use std::path::PathBuf;

use super::super::build;
use super::fixtures;

/// Directory of the snapshot files, wherever the crate is built from.
pub fn snapshot_dir() -> PathBuf {
    let here = PathBuf::from(file!());
    let candidates = if here.is_absolute() {
        vec![here]
    } else {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut list = vec![manifest.join(&here)];
        if let Some(workspace) = manifest.parent() {
            list.push(workspace.join(&here));
        }
        list
    };
    candidates
        .into_iter()
        .filter_map(|file| file.parent().map(|dir| dir.join("snapshots")))
        .find(|dir| dir.is_dir())
        .expect("snapshot directory next to snapshots.rs")
}

fn check(name: &str, expected: &str) {
    let input = fixtures::scenarios()
        .into_iter()
        .find(|(scenario, _)| *scenario == name)
        .map(|(_, input)| input)
        .expect("scenario exists");
    let actual = build(&input).to_nft_script();
    if std::env::var_os("FERROLB_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(snapshot_dir().join(format!("{name}.nft")), &actual).unwrap();
        return;
    }
    assert_eq!(
        actual, expected,
        "snapshot {name}.nft differs; if intended, rerun with FERROLB_UPDATE_SNAPSHOTS=1"
    );
}

macro_rules! snapshot_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(
                    stringify!($name),
                    include_str!(concat!("snapshots/", stringify!($name), ".nft")),
                );
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
