//! Comparing rule sets: stale UDP endpoints, change size, update scripts.

use super::super::{Ruleset, build, diff_size, stale_udp_endpoints};
use super::fixtures::{self, NODE, ip, ready};
use std::sync::Arc;

#[test]
fn removed_or_unready_udp_endpoints_are_stale() {
    let before = fixtures::udp();
    let old = build(&before);
    let mut after = before.clone();
    Arc::make_mut(&mut after.services[0]).endpoints[1].ready = false;
    Arc::make_mut(&mut after.services[0])
        .endpoints
        .push(ready("10.244.4.4", "node-d"));
    let new = build(&after);
    assert_eq!(stale_udp_endpoints(&old, &new), [(ip("10.244.2.7"), 5353)]);
    assert!(stale_udp_endpoints(&old, &old).is_empty());
    // The Service disappears entirely: all its endpoints are stale.
    let gone = build(&fixtures::node(Vec::new()));
    assert_eq!(
        stale_udp_endpoints(&old, &gone),
        [(ip("10.244.1.5"), 5353), (ip("10.244.2.7"), 5353)]
    );
}

#[test]
fn tcp_endpoints_and_target_port_changes_are_handled() {
    let mut before = fixtures::cluster_tcp();
    let old = build(&before);
    Arc::make_mut(&mut before.services[0]).endpoints.clear();
    assert!(
        stale_udp_endpoints(&old, &build(&before)).is_empty(),
        "TCP is never reported"
    );
    let udp = fixtures::udp();
    let mut retargeted = udp.clone();
    Arc::make_mut(&mut retargeted.services[0]).ports[0].target =
        ferrolb_core::TargetPort::Number(5454);
    let stale = stale_udp_endpoints(&build(&udp), &build(&retargeted));
    assert_eq!(stale, [(ip("10.244.1.5"), 5353), (ip("10.244.2.7"), 5353)]);
}

#[test]
fn diff_size_is_zero_without_change_and_grows_with_it() {
    let old = build(&fixtures::cluster_tcp());
    assert_eq!(diff_size(&old, &old.clone()), 0);
    let mut input = fixtures::cluster_tcp();
    Arc::make_mut(&mut input.services[0])
        .endpoints
        .push(ready("10.244.4.4", NODE));
    let new = build(&input);
    // Entry chain changed (mod 4) and one endpoint chain added.
    assert_eq!(diff_size(&old, &new), 2);
    assert!(diff_size(&Ruleset::default(), &new) > new.stats().chains);
}

fn update(old: &Ruleset, new: &Ruleset) -> Vec<String> {
    new.to_nft_update_script(old)
        .unwrap()
        .lines()
        .skip(2) // header comment, `add table`
        .map(str::to_string)
        .collect()
}

#[test]
fn update_script_is_empty_without_change() {
    let ruleset = build(&fixtures::affinity());
    assert_eq!(update(&ruleset, &ruleset.clone()), Vec::<String>::new());
}

#[test]
fn update_script_carries_only_the_changed_service_chain_and_the_new_endpoint() {
    let old = build(&fixtures::cluster_tcp());
    let mut input = fixtures::cluster_tcp();
    Arc::make_mut(&mut input.services[0])
        .endpoints
        .push(ready("10.244.4.4", NODE));
    let new = build(&input);
    let lines = update(&old, &new);
    let entry = new
        .chains()
        .iter()
        .find(|chain| chain.name.starts_with("svc4_"))
        .unwrap();
    let hairpin = new.set("hairpin4").unwrap();
    let mut expected = vec![
        format!("flush chain inet ferrolb {}", entry.name),
        format!(
            "add set inet ferrolb hairpin4 {{ type ipv4_addr . ipv4_addr; elements = {{ 10.244.4.4 . 10.244.4.4 }} }}"
        ),
        format!("add chain inet ferrolb {} {{", entry.name),
    ];
    assert_eq!(hairpin.elements.len(), 4);
    expected.extend(entry.rules.iter().map(|rule| format!("\t{rule}")));
    expected.push("}".to_string());
    assert_eq!(lines, expected);
}

/// nft 1.0.6 reads every chain, set and object of the table before an `add rule`, `insert
/// rule` or `add element` (100 ms with 40,000 chains): an update adds rules and elements only
/// in the forms it writes without reading (`add chain NAME { rules }`, `add map NAME { spec;
/// elements = { … } }`).
#[test]
fn update_script_adds_rules_and_elements_without_making_nft_read_the_table() {
    let mut changes = Vec::new();
    let cluster = fixtures::cluster_tcp();
    let mut more = cluster.clone();
    Arc::make_mut(&mut more.services[0])
        .endpoints
        .push(ready("10.244.4.4", NODE));
    changes.push((cluster.clone(), more));
    let mut renamed = cluster.clone();
    Arc::make_mut(&mut renamed.services[0]).key.name = "renamed".to_string();
    changes.push((cluster.clone(), renamed));
    changes.push((fixtures::node(Vec::new()), cluster));
    let affinity = fixtures::affinity();
    let mut longer = affinity.clone();
    Arc::make_mut(&mut longer.services[0]).affinity = Some(60);
    changes.push((affinity, longer));
    for (before, after) in changes {
        for line in update(&build(&before), &build(&after)) {
            for reads in ["add rule", "insert rule", "add element"] {
                assert!(!line.starts_with(reads), "{line}");
            }
        }
    }
}

#[test]
fn update_script_removes_what_disappeared_after_unhooking_it() {
    let old = build(&fixtures::affinity());
    let mut input = fixtures::affinity();
    Arc::make_mut(&mut input.services[0])
        .endpoints
        .retain(|endpoint| endpoint.node.as_deref() == Some(NODE));
    let new = build(&input);
    let lines = update(&old, &new);
    let entry = new
        .chains()
        .iter()
        .find(|chain| chain.name.starts_with("svc4_"))
        .unwrap();
    let position = |line: String| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("{line} missing from {lines:#?}"))
    };
    let removed_set = old
        .sets()
        .iter()
        .find(|set| set.name.starts_with("aff4_") && set.name.contains("10_244_2_7"))
        .map(|set| set.name.clone())
        .unwrap();
    let flush = position(format!("flush chain inet ferrolb {}", entry.name));
    let delete_set = position(format!("delete set inet ferrolb {removed_set}"));
    let rewrite = position(format!("add chain inet ferrolb {} {{", entry.name));
    assert!(flush < delete_set && delete_set < rewrite, "{lines:#?}");
    position(
        "delete element inet ferrolb hairpin4 { 10.244.2.7 . 10.244.2.7, 10.244.3.9 . 10.244.3.9 }"
            .to_string(),
    );
    let kept_set = removed_set.replace("10_244_2_7", "10_244_1_5");
    // Declared again before the rules naming it (`add` keeps the elements), never flushed or
    // deleted.
    assert!(
        !lines.iter().any(|line| line.contains(&kept_set)
            && (line.starts_with("delete") || line.starts_with("flush"))),
        "the surviving endpoint's affinity state is kept: {lines:#?}"
    );
    // Dispatch maps are untouched: the entry chain keeps its name.
    assert!(
        !lines.iter().any(|line| line.contains("service_ips4")),
        "{lines:#?}"
    );
}

#[test]
fn update_script_swaps_a_changed_verdict_and_recreates_a_changed_set() {
    let old = build(&fixtures::affinity());
    let mut input = fixtures::affinity();
    Arc::make_mut(&mut input.services[0]).affinity = Some(60);
    let lines = update(&old, &build(&input));
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.starts_with("delete set inet ferrolb aff4_"))
            .count(),
        3
    );
    assert!(
        !lines.iter().any(|line| line.starts_with("delete chain")),
        "chains are unchanged by name: {lines:#?}"
    );
    // The chains using the recreated sets are rewritten around them.
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("flush chain inet ferrolb svc4_"))
    );

    // A VIP moving to another Service port: its map element is deleted and added again.
    let before = fixtures::cluster_tcp();
    let mut after = before.clone();
    Arc::make_mut(&mut after.services[0]).key.name = "renamed".to_string();
    let lines = update(&build(&before), &build(&after));
    let delete = lines
        .iter()
        .position(|line| {
            line == "delete element inet ferrolb service_ips4 { 192.0.2.10 . tcp . 80 }"
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let add = lines
        .iter()
        .position(|line| {
            line.starts_with("add map inet ferrolb service_ips4 {")
                && line.contains("elements = { 192.0.2.10 . tcp . 80 : goto svc4_")
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(delete < add);
}

#[test]
fn resync_script_flushes_everything_and_redefines_it() {
    let old = build(&fixtures::affinity());
    let new = build(&fixtures::cluster_tcp());
    let script = new.to_nft_resync_script(&old);
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines[1..3],
        ["add table inet ferrolb", "flush table inet ferrolb"]
    );
    let full = new.to_nft_script();
    let definition = &full[full.find("table inet ferrolb {").unwrap()..];
    assert!(script.ends_with(definition));
}
