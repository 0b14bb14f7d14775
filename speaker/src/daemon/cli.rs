//! The speaker's flags (each also an environment variable, as the DaemonSet passes them).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ferrolb_runtime::duration;
use ferrolb_runtime::logging::LogArgs;

use crate::dataplane::{self, Mode};

/// ferrolb speaker: answers ARP/NDP for the VIPs this node wins, programs its Service rules in
/// nftables and serves a kube-proxy-compatible health API. Runs on every node (hostNetwork).
#[derive(Parser, Debug, Clone)]
#[command(name = "ferrolb-speaker", version, about, long_about = None)]
pub struct Args {
    /// This node's name (the Downward API's spec.nodeName).
    #[arg(long, env = "FERROLB_NODE_NAME")]
    pub node_name: String,

    /// ferrolb's namespace (the Downward API's metadata.namespace): where the controller
    /// publishes the keys that verify allocation proofs (ConfigMap ferrolb-allocation-keys).
    #[arg(long, env = "POD_NAMESPACE", default_value = ferrolb_api::names::DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// Address of the health API load balancers probe (/healthz, /livez, /services/...);
    /// `0.0.0.0` listens on IPv6 too, like kube-proxy.
    #[arg(long, env = "FERROLB_HEALTH_ADDR", default_value = "0.0.0.0:10256")]
    pub health_addr: SocketAddr,

    /// Address of /metrics and /debug/state, served only to bearer tokens whose user may `get`
    /// that URL (TokenReview + SubjectAccessReview, like kube-rbac-proxy).
    #[arg(long, env = "FERROLB_METRICS_ADDR", default_value = "0.0.0.0:7473")]
    pub metrics_addr: SocketAddr,

    /// Who delivers Service traffic: `auto` programs table inet ferrolb (and serves the
    /// healthCheckNodePorts) while kube-proxy does not program the node, deciding again every
    /// --dataplane-detect-interval; `nftables` always; `announce-only` never (ARP/NDP and the
    /// health API only; kube-proxy or another dataplane delivers Service traffic).
    #[arg(long, env = "FERROLB_DATAPLANE", value_enum, default_value_t = DataplaneFlag::Auto)]
    pub dataplane: DataplaneFlag,

    /// `--dataplane=auto`: how often to look for kube-proxy's rules (`nft list chains`). Both
    /// program the node for at most this long after kube-proxy appears.
    #[arg(long, env = "FERROLB_DATAPLANE_DETECT_INTERVAL", value_parser = duration::parse_positive,
        default_value = "1s")]
    pub dataplane_detect_interval: Duration,

    /// `--dataplane=auto`: how long kube-proxy's rules must stay gone before the speaker
    /// programs the node (rides out kube-proxy restarts and mode switches).
    #[arg(long, env = "FERROLB_DATAPLANE_TAKEOVER_DELAY", value_parser = duration::parse,
        default_value = "10s")]
    pub dataplane_takeover_delay: Duration,

    /// UDP port of the speakers' gossip (SWIM); every speaker must use the same.
    #[arg(long, env = "FERROLB_GOSSIP_PORT", default_value_t = 7946)]
    pub gossip_port: u16,

    /// Address the gossip binds to; default: this Node's first InternalIP (from the API).
    #[arg(long, env = "FERROLB_GOSSIP_ADDR")]
    pub gossip_addr: Option<std::net::IpAddr>,

    /// Secret in the speaker's namespace holding the gossip keys (created with a random key when
    /// missing; see README, "Gossip keys").
    #[arg(long, env = "FERROLB_GOSSIP_SECRET", default_value = ferrolb_core::names::GOSSIP_SECRET)]
    pub gossip_secret: String,

    /// Gossip: each speaker probes one other this often (SWIM). Lower detects a dead node
    /// sooner and costs more packets.
    #[arg(long, env = "FERROLB_GOSSIP_PROBE_PERIOD", value_parser = duration::parse, default_value = "150ms")]
    pub gossip_probe_period: Duration,

    /// Gossip: a suspected speaker that does not refute within this time is declared dead
    /// (with the probe period, this bounds failover: about probe + suspicion + one gossip
    /// round).
    #[arg(long, env = "FERROLB_GOSSIP_SUSPECT_TIMEOUT", value_parser = duration::parse, default_value = "300ms")]
    pub gossip_suspect_timeout: Duration,

    /// At start, how long to wait for the other speakers before announcing anything (a speaker
    /// that announced before learning who else is alive would take every VIP for a moment).
    #[arg(long, env = "FERROLB_JOIN_WAIT", value_parser = duration::parse, default_value = "2s")]
    pub join_wait: Duration,

    /// Announce every owned VIP again this often (gratuitous ARP / unsolicited NA), so clients
    /// that followed another node during a partition come back within this time; 0s: never.
    #[arg(long, env = "FERROLB_REANNOUNCE", value_parser = duration::parse, default_value = "10s")]
    pub reannounce: Duration,

    /// On SIGTERM, how long to keep answering after telling the other speakers we leave, so
    /// that successors announce before this node goes quiet.
    #[arg(long, env = "FERROLB_HANDOVER_WAIT", value_parser = duration::parse, default_value = "150ms")]
    pub handover_wait: Duration,

    /// Node-local file (a hostPath under /run) keeping the health API's last synced answers: a
    /// speaker restarted while the apiserver is unreachable serves them until its watches sync,
    /// if table inet ferrolb is still there.
    #[arg(
        long,
        env = "FERROLB_KEPT_STATE",
        default_value = "/run/ferrolb/speaker-health.json"
    )]
    pub kept_state: std::path::PathBuf,

    /// How often the node's interfaces are read again (changes are gossiped).
    #[arg(long, env = "FERROLB_INTERFACE_INTERVAL", value_parser = duration::parse, default_value = "1s")]
    pub interface_interval: Duration,

    /// The speakers' DaemonSet (in --namespace). On SIGTERM, after the handover, a speaker
    /// whose DaemonSet is gone or being deleted (or whose ServiceAccount no longer
    /// authenticates) deletes its node's table `inet ferrolb`: ferrolb is being uninstalled.
    #[arg(long, env = "FERROLB_DAEMONSET", default_value = ferrolb_core::names::SPEAKER_DAEMONSET)]
    pub daemonset: String,

    /// `--log-format` and `--log-level`.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `--dataplane`'s values: [`Mode`]'s, and `off`, the old name of `announce-only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataplaneFlag {
    /// [`Mode::Auto`].
    Auto,
    /// [`Mode::Nftables`].
    Nftables,
    /// [`Mode::AnnounceOnly`].
    AnnounceOnly,
    /// Deprecated name of `announce-only` (still accepted, not listed).
    #[value(hide = true)]
    Off,
}

impl DataplaneFlag {
    /// The mode it stands for.
    pub fn mode(self) -> Mode {
        match self {
            DataplaneFlag::Auto => Mode::Auto,
            DataplaneFlag::Nftables => Mode::Nftables,
            DataplaneFlag::AnnounceOnly | DataplaneFlag::Off => Mode::AnnounceOnly,
        }
    }

    /// The warning to log when a deprecated name was used.
    pub fn deprecation(self) -> Option<&'static str> {
        (self == DataplaneFlag::Off).then_some(
            "--dataplane=off is deprecated and will be removed; use --dataplane=announce-only (same behaviour)",
        )
    }
}

impl Args {
    /// The dataplane supervisor's settings.
    pub fn supervisor(&self) -> dataplane::SupervisorConfig {
        dataplane::SupervisorConfig {
            mode: self.dataplane.mode(),
            detect_interval: self.dataplane_detect_interval,
            takeover_delay: self.dataplane_takeover_delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let args = Args::try_parse_from(["s", "--node-name=node-a"]).unwrap();
        assert_eq!(args.node_name, "node-a");
        assert_eq!(args.supervisor().mode, Mode::Auto);
        assert_eq!(args.dataplane_detect_interval, dataplane::DETECT_INTERVAL);
        assert_eq!(args.dataplane_takeover_delay, dataplane::TAKEOVER_DELAY);
        assert_eq!(args.handover_wait, Duration::from_millis(150));
        let bad = Args::try_parse_from(["s", "--node-name=a", "--handover-wait=5"]).unwrap_err();
        assert!(bad.to_string().contains("handover-wait"), "{bad}");
    }

    #[test]
    fn dataplane_modes_parse_and_off_is_a_deprecated_alias() {
        for (text, mode) in [
            ("auto", Mode::Auto),
            ("nftables", Mode::Nftables),
            ("announce-only", Mode::AnnounceOnly),
            ("off", Mode::AnnounceOnly),
        ] {
            let flag = format!("--dataplane={text}");
            let args = Args::try_parse_from(["s", "--node-name=a", flag.as_str()]).unwrap();
            assert_eq!(args.dataplane.mode(), mode, "{text}");
            assert_eq!(args.dataplane.deprecation().is_some(), text == "off");
        }
        let note = DataplaneFlag::Off.deprecation().unwrap();
        assert!(note.contains("announce-only"), "{note}");
        let bad = Args::try_parse_from(["s", "--node-name=a", "--dataplane=iptables"]).unwrap_err();
        let text = bad.to_string();
        assert!(
            text.contains("announce-only") && !text.contains("off"),
            "{text}"
        );
        let zero = Args::try_parse_from(["s", "--node-name=a", "--dataplane-detect-interval=0s"])
            .unwrap_err();
        assert!(zero.to_string().contains("more than 0"), "{zero}");
        let args = Args::try_parse_from([
            "s",
            "--node-name=a",
            "--dataplane-detect-interval=200ms",
            "--dataplane-takeover-delay=1s",
        ])
        .unwrap();
        assert_eq!(
            args.supervisor().detect_interval,
            Duration::from_millis(200)
        );
        assert_eq!(args.supervisor().takeover_delay, Duration::from_secs(1));
    }
}
