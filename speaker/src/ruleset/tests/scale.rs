//! Scale: what one change writes and the per-packet dispatch do not grow with the Services.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::super::{NodeInput, build};
use super::fixtures::{self, NODE, ready, service, tcp};
use ferrolb_core::TrafficPolicy;

fn many_services(count: u32) -> NodeInput {
    let services = (0..count)
        .map(|index| {
            let mut web = service(
                &format!("web-{index}"),
                &[],
                vec![tcp(80, 8080)],
                vec![
                    ready("10.244.1.5", NODE),
                    ready("10.244.2.7", "node-b"),
                    ready("10.244.3.9", "node-c"),
                ],
            );
            web.vips = vec![IpAddr::V4(Ipv4Addr::from(0xc000_0000 + index))];
            // The first 2,000 have a NodePort each (uncontested: the one changed owns its own).
            web.ports[0].node_port = u16::try_from(30_000 + index).ok().filter(|_| index < 2_000);
            if index % 2 == 0 {
                web.etp = TrafficPolicy::Local;
            }
            web
        })
        .collect();
    fixtures::node(services)
}

/// The update for one endpoint added to one Service, against `count` Services.
fn one_endpoint_update(count: u32) -> String {
    let before = many_services(count);
    let mut after = before.clone();
    Arc::make_mut(&mut after.services[7])
        .endpoints
        .push(ready("10.244.4.11", "node-d"));
    build(&after)
        .to_nft_update_script(&build(&before))
        .expect("an update script")
}

/// Issue 21's check that holds at scale without timing anything: what one endpoint change
/// writes to the kernel does not depend on how many Services the node has (the whole table of
/// 10,000 Services is megabytes; the update is one Service's elements, and the spread chains of
/// its new endpoint count).
#[test]
fn one_endpoint_change_writes_the_same_script_with_100_and_10000_services() {
    let small = one_endpoint_update(100);
    let large = one_endpoint_update(10_000);
    assert!(!small.is_empty());
    assert_eq!(small, large);
    // Elements of the changed Service only: its VIP, its NodePort, the new endpoint.
    let element_lines: Vec<&str> = small
        .lines()
        .filter(|line| line.contains("element"))
        .collect();
    assert_eq!(element_lines.len(), 7, "{small}");
    for line in element_lines {
        assert!(
            ["192.0.0.7 ", "30007 ", "10.244.4.11 "]
                .iter()
                .any(|mark| line.contains(mark)),
            "{line}"
        );
    }
    assert!(
        small.len() < 4_096,
        "one endpoint takes {} bytes:\n{small}",
        small.len()
    );
    let whole = build(&many_services(10_000));
    assert_eq!(whole.stats().services, 10_000);
    assert!(whole.to_nft_script().len() > 1_000 * small.len());
}

#[test]
fn dispatch_rules_do_not_depend_on_the_number_of_services() {
    let empty = build(&fixtures::node(Vec::new())).dispatch_rule_count();
    let one = build(&many_services(1)).dispatch_rule_count();
    let many = build(&many_services(10_000)).dispatch_rule_count();
    assert_eq!((one, many), (empty, empty));
    // Only the map contents grow.
    let big = build(&many_services(2_000));
    assert_eq!(big.set("service_ips4").unwrap().elements.len(), 2_000);
}
