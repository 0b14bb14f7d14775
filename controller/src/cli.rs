//! The controller's flags. Every flag can also be set through the environment variable shown
//! in `--help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Parser};

/// ferrolb controller: gives `type: LoadBalancer` Services IPs from IPPools, keeps them stable
/// across restarts and leader changes, and reports pool usage. Run two replicas: they elect a
/// leader through a Kubernetes Lease and only the leader writes.
#[derive(Parser, Debug, Clone)]
#[command(name = "ferrolb-controller", version, about, long_about = None)]
pub struct Args {
    /// Also own LoadBalancer Services with no spec.loadBalancerClass (act as the cluster's
    /// default LoadBalancer implementation). Services whose class is `ferrolb.io/lb` are
    /// always owned; any other class is never touched.
    #[arg(long, env = "FERROLB_DEFAULT_CLASS", default_value_t = true, action = ArgAction::Set)]
    pub default_class: bool,

    /// Address of the metrics and health server (/metrics, /healthz, /readyz).
    #[arg(long, env = "FERROLB_HEALTH_ADDR", default_value = "0.0.0.0:7472")]
    pub health_addr: SocketAddr,

    /// This replica's identity in leader election (the pod name in a cluster).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Namespace of the leader-election Lease (the controller's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ferrolb-system")]
    pub namespace: String,

    /// Name of the leader-election Lease.
    #[arg(long, env = "FERROLB_LEASE_NAME", default_value = "ferrolb-controller")]
    pub lease_name: String,

    /// How long a leader's lease lasts without renewal (seconds): the worst-case takeover time
    /// when the leader dies without releasing it. A leader stopping on SIGTERM releases the
    /// lease and the standby takes over at once.
    #[arg(long, env = "FERROLB_LEASE_DURATION", default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub lease_duration: u64,

    /// The leader renews this many seconds before its lease expires (also the clock skew
    /// tolerated between replicas). Must be less than --lease-duration.
    #[arg(long, env = "FERROLB_LEASE_GRACE", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=299))]
    pub lease_grace: u64,

    /// Status writes in flight at once.
    #[arg(long, env = "FERROLB_WRITE_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub write_concurrency: u64,

    /// Replan everything at least this often (seconds), even without a change.
    #[arg(long, env = "FERROLB_RESYNC", default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..))]
    pub resync: u64,

    /// Service ClusterIP ranges (comma-separated CIDRs) never allowed as externalIPs, in
    /// addition to the cluster's ServiceCIDR objects (read automatically).
    #[arg(long, env = "FERROLB_SERVICE_CIDRS", value_delimiter = ',')]
    pub service_cidrs: Vec<String>,

    /// Serve the validating admission webhook (externalIPs and IPPool checks).
    #[arg(long, env = "FERROLB_WEBHOOK", default_value_t = true, action = ArgAction::Set)]
    pub webhook: bool,

    /// Address the webhook's HTTPS server listens on.
    #[arg(long, env = "FERROLB_WEBHOOK_ADDR", default_value = "0.0.0.0:9443")]
    pub webhook_addr: SocketAddr,

    /// The Service through which the apiserver reaches the webhook (in --namespace).
    #[arg(
        long,
        env = "FERROLB_WEBHOOK_SERVICE",
        default_value = "ferrolb-webhook"
    )]
    pub webhook_service: String,

    /// Port of the webhook Service.
    #[arg(long, env = "FERROLB_WEBHOOK_SERVICE_PORT", default_value_t = 443)]
    pub webhook_service_port: u16,

    /// Secret (in --namespace) holding the webhook's certificate; created and renewed by the
    /// controller.
    #[arg(
        long,
        env = "FERROLB_WEBHOOK_SECRET",
        default_value = "ferrolb-webhook-tls"
    )]
    pub webhook_secret: String,

    /// Name of the ValidatingWebhookConfiguration the controller keeps current.
    #[arg(
        long,
        env = "FERROLB_WEBHOOK_CONFIGURATION",
        default_value = "ferrolb-webhook"
    )]
    pub webhook_configuration: String,

    /// What the apiserver does when the webhook cannot be reached: Fail (refuse the change;
    /// safe) or Ignore (admit it; the reconcile-time check still flags bad externalIPs and no
    /// speaker serves them).
    #[arg(long, env = "FERROLB_WEBHOOK_FAILURE_POLICY", default_value = "Fail", value_parser = ["Fail", "Ignore"])]
    pub webhook_failure_policy: String,

    /// Log format: text or json.
    #[arg(long, env = "FERROLB_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

impl Args {
    /// The identity used in leader election: `--identity`, else the host name.
    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "ferrolb-controller".to_string())
        })
    }

    /// The resync period.
    pub fn resync(&self) -> Duration {
        Duration::from_secs(self.resync)
    }

    /// Checks flag combinations clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_grace >= self.lease_duration {
            return Err(format!(
                "--lease-grace ({}) must be less than --lease-duration ({})",
                self.lease_grace, self.lease_duration
            ));
        }
        Ok(())
    }
}
