//! The generated scripts against the real `nft` parser and kernel.

use super::super::{Ruleset, build};
use super::fixtures::{self, NODE};
use super::nft::{self, Step};
use std::sync::Arc;

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "runs nft as root: feature root-tests (cargo xtask test)"
)]
fn every_scenario_script_passes_nft_check() {
    for (name, input) in fixtures::scenarios() {
        nft::assert_accepted(name, &build(&input).to_nft_script());
    }
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "runs nft as root: feature root-tests (cargo xtask test)"
)]
fn update_scripts_pass_nft_check() {
    let scenarios: Vec<Ruleset> = fixtures::scenarios()
        .iter()
        .map(|(_, input)| build(input))
        .collect();
    let empty = build(&fixtures::node(Vec::new()));
    let mut previous = Ruleset::default();
    for (index, current) in scenarios.iter().chain([&empty]).enumerate() {
        // One transaction: the previous table, then the update on top of it.
        let script = previous.to_nft_script() + &current.to_nft_update_script(&previous).unwrap();
        nft::assert_accepted(&format!("update #{index}"), &script);
        let resync = previous.to_nft_script() + &current.to_nft_resync_script(&previous);
        nft::assert_accepted(&format!("resync #{index}"), &resync);
        previous = current.clone();
    }
}

/// Applies every scenario for real, full replacement then in-place updates,
/// in a private network namespace that disappears with the test (`nft -c`
/// does not check hook compatibility, e.g. `dnat` reached from a filter
/// chain; a commit does). Needs root.
#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "runs nft as root: feature root-tests (cargo xtask test)"
)]
fn scenarios_apply_for_real_in_private_namespace() {
    let rulesets: Vec<Ruleset> = fixtures::scenarios()
        .iter()
        .map(|(_, input)| build(input))
        .collect();
    let mut steps: Vec<Step> = rulesets
        .iter()
        .map(|ruleset| Step::Script(ruleset.to_nft_script()))
        .collect();
    // The kernel holds the last scenario now: update from it through all of them.
    let mut previous = rulesets[rulesets.len() - 1].clone();
    for ruleset in &rulesets {
        steps.push(Step::Script(
            ruleset.to_nft_update_script(&previous).unwrap(),
        ));
        previous = ruleset.clone();
    }
    steps.push(Step::Command("list table inet ferrolb".to_string()));
    let listing = nft::apply_in_private_namespace(&steps);
    let last = &fixtures::scenarios()[rulesets.len() - 1];
    assert!(listing.contains("chain services"), "{listing}");
    assert!(last.0.starts_with("node_port"), "last scenario changed");
    assert!(listing.contains("tcp . 30080"), "{listing}");
}

/// The update script keeps the affinity set of an endpoint that stays, drops
/// the one of an endpoint that left, and rewrites what uses them.
#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "runs nft as root: feature root-tests (cargo xtask test)"
)]
fn update_keeps_affinity_state_of_surviving_endpoints() {
    let before = fixtures::affinity();
    let mut after = before.clone();
    Arc::make_mut(&mut after.services[0])
        .endpoints
        .retain(|endpoint| endpoint.node.as_deref() == Some(NODE));
    let (old, new) = (build(&before), build(&after));
    let kept = new
        .sets()
        .iter()
        .find(|set| set.name.starts_with("aff4_"))
        .map(|set| set.name.clone())
        .unwrap();
    let gone = old
        .sets()
        .iter()
        .find(|set| set.name.starts_with("aff4_") && set.name != kept)
        .map(|set| set.name.clone())
        .unwrap();
    let steps = [
        Step::Script(old.to_nft_script()),
        Step::Command(format!(
            "add element inet ferrolb {kept} {{ 198.51.100.1 }}"
        )),
        Step::Command(format!(
            "add element inet ferrolb {gone} {{ 198.51.100.2 }}"
        )),
        Step::Script(new.to_nft_update_script(&old).unwrap()),
        Step::Command("list table inet ferrolb".to_string()),
    ];
    let listing = nft::apply_in_private_namespace(&steps);
    assert!(
        listing.contains("198.51.100.1"),
        "kept state lost:\n{listing}"
    );
    assert!(!listing.contains(&gone), "stale set left:\n{listing}");
    assert!(
        !listing.contains("jhash") && listing.contains("dnat ip to 10.244.1.5:8080"),
        "{listing}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "root-tests"),
    ignore = "runs nft as root: feature root-tests (cargo xtask test)"
)]
fn hostile_names_script_passes_nft_check() {
    let script = build(&super::input_checks::hostile_input()).to_nft_script();
    nft::assert_accepted("hostile names", &script);
}
