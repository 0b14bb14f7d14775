//! Scale: building is fast and the per-packet dispatch does not grow.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

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
            web.ports[0].node_port = u16::try_from(30_000 + index % 2_000).ok();
            if index % 2 == 0 {
                web.etp = TrafficPolicy::Local;
            }
            web
        })
        .collect();
    fixtures::node(services)
}

#[test]
fn ten_thousand_services_build_quickly() {
    let input = many_services(10_000);
    let started = Instant::now();
    let ruleset = build(&input);
    let built = started.elapsed();
    let script = ruleset.to_nft_script();
    let rendered = started.elapsed();
    assert_eq!(ruleset.stats().services, 10_000);
    assert!(script.len() > 1_000_000);
    assert!(built.as_secs_f64() < 2.0, "build took {built:?}");
    println!(
        "10k services: build {built:?}, build+render {rendered:?}, {:?}",
        ruleset.stats()
    );
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
