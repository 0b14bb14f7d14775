//! kube-proxy detection and the `--dataplane` decision.

use super::super::{Decision, KubeProxy, Mode, find_kube_proxy, resolve};

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
fn auto_yields_to_kube_proxy_and_says_why() {
    let present = KubeProxy::Present("table ip kube-proxy".to_string());
    let decision = resolve(Mode::Auto, &present);
    assert!(!decision.enabled);
    assert!(
        decision.reason.contains("table ip kube-proxy"),
        "{decision:?}"
    );
    assert!(resolve(Mode::Auto, &KubeProxy::Absent).enabled);
    let unknown = resolve(
        Mode::Auto,
        &KubeProxy::Unknown("nft: not found".to_string()),
    );
    assert!(!unknown.enabled);
    assert!(unknown.reason.contains("nft: not found"));
}

#[test]
fn explicit_modes_win_over_detection() {
    for kube_proxy in [
        KubeProxy::Absent,
        KubeProxy::Present("table ip kube-proxy".to_string()),
        KubeProxy::Unknown("error".to_string()),
    ] {
        assert!(resolve(Mode::Nftables, &kube_proxy).enabled);
        let Decision { enabled, reason } = resolve(Mode::Off, &kube_proxy);
        assert!(!enabled);
        assert!(reason.contains("--dataplane=off"));
    }
    let both = resolve(Mode::Nftables, &KubeProxy::Present("x".to_string()));
    assert!(both.reason.contains("kube-proxy also programs"));
}

#[test]
fn mode_parses_from_the_command_line() {
    use clap::ValueEnum as _;
    for (text, mode) in [
        ("auto", Mode::Auto),
        ("nftables", Mode::Nftables),
        ("off", Mode::Off),
    ] {
        assert_eq!(Mode::from_str(text, false), Ok(mode));
        assert_eq!(mode.to_string(), text);
    }
    assert!(Mode::from_str("iptables", false).is_err());
    assert_eq!(Mode::default(), Mode::Auto);
}
