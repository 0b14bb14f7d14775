//! Tests of the VIPPool admission review: one per rule, then properties against a brute-force
//! oracle that never merges ranges.

use std::net::IpAddr;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::*;

fn s(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| e.to_string()).collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn used(service: &str, addr: &str) -> InUse {
    InUse {
        service: service.into(),
        ip: ip(addr),
    }
}

const ADMITTED: PoolReview = PoolReview {
    allowed: true,
    message: None,
    warnings: Vec::new(),
};

/// Reviews a change of the pool "mine" from `old` to `new` (string slices for brevity).
fn review(
    (old, new, force): (Option<&[&str]>, Option<&[&str]>, bool),
    others: &[(&str, &[&str])],
    in_use: &[InUse],
    nodes: &[(&str, &str)],
) -> PoolReview {
    let (old, new) = (old.map(s), new.map(s));
    let addresses: Vec<Vec<String>> = others.iter().map(|(_, a)| s(a)).collect();
    let others: Vec<OtherPool<'_>> = (others.iter().zip(&addresses))
        .map(|((name, _), addresses)| OtherPool { name, addresses })
        .collect();
    let nodes: Vec<(String, IpAddr)> = nodes.iter().map(|(n, a)| (n.to_string(), ip(a))).collect();
    let change = PoolChange {
        name: "mine",
        old: old.as_deref(),
        new: new.as_deref(),
        force,
    };
    review_pool(&change, &others, in_use, &nodes)
}

fn create(new: &[&str], others: &[(&str, &[&str])]) -> PoolReview {
    review((None, Some(new), false), others, &[], &[])
}

/// The message of a refusal (which carries no warnings).
fn refused(r: &PoolReview) -> &str {
    assert!(
        !r.allowed && r.warnings.is_empty(),
        "expected a bare refusal, got {r:?}"
    );
    r.message.as_deref().unwrap()
}

#[test]
fn create_without_conflicts_is_admitted_silently() {
    let other: &[&str] = &["198.51.100.0/28", "2001:db8:1::/64"];
    let r = create(&["198.51.100.16/28", "2001:db8::/64"], &[("b", other)]);
    assert_eq!(r, ADMITTED);
}

#[test]
fn overlap_names_the_pool_and_the_first_shared_stretch() {
    let other: &[&str] = &[
        "198.51.100.0-198.51.100.15",
        "198.51.100.16 - 198.51.100.20",
        "198.51.100.25",
    ];
    let r = create(&["198.51.100.10-198.51.100.30"], &[("older", other)]);
    let m = refused(&r);
    assert!(
        m.contains("VIPPool \"older\" (198.51.100.10-198.51.100.20 and 1 more stretch(es))"),
        "{m}"
    );
    assert!(m.contains("remove the shared addresses"), "{m}");
}

#[test]
fn adjacent_pools_and_other_families_do_not_overlap() {
    let v4: &[&str] = &["198.51.100.0-198.51.100.20", "0.0.0.0/0"];
    assert_eq!(create(&["::/0"], &[("v4", v4)]), ADMITTED);
    assert_eq!(
        create(&["198.51.100.21-198.51.100.30"], &[("v6", &["::/0"])]),
        ADMITTED
    );
}

#[test]
fn huge_ipv6_ranges_are_compared_not_enumerated() {
    let (all, doc): (&[&str], &[&str]) = (&["::/0"], &["2001:db8::/32"]);
    let stretch = "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff";
    let r = create(all, &[("doc", doc)]);
    assert!(
        refused(&r).contains(&format!("VIPPool \"doc\" ({stretch})")),
        "{r:?}"
    );
    let r = create(doc, &[("all", all)]);
    assert!(
        refused(&r).contains(&format!("VIPPool \"all\" ({stretch})")),
        "{r:?}"
    );
    // Shrinking ::/0 to the documentation prefix frees an address in use outside it.
    let in_use = [
        used("ns/far", "2001:db9::1"),
        used("ns/near", "2001:db8::1"),
    ];
    let r = review((Some(all), Some(doc), false), &[], &in_use, &[]);
    let m = refused(&r);
    assert!(
        m.contains("ns/far 2001:db9::1") && !m.contains("ns/near"),
        "{m}"
    );
}

#[test]
fn mixed_families_report_only_the_shared_family() {
    let others: &[(&str, &[&str])] = &[
        ("six", &["2001:db8::10-2001:db8::20"]),
        ("four", &["203.0.113.0/24"]),
    ];
    let r = create(&["198.51.100.0/24", "2001:db8::/120"], others);
    let m = refused(&r);
    assert!(
        m.contains("VIPPool \"six\" (2001:db8::10-2001:db8::20)") && !m.contains("four"),
        "{m}"
    );
}

#[test]
fn every_overlapping_pool_is_named_in_order_and_the_pool_itself_is_skipped() {
    let others: &[(&str, &[&str])] = &[
        ("zeta", &["198.51.100.2"]),
        ("alpha", &["198.51.100.1"]),
        ("mine", &["198.51.100.3"]),
    ];
    let r = create(&["198.51.100.0/24"], others);
    let m = refused(&r);
    assert!(
        m.contains("overlap VIPPool \"alpha\" (198.51.100.1), VIPPool \"zeta\" (198.51.100.2);"),
        "{m}"
    );
    assert!(!m.contains("198.51.100.3"), "{m}");
}

#[test]
fn invalid_entries_are_refused_only_when_new() {
    let bad: &[&str] = &["198.51.100.0/24", "198.51.100.9-198.51.100.1"];
    let r = create(bad, &[]);
    let m = refused(&r);
    assert!(
        m.contains(
            "spec.addresses: address range \"198.51.100.9-198.51.100.1\" starts after it ends"
        ),
        "{m}"
    );
    let r = review((Some(bad), Some(bad), false), &[], &[], &[]);
    assert_eq!(r, ADMITTED, "an entry that was already there is not blamed");
    let r = create(
        &["198.51.100.0/24"],
        &[("b", &["bogus", "198.51.100.0/25"])],
    );
    let m = refused(&r);
    assert!(
        !m.contains("bogus") && m.contains("198.51.100.0-198.51.100.127"),
        "{m}"
    );
}

#[test]
fn an_update_adding_no_address_is_not_refused_for_an_existing_overlap() {
    let (old, grown): (&[&str], &[&str]) =
        (&["198.51.100.0/24"], &["198.51.100.0/24", "203.0.113.0/24"]);
    let others: &[(&str, &[&str])] = &[("b", &["198.51.100.0/25"])];
    assert_eq!(
        review((Some(old), Some(old), false), others, &[], &[]),
        ADMITTED
    );
    assert_eq!(
        review((Some(old), Some(grown), false), others, &[], &[]),
        ADMITTED
    );
    let others: &[(&str, &[&str])] = &[("b", &["198.51.100.0/25", "203.0.113.7"])];
    let r = review((Some(old), Some(grown), false), others, &[], &[]);
    assert!(
        refused(&r).contains("VIPPool \"b\" (203.0.113.7);"),
        "only the added part: {r:?}"
    );
}

#[test]
fn no_change_with_addresses_in_use_is_admitted() {
    let pool: &[&str] = &["198.51.100.0/24", "2001:db8::/64"];
    let in_use = [used("ns/a", "198.51.100.1"), used("ns/b", "2001:db8::1")];
    assert_eq!(
        review((Some(pool), Some(pool), false), &[], &in_use, &[]),
        ADMITTED
    );
}

#[test]
fn shrinking_below_used_addresses_needs_force() {
    let (old, new): (&[&str], &[&str]) = (
        &["198.51.100.10-198.51.100.20"],
        &["198.51.100.10-198.51.100.15"],
    );
    let in_use = [
        used("ns/a", "198.51.100.18"),
        used("ns/b", "198.51.100.12"),
        used("ns/c", "203.0.113.1"),
    ];
    let r = review((Some(old), Some(new), false), &[], &in_use, &[]);
    let m = refused(&r);
    assert!(
        m.contains("removes addresses Services hold: ns/a 198.51.100.18;"),
        "{m}"
    );
    assert!(
        m.contains("ferrolb.io/force: \"true\"") && m.contains("will get new addresses"),
        "{m}"
    );
    let r = review((Some(old), Some(new), true), &[], &in_use, &[]);
    assert!(
        r.allowed && r.message.is_none() && r.warnings.len() == 1,
        "{r:?}"
    );
    assert!(
        r.warnings[0].contains("ns/a 198.51.100.18") && !r.warnings[0].contains("ns/b"),
        "{r:?}"
    );
}

#[test]
fn deleting_a_pool_in_use_needs_force() {
    let old: &[&str] = &["198.51.100.0/24"];
    let in_use = [
        used("ns/a", "198.51.100.1"),
        used("ns/a", "198.51.100.1"),
        used("ns/z", "2001:db8::1"),
    ];
    let r = review((Some(old), None, false), &[], &in_use, &[]);
    let m = refused(&r);
    assert!(
        m.contains(
            "deleting VIPPool \"mine\" would take addresses Services hold: ns/a 198.51.100.1;"
        ),
        "{m}"
    );
    assert!(
        m.contains("kubectl annotate vippool mine ferrolb.io/force=true"),
        "{m}"
    );
    let r = review((Some(old), None, true), &[], &in_use, &[]);
    assert!(
        r.allowed && r.warnings.len() == 1 && r.warnings[0].contains("ns/a 198.51.100.1"),
        "{r:?}"
    );
    assert_eq!(
        review((Some(old), None, false), &[], &in_use[2..], &[]),
        ADMITTED
    );
}

#[test]
fn long_lists_are_capped() {
    let old: &[&str] = &["198.51.100.0/24"];
    let in_use: Vec<InUse> = (0..25)
        .map(|i| used(&format!("ns/svc-{i:02}"), &format!("198.51.100.{i}")))
        .collect();
    let r = review((Some(old), None, false), &[], &in_use, &[]);
    let m = refused(&r);
    assert!(
        m.contains("ns/svc-09 198.51.100.9, and 15 more;") && !m.contains("svc-10"),
        "{m}"
    );
    let long: Vec<InUse> = (0..25)
        .map(|i| used(&format!("{}/{i}", "n".repeat(300)), "198.51.100.1"))
        .collect();
    let r = review((Some(old), None, false), &[], &long, &[]);
    let m = refused(&r);
    assert!(
        m.chars().count() == MAX_MESSAGE && m.ends_with('…'),
        "{}",
        m.len()
    );
}

#[test]
fn node_addresses_inside_the_pool_are_a_warning() {
    let new: &[&str] = &["198.51.100.0/24"];
    let nodes = [
        ("node-b", "198.51.100.12"),
        ("node-a", "198.51.100.11"),
        ("node-c", "203.0.113.1"),
    ];
    let r = review((None, Some(new), false), &[], &[], &nodes);
    assert!(
        r.allowed && r.message.is_none() && r.warnings.len() == 1,
        "{r:?}"
    );
    let w = &r.warnings[0];
    assert!(
        w.contains("never allocated to Services: node-a 198.51.100.11, node-b 198.51.100.12"),
        "{w}"
    );
    assert!(!w.contains("node-c"), "{w}");
    assert_eq!(
        review((Some(new), None, false), &[], &[], &nodes),
        ADMITTED,
        "deleting warns of nothing"
    );
}

#[test]
fn every_refusal_reason_is_listed() {
    let (old, new): (&[&str], &[&str]) = (&["198.51.100.0/24"], &["203.0.113.0/24", "bogus"]);
    let in_use = [used("ns/a", "198.51.100.1")];
    let r = review(
        (Some(old), Some(new), false),
        &[("b", &["203.0.113.5"])],
        &in_use,
        &[("node-a", "203.0.113.1")],
    );
    let m = refused(&r);
    for part in [
        "\"bogus\" is not valid",
        "VIPPool \"b\" (203.0.113.5)",
        "ns/a 198.51.100.1",
    ] {
        assert!(m.contains(part), "{part} missing from {m}");
    }
}

#[test]
fn range_arithmetic_at_the_edges() {
    let set = |entries: &[&str]| covered(&s(entries));
    let text = |ranges: Vec<AddrRange>| ranges.iter().map(ToString::to_string).collect::<Vec<_>>();
    let merged = set(&[
        "198.51.100.5",
        "198.51.100.0-198.51.100.4",
        "::/1",
        "8000::/1",
        "bogus",
    ]);
    assert_eq!(
        text(merged.clone()),
        [
            "198.51.100.0-198.51.100.5",
            "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        ]
    );
    let old = set(&["198.51.100.0-198.51.100.10", "198.51.100.12", "ffff::/16"]);
    let new = set(&["198.51.100.10-198.51.100.13", "::/0"]);
    let added = subtract(&new, &old);
    assert_eq!(
        text(added.clone()),
        [
            "198.51.100.11",
            "198.51.100.13",
            "::-fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        ]
    );
    let other = set(&["198.51.100.10-198.51.100.11", "fffe::/15"]);
    assert_eq!(
        text(intersect(&added, &other)),
        [
            "198.51.100.11",
            "fffe::-fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        ]
    );
    assert!(covers(&old, ip("198.51.100.10")) && !covers(&old, ip("198.51.100.11")));
    assert!(covers(&merged, ip("ffff::1")) && !covers(&old, ip("::1")));
}

fn entry() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..64, 0u32..12).prop_map(|(a, n)| format!("198.51.100.{a}-198.51.100.{}", (a + n).min(63))),
        2 => (26u32..=32, 0u32..64).prop_map(|(p, a)| format!("198.51.100.{}/{p}", a >> (32 - p) << (32 - p))),
        3 => (0u32..64, 0u32..12).prop_map(|(a, n)| format!("2001:db8::{a:x}-2001:db8::{:x}", a + n)),
        2 => select(vec!["::/0", "2001:db8::/32", "2001:db8::/64", "0.0.0.0/0", "198.51.100.0/24", "::"])
            .prop_map(String::from),
        1 => select(vec!["bogus", "198.51.100.9-198.51.100.1", " ", "198.51.100.7/24"]).prop_map(String::from),
    ]
}

fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..80).prop_map(|a| IpAddr::from([198, 51, 100, a])),
        (0u16..80).prop_map(|a| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, a])),
        Just(ip("2001:db9::1")),
    ]
}

/// Whether an unmerged list of entries holds `ip`.
fn holds(entries: &[String], ip: IpAddr) -> bool {
    entries
        .iter()
        .filter_map(|e| parse_address(e).ok())
        .any(|r| r.contains(ip))
}

fn parsed(entries: &[String]) -> Vec<AddrRange> {
    entries
        .iter()
        .filter_map(|e| parse_address(e).ok())
        .collect()
}

/// A generated case: pool "mine" changes from `old` to `new`.
#[derive(Debug)]
struct Case {
    old: Option<Vec<String>>,
    new: Option<Vec<String>>,
    others: Vec<(&'static str, Vec<String>)>,
    in_use: Vec<InUse>,
    nodes: Vec<(String, IpAddr)>,
    force: bool,
}

/// `allowed` is exactly "no added address in another pool, no new invalid entry, and no
/// address in use removed unless forced". The oracle tries every point where an added
/// overlap can start: the first address of a new or other entry, or just after an old one.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let others: Vec<OtherPool<'_>> = (case.others.iter())
        .map(|(name, addresses)| OtherPool { name, addresses })
        .collect();
    let change = PoolChange {
        name: "mine",
        old: case.old.as_deref(),
        new: case.new.as_deref(),
        force: case.force,
    };
    let r = review_pool(&change, &others, &case.in_use, &case.nodes);

    let (old, new) = (
        case.old.clone().unwrap_or_default(),
        case.new.clone().unwrap_or_default(),
    );
    let mut points: Vec<IpAddr> = parsed(&new).iter().map(AddrRange::first).collect();
    points.extend(
        case.others
            .iter()
            .flat_map(|(_, a)| parsed(a))
            .map(|r| r.first()),
    );
    points.extend(parsed(&old).iter().filter_map(|r| {
        let after = r.last_value().checked_add(1)?;
        AddrRange::from_values(r.family(), after, after).map(|a| a.first())
    }));
    let overlapping: Vec<&str> = (case.others.iter())
        .filter(|(name, addresses)| {
            *name != "mine"
                && (points.iter())
                    .any(|p| holds(&new, *p) && !holds(&old, *p) && holds(addresses, *p))
        })
        .map(|(name, _)| *name)
        .collect();
    let invalid = new
        .iter()
        .any(|e| parse_address(e).is_err() && !old.contains(e));
    let moved = case
        .in_use
        .iter()
        .any(|u| holds(&old, u.ip) && !holds(&new, u.ip));
    let nodes_inside = case.nodes.iter().any(|(_, ip)| holds(&new, *ip));

    let expected = overlapping.is_empty() && !invalid && (!moved || case.force);
    prop_assert_eq!(r.allowed, expected, "{:?}", r);
    prop_assert_eq!(r.message.is_none(), r.allowed);
    if let Some(first) = overlapping.first() {
        let m = r.message.as_deref().unwrap_or_default();
        prop_assert!(m.contains(&format!("VIPPool {first:?} (")), "{}", m);
    }
    let warnings = usize::from(nodes_inside) + usize::from(moved && case.force);
    prop_assert_eq!(r.warnings.len(), if r.allowed { warnings } else { 0 });
    for text in r.message.iter().chain(&r.warnings) {
        prop_assert!(text.chars().count() <= MAX_MESSAGE);
    }
    Ok(())
}

fn case() -> impl Strategy<Value = Case> {
    let pool = || vec(entry(), 1..4);
    let some = || prop_oneof![1 => Just(None), 4 => pool().prop_map(Some)];
    let names = select(vec!["a", "b", "c", "mine"]);
    (
        (some(), some()),
        vec((names, pool()), 0..3),
        (vec(address(), 0..6), vec(address(), 0..3), any::<bool>()),
    )
        .prop_map(|((old, new), others, (in_use, nodes, force))| Case {
            old,
            new,
            others,
            in_use: (in_use.into_iter().enumerate())
                .map(|(i, ip)| InUse {
                    service: format!("ns/s{i}"),
                    ip,
                })
                .collect(),
            nodes: (nodes.into_iter().enumerate())
                .map(|(i, ip)| (format!("node-{i}"), ip))
                .collect(),
            force,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn review_matches_a_brute_force_oracle(case in case()) {
        check(&case)?;
    }
}
