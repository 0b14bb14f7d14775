//! The speaker's flags (each also an environment variable, as the DaemonSet passes them).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ferrolb_runtime::duration;
use ferrolb_runtime::logging::LogArgs;

use crate::dataplane::Mode;

/// ferrolb speaker: answers ARP/NDP for the VIPs this node wins, programs its Service rules in
/// nftables and serves a kube-proxy-compatible health API. Runs on every node (hostNetwork).
#[derive(Parser, Debug, Clone)]
#[command(name = "ferrolb-speaker", version, about, long_about = None)]
pub struct Args {
    /// This node's name (the Downward API's spec.nodeName).
    #[arg(long, env = "FERROLB_NODE_NAME")]
    pub node_name: String,

    /// Address of the health API (/healthz, /livez, /metrics, /services/..., /debug/state).
    #[arg(long, env = "FERROLB_HEALTH_ADDR", default_value = "0.0.0.0:10256")]
    pub health_addr: SocketAddr,

    /// Who delivers Service traffic: `auto` programs table inet ferrolb unless kube-proxy
    /// already programs the node, `nftables` always, `off` never.
    #[arg(long, env = "FERROLB_DATAPLANE", value_enum, default_value_t = Mode::Auto)]
    pub dataplane: Mode,

    /// UDP port of the speakers' gossip (SWIM); every speaker must use the same.
    #[arg(long, env = "FERROLB_GOSSIP_PORT", default_value_t = 7946)]
    pub gossip_port: u16,

    /// Address the gossip binds to; default: this Node's first InternalIP (from the API).
    #[arg(long, env = "FERROLB_GOSSIP_ADDR")]
    pub gossip_addr: Option<std::net::IpAddr>,

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

    /// How often the node's interfaces are read again (changes are gossiped).
    #[arg(long, env = "FERROLB_INTERFACE_INTERVAL", value_parser = duration::parse, default_value = "1s")]
    pub interface_interval: Duration,

    /// `--log-format` and `--log-level`.
    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let args = Args::try_parse_from(["s", "--node-name=node-a", "--dataplane=off"]).unwrap();
        assert_eq!(args.node_name, "node-a");
        assert_eq!(args.dataplane, Mode::Off);
        assert_eq!(args.handover_wait, Duration::from_millis(150));
        let bad = Args::try_parse_from(["s", "--node-name=a", "--handover-wait=5"]).unwrap_err();
        assert!(bad.to_string().contains("handover-wait"), "{bad}");
    }
}
