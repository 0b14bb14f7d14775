//! Property tests over random inputs: structural soundness (many cases,
//! pure) and acceptance by the real `nft -c` (few cases, spawns nft).

use std::collections::BTreeSet;
use std::net::IpAddr;

use proptest::prelude::*;

use super::super::input::{Endpoint, EndpointPort, NodeInput, PortInput, ServiceInput};
use super::super::{Ruleset, build, stale_udp_endpoints};
use super::nft;
use ferrolb_core::{Protocol, ServiceKey, TargetPort, TrafficPolicy};

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &[T]) -> impl Strategy<Value = T> + use<T> {
    proptest::sample::select(items.to_vec())
}

fn address() -> impl Strategy<Value = IpAddr> {
    pick(&["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"]).prop_map(|a| a.parse().unwrap())
}

fn endpoint_address() -> impl Strategy<Value = IpAddr> {
    pick(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1", "fd00::2"])
        .prop_map(|a| a.parse().unwrap())
}

fn protocol() -> impl Strategy<Value = Protocol> {
    pick(&[Protocol::Tcp, Protocol::Udp, Protocol::Sctp])
}

fn name() -> impl Strategy<Value = Option<String>> {
    pick(&[None, Some("a".to_string()), Some("b".to_string())])
}

fn port() -> impl Strategy<Value = PortInput> {
    (
        name(),
        protocol(),
        0u16..4,
        proptest::option::of(29_999u16..30_002),
        prop_oneof![
            (0u16..3).prop_map(TargetPort::Number),
            pick(&["a", "b"]).prop_map(|n| TargetPort::Named(n.to_string())),
        ],
    )
        .prop_map(|(name, protocol, port, node_port, target)| PortInput {
            name,
            protocol,
            port,
            node_port: node_port.map(|p| if p == 29_999 { 0 } else { p }),
            target,
        })
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    let ports = proptest::collection::vec(
        (name(), protocol(), 1u16..3).prop_map(|(name, protocol, port)| EndpointPort {
            name,
            protocol,
            port,
        }),
        0..3,
    );
    (
        endpoint_address(),
        pick(&[None, Some("node-a"), Some("node-b")]),
        any::<[bool; 3]>(),
        ports,
    )
        .prop_map(
            |(ip, node, [ready, serving, terminating], ports)| Endpoint {
                ip,
                node: node.map(str::to_string),
                ready,
                serving,
                terminating,
                ports,
            },
        )
}

fn service() -> impl Strategy<Value = ServiceInput> {
    (
        (
            pick(&["default", "kube-system", "A.b"]),
            pick(&["web", "dns", "x"]),
        ),
        proptest::collection::vec(address(), 0..3),
        proptest::collection::vec(port(), 0..3),
        any::<bool>(),
        proptest::collection::vec(
            pick(&[
                "203.0.113.0/24",
                "203.0.113.7/32",
                "10.1.2.3/8",
                "2001:db8:ff::/48",
            ]),
            0..3,
        ),
        proptest::option::of(0u32..3),
        proptest::collection::vec(endpoint(), 0..5),
    )
        .prop_map(
            |((namespace, name), vips, ports, local, ranges, affinity, endpoints)| ServiceInput {
                key: ServiceKey::new(namespace, name),
                vips,
                ports,
                etp: if local {
                    TrafficPolicy::Local
                } else {
                    TrafficPolicy::Cluster
                },
                source_ranges: ferrolb_core::SourceRanges::parse(&ranges).ranges,
                affinity,
                endpoints,
            },
        )
}

fn node_input() -> impl Strategy<Value = NodeInput> {
    (
        proptest::collection::vec(
            pick(&["10.9.0.1", "2001:db8:9::1"]).prop_map(|a| a.parse().unwrap()),
            0..3,
        ),
        proptest::collection::vec(service(), 0..5),
    )
        .prop_map(|(node_ips, services)| NodeInput {
            node_name: "node-a".to_string(),
            node_ips,
            services: services.into_iter().map(std::sync::Arc::new).collect(),
        })
}

/// Names after `goto `, `jump ` and `@` in rules and map elements.
fn references(text: &str) -> (Vec<String>, Vec<String>) {
    let word = |rest: &str| -> String {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
            .collect()
    };
    let mut chains = Vec::new();
    for marker in ["goto ", "jump "] {
        chains.extend(
            text.match_indices(marker)
                .map(|(at, _)| word(&text[at + marker.len()..])),
        );
    }
    let sets = text
        .match_indices('@')
        .map(|(at, _)| word(&text[at + 1..]))
        .collect();
    (chains, sets)
}

fn assert_sound(ruleset: &Ruleset) {
    let chain_names: BTreeSet<&str> = ruleset.chains().iter().map(|c| c.name.as_str()).collect();
    let set_names: BTreeSet<&str> = ruleset.sets().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        chain_names.len(),
        ruleset.chains().len(),
        "duplicate chain name"
    );
    assert_eq!(set_names.len(), ruleset.sets().len(), "duplicate set name");
    let texts = ruleset
        .chains()
        .iter()
        .flat_map(|c| c.rules.iter())
        .chain(ruleset.sets().iter().flat_map(|s| s.elements.iter()));
    for text in texts {
        let (chains, sets) = references(text);
        for chain in chains {
            assert!(
                chain_names.contains(chain.as_str()),
                "dangling chain {chain} in {text}"
            );
        }
        for set in sets {
            assert!(
                set_names.contains(set.as_str()),
                "dangling set {set} in {text}"
            );
        }
    }
    for set in ruleset.sets() {
        let keys: BTreeSet<&str> = set
            .elements
            .iter()
            .map(|e| e.split(" : ").next().unwrap())
            .collect();
        assert_eq!(
            keys.len(),
            set.elements.len(),
            "duplicate key in {}",
            set.name
        );
    }
    assert_spreads_complete(ruleset);
}

/// `numgen random mod N [offset O] map @MAP` in `rule`: the indexes it draws, and the map.
fn drawn(rule: &str) -> Option<(std::ops::Range<u32>, String)> {
    let after = rule.split_once("numgen random mod ")?.1;
    let (count, rest) = after.split_once(' ')?;
    let count: u32 = count.parse().unwrap();
    let (offset, rest) = match rest.strip_prefix("offset ") {
        Some(rest) => {
            let (offset, rest) = rest.split_once(' ').unwrap();
            (offset.parse::<u32>().unwrap(), rest)
        }
        None => (0, rest),
    };
    let map = rest.strip_prefix("map @").unwrap();
    Some((offset..offset + count, map.to_string()))
}

/// Every dispatch element that goes to a shared spread chain has, in the endpoint map that chain
/// reads, an element for each index the chain can draw and no other; every endpoint map element
/// belongs to such a dispatch element; the chain DNATs in its own family.
fn assert_spreads_complete(ruleset: &Ruleset) {
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for (dispatch, vip) in [
        ("service_ips4", true),
        ("service_ips6", true),
        ("node_ports4", false),
        ("node_ports6", false),
    ] {
        let family = &dispatch[dispatch.len() - 1..];
        for element in &ruleset.set(dispatch).unwrap().elements {
            let (key, verdict) = element.split_once(" : goto ").unwrap();
            if !verdict.contains("spread") {
                continue;
            }
            let chain = ruleset.chain(verdict).unwrap();
            let dnat = if family == "4" {
                " dnat ip to "
            } else {
                " dnat ip6 to "
            };
            assert!(
                verdict.contains(&format!("spread{family}_"))
                    && chain
                        .rules
                        .iter()
                        .all(|rule| rule == "drop" || rule.contains(dnat)),
                "{chain:?} from {dispatch}"
            );
            let parts: Vec<&str> = key.split(" . ").collect();
            let (protocol, prefix) = if vip {
                (parts[1], format!("{} . {}", parts[0], parts[2]))
            } else {
                (parts[0], parts[1].to_string())
            };
            let draws: Vec<_> = chain.rules.iter().filter_map(|rule| drawn(rule)).collect();
            assert!(!draws.is_empty(), "{chain:?}");
            for (indexes, map) in draws {
                let via = if vip { "" } else { "node_port_" };
                assert_eq!(
                    map,
                    format!("{via}endpoints{family}_{protocol}"),
                    "{element}"
                );
                expected.extend(indexes.map(|index| (map.clone(), format!("{prefix} . {index}"))));
            }
        }
    }
    let actual: BTreeSet<(String, String)> = ruleset
        .sets()
        .iter()
        .filter(|set| {
            set.name.starts_with("endpoints") || set.name.starts_with("node_port_endpoints")
        })
        .flat_map(|set| {
            set.elements.iter().map(|element| {
                (
                    set.name.clone(),
                    element.split(" : ").next().unwrap().to_string(),
                )
            })
        })
        .collect();
    assert_eq!(actual, expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_inputs_build_sound_deterministic_rule_sets(input in node_input()) {
        let ruleset = build(&input);
        assert_sound(&ruleset);
        prop_assert_eq!(&build(&input), &ruleset);
        let baseline = build(&NodeInput::default()).dispatch_rule_count();
        prop_assert_eq!(ruleset.dispatch_rule_count(), baseline);
        prop_assert!(stale_udp_endpoints(&ruleset, &ruleset).is_empty());
    }
}

proptest! {
    // Each case spawns nft twice: keep it small.
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    #[cfg_attr(not(feature = "root-tests"), ignore = "runs nft as root: feature root-tests (cargo xtask test)")]
    fn random_inputs_produce_scripts_nft_accepts(old in node_input(), new in node_input()) {
        let (old, new) = (build(&old), build(&new));
        nft::assert_accepted("random full script", &new.to_nft_script());
        let update = old.to_nft_script() + &new.to_nft_update_script(&old).unwrap();
        nft::assert_accepted("random update script on top of the old table", &update);
    }
}

proptest! {
    // Each case applies two tables for real in private namespaces.
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// The incremental update leaves exactly the table a full replacement
    /// would, in the kernel.
    #[test]
    #[cfg_attr(not(feature = "root-tests"), ignore = "runs nft as root: feature root-tests (cargo xtask test)")]
    fn an_update_programs_the_same_table_as_a_replacement(old in node_input(), new in node_input()) {
        let (old, new) = (build(&old), build(&new));
        let updated = nft::table_content(vec![
            nft::Step::Script(old.to_nft_script()),
            nft::Step::Script(new.to_nft_update_script(&old).unwrap()),
        ]);
        let replaced = nft::table_content(vec![nft::Step::Script(new.to_nft_script())]);
        prop_assert_eq!(updated, replaced);
    }
}
