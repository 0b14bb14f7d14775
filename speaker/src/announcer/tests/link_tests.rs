use super::OUR_MAC;
use crate::announcer::link::{Link, LinkError, LinkFacts, mac_string, usable};

fn facts() -> LinkFacts {
    LinkFacts {
        index: 7,
        mac: Some(OUR_MAC),
        up: true,
        broadcast: true,
    }
}

#[test]
fn an_up_ethernet_link_is_usable() {
    let link = usable("eth0", Some(facts())).unwrap();
    assert_eq!(
        link,
        Link {
            index: 7,
            mac: OUR_MAC
        }
    );
}

#[test]
fn missing_down_or_non_ethernet_links_are_refused() {
    assert!(matches!(usable("eth9", None), Err(LinkError::NotFound(n)) if n == "eth9"));
    let down = LinkFacts {
        up: false,
        ..facts()
    };
    assert!(matches!(
        usable("eth0", Some(down)),
        Err(LinkError::Down(_))
    ));
    for bad in [
        LinkFacts {
            mac: None,
            ..facts()
        },
        LinkFacts {
            mac: Some([0; 6]),
            ..facts()
        },
        LinkFacts {
            mac: Some([0x01, 0, 0x5e, 0, 0, 1]),
            ..facts()
        },
        LinkFacts {
            broadcast: false,
            ..facts()
        },
    ] {
        assert!(
            matches!(usable("x", Some(bad)), Err(LinkError::NotEthernet(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn mac_string_is_colon_separated_lowercase_hex() {
    assert_eq!(
        mac_string([0x02, 0, 0, 0xaa, 0xbb, 0xcc]),
        "02:00:00:aa:bb:cc"
    );
}
