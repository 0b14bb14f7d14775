//! kube-proxy detection (the decision: `decider_tests`).

use super::super::{KubeProxy, Mode, find_kube_proxy};

const IPTABLES_NFT: &str = "table ip filter {
	chain KUBE-FIREWALL {
	}
	chain INPUT {
		type filter hook input priority filter; policy accept;
	}
}
table ip nat {
	chain KUBE-MARK-MASQ {
	}
	chain KUBE-SERVICES {
	}
}
";

const KUBELET_ONLY: &str = "table ip mangle {
	chain KUBE-KUBELET-CANARY {
	}
}
table ip nat {
	chain KUBE-POSTROUTING {
	}
}
table inet ferrolb {
	chain services {
	}
}
";

#[test]
fn finds_kube_proxy_in_nftables_mode_for_any_of_its_families() {
    for family in ["ip", "ip6", "inet"] {
        let listing = format!("table inet other {{\n}}\ntable {family} kube-proxy {{\n}}\n");
        assert_eq!(
            find_kube_proxy(&listing),
            Some(format!("table {family} kube-proxy"))
        );
    }
    assert_eq!(
        find_kube_proxy("table bridge kube-proxy {\n}\n"),
        None,
        "kube-proxy never uses the bridge family"
    );
}

#[test]
fn finds_kube_services_of_iptables_nft_but_not_kubelet_chains() {
    assert_eq!(
        find_kube_proxy(IPTABLES_NFT).as_deref(),
        Some("chain KUBE-SERVICES in table ip nat")
    );
    assert_eq!(
        find_kube_proxy(&IPTABLES_NFT.replace("table ip nat", "table ip6 nat")).as_deref(),
        Some("chain KUBE-SERVICES in table ip6 nat")
    );
    assert_eq!(find_kube_proxy(KUBELET_ONLY), None);
    assert_eq!(find_kube_proxy(""), None);
    let in_inet = "table inet mine {\n\tchain KUBE-SERVICES {\n\t}\n}\n";
    assert_eq!(find_kube_proxy(in_inet), None, "iptables-nft uses ip/ip6");
}

#[test]
fn quoted_names_are_understood() {
    let listing = "table ip nat {\n\tchain \"KUBE-SERVICES\" {\n\t}\n}\n";
    assert!(find_kube_proxy(listing).is_some());
}

#[test]
fn modes_print_as_their_flag_values() {
    for (mode, text) in [
        (Mode::Auto, "auto"),
        (Mode::Nftables, "nftables"),
        (Mode::AnnounceOnly, "announce-only"),
    ] {
        assert_eq!(mode.to_string(), text);
        assert_eq!(serde_json::to_value(mode).unwrap(), text);
    }
    assert_eq!(Mode::default(), Mode::Auto);
    let seen = serde_json::to_value(KubeProxy::Present("table ip kube-proxy".into())).unwrap();
    assert_eq!(seen, serde_json::json!({"present": "table ip kube-proxy"}));
    assert_eq!(serde_json::to_value(KubeProxy::Absent).unwrap(), "absent");
}
