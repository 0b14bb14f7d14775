//! `--dataplane=auto|nftables|announce-only`, and whether kube-proxy programs this node
//! (then `auto` leaves Service delivery to it; [`super::decider`] decides, again and again).
//!
//! kube-proxy is recognised from the node's own nftables view:
//! - nftables mode: a table named `kube-proxy` (families `ip`, `ip6`, `inet`);
//! - iptables or ipvs mode through iptables-nft: a chain `KUBE-SERVICES` in an
//!   `ip` or `ip6` table. Kubelet's own `KUBE-*` chains (`KUBE-FIREWALL`,
//!   `KUBE-KUBELET-CANARY`, …) do not count.
//!
//! Not seen: kube-proxy on iptables-legacy (its rules are invisible to
//! `nft`); use `--dataplane=announce-only` there. Rules left behind by an uninstalled
//! kube-proxy count as present until removed (`kube-proxy --cleanup`).

use std::fmt;

use serde::Serialize;

use super::nft::Nft;

/// `--dataplane`: who delivers Service traffic on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Program `inet ferrolb` while kube-proxy does not program the node; decided again
    /// every detection interval.
    #[default]
    Auto,
    /// Always program `inet ferrolb`.
    Nftables,
    /// Never program it and bind no healthCheckNodePort: the speaker only answers ARP/NDP
    /// and serves its own health API; kube-proxy (or another dataplane) delivers Service
    /// traffic.
    AnnounceOnly,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::Nftables => "nftables",
            Mode::AnnounceOnly => "announce-only",
        })
    }
}

/// What the node's ruleset says about kube-proxy (printed as `"absent"`,
/// `{"present": "table ip kube-proxy"}` or `{"unknown": "<nft's error>"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KubeProxy {
    /// No trace of kube-proxy.
    Absent,
    /// Found; what was seen, e.g. `table ip kube-proxy`.
    Present(String),
    /// The ruleset could not be read; the error.
    Unknown(String),
}

impl KubeProxy {
    /// Whether kube-proxy was seen.
    pub fn is_present(&self) -> bool {
        matches!(self, KubeProxy::Present(_))
    }
}

/// Pure parser over `nft list ruleset` or `nft list chains` text: the first
/// sign of kube-proxy, described (e.g. `chain KUBE-SERVICES in table ip nat`).
pub fn find_kube_proxy(listing: &str) -> Option<String> {
    let mut table: Option<(&str, &str)> = None;
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["table", family, name, ..] => {
                let name = unquote(name);
                if name == "kube-proxy" && matches!(*family, "ip" | "ip6" | "inet") {
                    return Some(format!("table {family} kube-proxy"));
                }
                table = Some((family, name));
            }
            ["chain", name, ..] if unquote(name) == "KUBE-SERVICES" => {
                if let Some((family @ ("ip" | "ip6"), table_name)) = table {
                    return Some(format!(
                        "chain KUBE-SERVICES in table {family} {table_name}"
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

fn unquote(word: &str) -> &str {
    word.trim_matches('"')
}

/// Looks for kube-proxy with `nft list chains` (tables and chains, no rules:
/// cheap even with a large kube-proxy ruleset).
pub async fn detect_kube_proxy(nft: &Nft) -> KubeProxy {
    match nft.list_chains().await {
        Ok(listing) => find_kube_proxy(&listing).map_or(KubeProxy::Absent, KubeProxy::Present),
        Err(error) => KubeProxy::Unknown(error.to_string()),
    }
}
