//! The edge's flags (each also an environment variable).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ferrolb_runtime::duration;
use ferrolb_runtime::logging::LogArgs;

use crate::engine::EngineConfig;
use crate::health::Thresholds;
use crate::prober::ProbeConfig;
use crate::proxy::{ProxyOptions, UdpOptions};

/// ferrolb edge: a cloud-style external L4 load balancer outside the cluster. Owns the
/// frontend addresses of `ferrolb.io/mode: edge` Services on an interface and forwards TCP and
/// UDP to nodeIP:nodePort of the nodes whose health API says they can serve.
#[derive(Parser, Debug, Clone)]
#[command(name = "ferrolb-edge", version, about, long_about = None)]
pub struct Args {
    /// Interface that carries the frontend addresses (as /32 and /128).
    #[arg(long, env = "FERROLB_INTERFACE")]
    pub interface: String,

    /// ferrolb's namespace in the cluster: where the controller publishes the keys that verify
    /// allocation proofs (ConfigMap ferrolb-allocation-keys).
    #[arg(long, env = "FERROLB_NAMESPACE", default_value = ferrolb_api::names::DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// The nodes' health API port, probed at /healthz for externalTrafficPolicy Cluster
    /// (kube-proxy: 10256; ferrolb's speaker: its --health-addr port).
    #[arg(long, env = "FERROLB_HEALTH_PORT", default_value_t = 10256)]
    pub health_port: u16,

    /// Time between two probes of one node target.
    #[arg(long, env = "FERROLB_HEALTH_INTERVAL", value_parser = duration::parse_positive, default_value = "1s")]
    pub health_interval: Duration,

    /// Time a probe may take.
    #[arg(long, env = "FERROLB_HEALTH_TIMEOUT", value_parser = duration::parse_positive, default_value = "500ms")]
    pub health_timeout: Duration,

    /// Consecutive successes that make an unhealthy node healthy (a node never probed
    /// becomes healthy on its first success).
    #[arg(long, env = "FERROLB_HEALTHY_THRESHOLD", value_parser = clap::value_parser!(u32).range(1..), default_value_t = 2)]
    pub healthy_threshold: u32,

    /// Consecutive failures that make a healthy node unhealthy.
    #[arg(long, env = "FERROLB_UNHEALTHY_THRESHOLD", value_parser = clap::value_parser!(u32).range(1..), default_value_t = 1)]
    pub unhealthy_threshold: u32,

    /// Time to connect to a node before trying the next healthy one.
    #[arg(long, env = "FERROLB_CONNECT_TIMEOUT", value_parser = duration::parse_positive, default_value = "2s")]
    pub connect_timeout: Duration,

    /// A UDP flow without traffic either way for this long ends.
    #[arg(long, env = "FERROLB_UDP_IDLE_TIMEOUT", value_parser = duration::parse_positive, default_value = "30s")]
    pub udp_idle_timeout: Duration,

    /// Address of /healthz.
    #[arg(long, env = "FERROLB_LISTEN", default_value = "0.0.0.0:9480")]
    pub listen: SocketAddr,

    /// Address of /metrics and /debug/state, served only to bearer tokens whose user may `get`
    /// that URL (TokenReview + SubjectAccessReview, like kube-rbac-proxy).
    #[arg(long, env = "FERROLB_METRICS_ADDR", default_value = "0.0.0.0:9481")]
    pub metrics_addr: SocketAddr,

    /// `--log-format` and `--log-level`.
    #[command(flatten)]
    pub log: LogArgs,
}

impl Args {
    /// The data plane's settings.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            interface: self.interface.clone(),
            probe: ProbeConfig {
                interval: self.health_interval,
                timeout: self.health_timeout,
                thresholds: Thresholds {
                    healthy: self.healthy_threshold,
                    unhealthy: self.unhealthy_threshold,
                },
            },
            proxy: ProxyOptions {
                connect_timeout: self.connect_timeout,
                udp: UdpOptions {
                    idle_timeout: self.udp_idle_timeout,
                    ..ProxyOptions::default().udp
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let a = Args::try_parse_from(["e", "--interface=eth0"]).unwrap();
        assert_eq!(a.health_port, 10256);
        assert_eq!(a.health_interval, Duration::from_secs(1));
        assert_eq!(a.health_timeout, Duration::from_millis(500));
        assert_eq!((a.healthy_threshold, a.unhealthy_threshold), (2, 1));
        assert_eq!(a.connect_timeout, Duration::from_secs(2));
        assert_eq!(a.udp_idle_timeout, Duration::from_secs(30));
        assert_eq!(a.listen.to_string(), "0.0.0.0:9480");
        let c = a.engine_config();
        assert_eq!(c.interface, "eth0");
        assert_eq!(c.proxy.udp.idle_timeout, Duration::from_secs(30));

        let fast = Args::try_parse_from([
            "e",
            "--interface=x",
            "--health-interval=200ms",
            "--health-timeout=100ms",
        ])
        .unwrap();
        assert_eq!(fast.health_interval, Duration::from_millis(200));
        for bad in [
            "--health-interval=0s",
            "--unhealthy-threshold=0",
            "--health-timeout=5",
        ] {
            let e = Args::try_parse_from(["e", "--interface=x", bad]).unwrap_err();
            assert!(
                e.to_string().contains(bad.split('=').next().unwrap()),
                "{e}"
            );
        }
        assert!(
            Args::try_parse_from(["e"]).is_err(),
            "--interface is required"
        );
    }
}
