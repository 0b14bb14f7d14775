//! Tests of address entry parsing.

use std::net::IpAddr;

use super::*;
use crate::IpFamily;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn cidr_v4_and_v6() {
    let r = parse_address("198.51.100.0/24").unwrap();
    assert_eq!(
        (r.first(), r.last(), r.size()),
        (ip("198.51.100.0"), ip("198.51.100.255"), 256)
    );
    assert_eq!(r.family(), IpFamily::V4);
    let r = parse_address(" 2001:db8::/64 ").unwrap();
    assert_eq!(r.first(), ip("2001:db8::"));
    assert_eq!(r.last(), ip("2001:db8::ffff:ffff:ffff:ffff"));
    assert_eq!(r.size(), 1u128 << 64);
    assert_eq!(r.family(), IpFamily::V6);
}

#[test]
fn zero_prefixes_and_saturation() {
    assert_eq!(parse_address("0.0.0.0/0").unwrap().size(), 1u128 << 32);
    assert_eq!(parse_address("::/0").unwrap().size(), u128::MAX);
    assert_eq!(parse_address("::/1").unwrap().size(), 1u128 << 127);
}

#[test]
fn ranges_with_and_without_spaces() {
    let r = parse_address("198.51.100.10 - 198.51.100.20").unwrap();
    assert_eq!(
        (r.first(), r.last(), r.size()),
        (ip("198.51.100.10"), ip("198.51.100.20"), 11)
    );
    let r = parse_address("2001:db8::1-2001:db8::ff").unwrap();
    assert_eq!(r.size(), 255);
    assert_eq!(parse_address("10.0.0.1-10.0.0.1").unwrap().size(), 1);
}

#[test]
fn single_addresses() {
    let r = parse_address("192.0.2.7").unwrap();
    assert_eq!((r.first(), r.last()), (ip("192.0.2.7"), ip("192.0.2.7")));
    assert_eq!(parse_address("2001:db8::7").unwrap().size(), 1);
    assert_eq!(parse_address("192.0.2.7/32").unwrap(), r);
}

#[test]
fn contains_respects_bounds_and_family() {
    let r = parse_address("10.0.0.10-10.0.0.20").unwrap();
    assert!(r.contains(ip("10.0.0.10")) && r.contains(ip("10.0.0.20")));
    assert!(!r.contains(ip("10.0.0.9")) && !r.contains(ip("10.0.0.21")));
    assert!(
        !r.contains(ip("::a00:a")),
        "an IPv6 address with the same value is not inside"
    );
}

#[test]
fn errors_name_the_problem() {
    assert_eq!(parse_address("  "), Err(AddressError::Blank));
    assert!(matches!(
        parse_address("10.0.0.1-::1"),
        Err(AddressError::MixedFamilies { .. })
    ));
    let err = parse_address("10.0.0.9-10.0.0.1").unwrap_err();
    assert!(matches!(err, AddressError::StartAfterEnd { .. }));
    assert!(err.to_string().contains("10.0.0.1-10.0.0.9"), "{err}");
    let err = parse_address("10.0.0.7/24").unwrap_err();
    assert!(err.to_string().contains("10.0.0.0/24"), "{err}");
    for bad in [
        "10.0.0/24",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/x",
        "10.0.0.0/+8",
        "hello",
        "10.0.0.1-",
        "-10.0.0.1",
        "10.0.0.1-10.0.0.2-10.0.0.3",
        "10.0.0.0/24-10.0.1.0",
    ] {
        let err = parse_address(bad).unwrap_err();
        assert!(
            matches!(err, AddressError::Malformed { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(bad.trim()), "{err}");
    }
}

#[test]
fn display_and_value_round_trip() {
    let r = parse_address("10.0.0.0/30").unwrap();
    assert_eq!(r.to_string(), "10.0.0.0-10.0.0.3");
    assert_eq!(
        value_to_ip(IpFamily::V4, ip_to_value(ip("1.2.3.4"))),
        ip("1.2.3.4")
    );
    assert_eq!(AddrRange::from_values(IpFamily::V4, 0, 1 << 32), None);
    assert!(AddrRange::new(ip("10.0.0.2"), ip("10.0.0.1")).is_none());
    assert!(r.overlaps(&parse_address("10.0.0.3-10.0.0.9").unwrap()));
    assert!(!r.overlaps(&parse_address("10.0.0.4-10.0.0.9").unwrap()));
}

#[test]
fn host_bits_are_refused_with_both_fixes() {
    let err = parse_address("198.51.100.7/24").unwrap_err();
    assert_eq!(
        err.to_string(),
        "CIDR \"198.51.100.7/24\" has host bits set after the /24 prefix: did you mean \
         198.51.100.0/24 (the whole network) or 198.51.100.7/32 (that one address)?"
    );
    let err = parse_address("2001:db8::7/64").unwrap_err();
    assert!(
        err.to_string()
            .contains("did you mean 2001:db8::/64 (the whole network) or 2001:db8::7/128"),
        "{err}"
    );
    assert!(parse_address("198.51.100.7/32").is_ok());
}

// What the VIPPool readers (speaker, edge) used to parse on their own, now the same parser.
#[test]
fn entries_of_every_shape() {
    let r = parse_address(" 198.51.100.10 - 198.51.100.20 ").unwrap();
    assert!(r.contains(ip("198.51.100.10")) && r.contains(ip("198.51.100.20")));
    assert!(!r.contains(ip("198.51.100.21")) && !r.contains(ip("198.51.100.9")));
    let c = parse_address("2001:db8::/126").unwrap();
    assert!(c.contains(ip("2001:db8::3")) && !c.contains(ip("2001:db8::4")));
    let c = parse_address("2001:db8:100::150/124").unwrap();
    assert!(c.contains(ip("2001:db8:100::15f")) && !c.contains(ip("2001:db8:100::160")));
    let single = parse_address("203.0.113.7").unwrap();
    assert!(single.contains(ip("203.0.113.7")) && !single.contains(ip("203.0.113.8")));
    assert!(
        !single.contains(ip("::ffff:203.0.113.7")),
        "families never mix"
    );
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A CIDR parses exactly when its host bits are clear, and then covers its network.
        #[test]
        fn cidrs_parse_iff_host_bits_are_clear(addr: u32, prefix in 0u8..=32, probe: u32) {
            let text = format!("{}/{prefix}", std::net::Ipv4Addr::from(addr));
            let net = ipnet::Ipv4Net::new(addr.into(), prefix).unwrap();
            match parse_address(&text) {
                Ok(r) => {
                    prop_assert_eq!(net.trunc(), net);
                    let probe = std::net::Ipv4Addr::from(probe);
                    prop_assert_eq!(r.contains(IpAddr::V4(probe)), net.contains(&probe));
                }
                Err(AddressError::HostBitsSet { network, .. }) => {
                    prop_assert_ne!(net.trunc(), net);
                    prop_assert_eq!(network, IpAddr::V4(net.network()));
                }
                Err(other) => prop_assert!(false, "{text}: {other}"),
            }
        }
    }
}
