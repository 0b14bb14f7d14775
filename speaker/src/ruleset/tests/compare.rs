//! Comparing rule sets: stale UDP endpoints, change size, update scripts.

use super::super::{Ruleset, build, diff_size, stale_udp_endpoints};
use super::fixtures::{self, NODE, ip, ready};

#[test]
fn removed_or_unready_udp_endpoints_are_stale() {
    let before = fixtures::udp();
    let old = build(&before);
    let mut after = before.clone();
    after.services[0].endpoints[1].ready = false;
    after.services[0]
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
    before.services[0].endpoints.clear();
    assert!(
        stale_udp_endpoints(&old, &build(&before)).is_empty(),
        "TCP is never reported"
    );
    let udp = fixtures::udp();
    let mut retargeted = udp.clone();
    retargeted.services[0].ports[0].target = super::super::TargetPort::Number(5454);
    let stale = stale_udp_endpoints(&build(&udp), &build(&retargeted));
    assert_eq!(stale, [(ip("10.244.1.5"), 5353), (ip("10.244.2.7"), 5353)]);
}

#[test]
fn diff_size_is_zero_without_change_and_grows_with_it() {
    let old = build(&fixtures::cluster_tcp());
    assert_eq!(diff_size(&old, &old.clone()), 0);
    let mut input = fixtures::cluster_tcp();
    input.services[0].endpoints.push(ready("10.244.4.4", NODE));
    let new = build(&input);
    // Entry chain changed (mod 4) and one endpoint chain added.
    assert_eq!(diff_size(&old, &new), 2);
    assert!(diff_size(&Ruleset::default(), &new) > new.stats().chains);
}

#[test]
fn update_script_flushes_rules_and_maps_and_deletes_what_disappeared() {
    let old = build(&fixtures::affinity());
    let mut input = fixtures::affinity();
    input.services[0]
        .endpoints
        .retain(|endpoint| endpoint.node.as_deref() == Some(NODE));
    let new = build(&input);
    let script = new.to_nft_update_script(&old);
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines[1..3],
        ["add table inet ferrolb", "flush table inet ferrolb"]
    );
    assert!(lines.contains(&"flush map inet ferrolb service_ips4"));
    let removed = old
        .chains()
        .iter()
        .find(|chain| chain.name.contains("10_244_2_7"))
        .unwrap();
    assert!(lines.contains(&format!("delete chain inet ferrolb {}", removed.name).as_str()));
    let removed_set = removed.name.replacen("ep4_", "aff4_", 1);
    assert!(lines.contains(&format!("delete set inet ferrolb {removed_set}").as_str()));
    let kept_set = removed_set.replace("10_244_2_7", "10_244_1_5");
    assert!(!script.contains(&format!("delete set inet ferrolb {kept_set}")));
    assert!(
        !script.contains(&format!("flush set inet ferrolb {kept_set}")),
        "state kept"
    );
    // The new definition follows, complete.
    let full = new.to_nft_script();
    let definition = &full[full.find("table inet ferrolb {").unwrap()..];
    assert!(script.ends_with(definition));
}

#[test]
fn update_script_recreates_an_affinity_set_whose_timeout_changed() {
    let old = build(&fixtures::affinity());
    let mut input = fixtures::affinity();
    input.services[0].affinity = Some(60);
    let script = build(&input).to_nft_update_script(&old);
    assert_eq!(script.matches("delete set inet ferrolb aff4_").count(), 3);
    assert!(
        !script.contains("delete chain"),
        "chains are unchanged by name"
    );
}
