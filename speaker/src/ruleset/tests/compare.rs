//! Comparing rule sets: stale UDP endpoints, change size, update scripts.

use super::super::{Ruleset, build, diff_size, stale_udp_endpoints};
use super::fixtures::{self, NODE, ip, ready};
use super::rules::port_id;
use ferrolb_core::Protocol;
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
    // Chains: spread4_tcp_3 goes, spread4_tcp_4 comes. Elements: the VIP's verdict (old and
    // new), one endpoint map element and one hairpin pair more.
    assert_eq!(diff_size(&old, &new), 2 + 2 + 1 + 1);
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

/// One endpoint more on `default/web` (`cluster_tcp`, with `others` on other VIPs).
fn one_endpoint_more(others: &[&str]) -> (Ruleset, Ruleset) {
    let mut input = fixtures::cluster_tcp();
    for (index, vip) in others.iter().enumerate() {
        let mut other = (*input.services[0]).clone();
        other.key.name = format!("other-{index}").into();
        other.vips = vec![ip(vip)];
        input.services.push(Arc::new(other));
    }
    let old = build(&input);
    Arc::make_mut(&mut input.services[0])
        .endpoints
        .push(ready("10.244.4.4", NODE));
    (old, build(&input))
}

#[test]
fn update_script_carries_only_the_changed_service_elements_and_the_new_spread_chain() {
    let (old, new) = one_endpoint_more(&[]);
    let map = |name: &str, elements: &str| {
        let set = new.set(name).unwrap();
        let spec = super::super::render::set_spec_inline(set);
        match elements {
            "" => format!("add {} inet ferrolb {name} {{ {spec} }}", set.keyword()),
            _ => format!(
                "add {} inet ferrolb {name} {{ {spec} elements = {{ {elements} }} }}",
                set.keyword()
            ),
        }
    };
    let spread = new.chain("spread4_tcp_4").unwrap();
    assert_eq!(
        new.set("endpoints4_tcp").unwrap().elements.len(),
        4,
        "the other three are kept"
    );
    let mut expected = vec![
        "add chain inet ferrolb spread4_tcp_4".to_string(),
        "flush chain inet ferrolb spread4_tcp_3".to_string(),
        "delete element inet ferrolb service_ips4 { 192.0.2.10 . tcp . 80 }".to_string(),
        map("service_ips4", "192.0.2.10 . tcp . 80 : goto spread4_tcp_4"),
        map("hairpin4", "10.244.4.4 . 10.244.4.4"),
        map("endpoints4_tcp", "192.0.2.10 . 80 . 3 : 10.244.4.4 . 8080"),
        // Declared again before the rules naming it: nft need not read the table.
        map("endpoints4_tcp", ""),
        "add chain inet ferrolb spread4_tcp_4 {".to_string(),
    ];
    expected.extend(spread.rules.iter().map(|rule| format!("\t{rule}")));
    expected.push("}".to_string());
    // No Service goes to spread4_tcp_3 any more.
    expected.push("delete chain inet ferrolb spread4_tcp_3".to_string());
    assert_eq!(update(&old, &new), expected);

    // Other Services with three endpoints keep spread4_tcp_3, and nothing of theirs is written.
    let (old, new) = one_endpoint_more(&["192.0.2.11", "192.0.2.12"]);
    let lines = update(&old, &new);
    expected.retain(|line| !line.contains("spread4_tcp_3"));
    assert_eq!(lines, expected);
    assert!(
        lines
            .iter()
            .all(|line| !line.contains("192.0.2.11") && !line.contains("192.0.2.12")),
        "{lines:#?}"
    );
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
    Arc::make_mut(&mut renamed.services[0]).key.name = "renamed".into();
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

    // A VIP moving to another Service port with ClientIP affinity (a chain of its own): its
    // map element is deleted and added again.
    let before = fixtures::affinity();
    let mut after = before.clone();
    Arc::make_mut(&mut after.services[0]).key.name = "renamed".into();
    let lines = update(&build(&before), &build(&after));
    let delete = lines
        .iter()
        .position(|line| {
            line == "delete element inet ferrolb service_ips4 { 192.0.2.10 . tcp . 80 }"
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let renamed = port_id("renamed", Protocol::Tcp, 80);
    let add = lines
        .iter()
        .position(|line| {
            line.starts_with("add map inet ferrolb service_ips4 {")
                && line.contains(&format!(
                    "elements = {{ 192.0.2.10 . tcp . 80 : goto svc4_{renamed} }}"
                ))
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(delete < add);

    // Without affinity the verdict names no Service: the same endpoints under another name
    // change nothing.
    let before = fixtures::cluster_tcp();
    let mut after = before.clone();
    Arc::make_mut(&mut after.services[0]).key.name = "renamed".into();
    assert_eq!(
        update(&build(&before), &build(&after)),
        Vec::<String>::new()
    );
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
