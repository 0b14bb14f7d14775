//! The controller's flags. Every flag can also be set through the environment variable shown
//! in `--help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};
use ferrolb_runtime::duration;
use ferrolb_runtime::logging::LogArgs;

/// ferrolb controller: gives `type: LoadBalancer` Services IPs from VIPPools, keeps them stable
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

    /// Honour MetalLB's Service annotations, for a migration from MetalLB:
    /// `metallb.io/loadBalancerIPs` (and `metallb.universe.tf/loadBalancerIPs`) like
    /// `ferrolb.io/load-balancer-ips`, `metallb.io/address-pool` like `ferrolb.io/ip-pool`,
    /// `metallb.io/allow-shared-ip` like `ferrolb.io/sharing-key`. ferrolb's own annotation wins
    /// when both are present.
    #[arg(long, env = "FERROLB_METALLB_ANNOTATIONS", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub metallb_annotations: bool,

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

    /// How long a leader's lease lasts without renewal (whole seconds, 2s to 5m): the
    /// worst-case takeover time when the leader dies without releasing it. A leader stopping
    /// on SIGTERM releases the lease and the standby takes over at once.
    #[arg(long, env = "FERROLB_LEASE_DURATION", default_value = "15s", value_parser = lease_duration)]
    pub lease_duration: Duration,

    /// The leader renews this long before its lease expires (whole seconds, at least 1s; also
    /// the clock skew tolerated between replicas). Must be less than --lease-duration.
    #[arg(long, env = "FERROLB_LEASE_GRACE", default_value = "5s", value_parser = lease_grace)]
    pub lease_grace: Duration,

    /// Status writes in flight at once.
    #[arg(long, env = "FERROLB_WRITE_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub write_concurrency: u64,

    /// Replan everything at least this often (at least 10s), even without a change.
    #[arg(long, env = "FERROLB_RESYNC", default_value = "5m", value_parser = resync)]
    pub resync: Duration,

    /// Service ClusterIP ranges (comma-separated CIDRs) never allowed as externalIPs, in
    /// addition to the cluster's ServiceCIDR objects (read automatically).
    #[arg(long, env = "FERROLB_SERVICE_CIDRS", value_delimiter = ',')]
    pub service_cidrs: Vec<String>,

    /// Serve the validating admission webhook (externalIPs and VIPPool checks).
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

    /// ClusterRole that owns the webhook configurations (an ownerReference): deleting it, as
    /// uninstalling deploy/ does, lets the garbage collector remove them. While it is missing
    /// the controller never applies them (they would block Services after an uninstall).
    #[arg(
        long,
        env = "FERROLB_WEBHOOK_OWNER",
        default_value = "ferrolb-controller"
    )]
    pub webhook_owner: String,

    /// What the apiserver does when the webhook cannot be reached: Fail (refuse the change;
    /// safe) or Ignore (admit it; the reconcile-time check still flags bad externalIPs and no
    /// speaker serves them).
    #[arg(long, env = "FERROLB_WEBHOOK_FAILURE_POLICY", value_enum, default_value_t = FailurePolicy::Fail)]
    pub webhook_failure_policy: FailurePolicy,

    /// `--log-format` and `--log-level`.
    #[command(flatten)]
    pub log: LogArgs,

    /// Without a command the controller runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What else the binary does.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Before an uninstall (the Helm chart's pre-delete hook): stop the controller Deployment,
    /// then remove the finalizer service.kubernetes.io/load-balancer-cleanup that the controller
    /// added from every Service, so deleting them does not wait for a controller that is gone.
    /// Other finalizers stay. Exits when done; a second run finds nothing to do.
    ReleaseFinalizers(crate::uninstall::ReleaseArgs),
}

/// The webhook's `failurePolicy` (Kubernetes spelling).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Refuse the change when the webhook cannot be reached.
    #[value(name = "Fail")]
    Fail,
    /// Admit the change when the webhook cannot be reached.
    #[value(name = "Ignore")]
    Ignore,
}

impl FailurePolicy {
    /// The value of `failurePolicy` in the ValidatingWebhookConfiguration.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        }
    }
}

fn lease_duration(s: &str) -> Result<Duration, String> {
    whole_seconds(
        s,
        duration::parse_within(s, Duration::from_secs(2), Some(Duration::from_secs(300)))?,
    )
}

fn lease_grace(s: &str) -> Result<Duration, String> {
    whole_seconds(
        s,
        duration::parse_within(s, Duration::from_secs(1), Some(Duration::from_secs(299)))?,
    )
}

fn resync(s: &str) -> Result<Duration, String> {
    duration::parse_within(s, Duration::from_secs(10), None)
}

/// The Lease API counts whole seconds.
fn whole_seconds(s: &str, d: Duration) -> Result<Duration, String> {
    if d.subsec_nanos() == 0 {
        Ok(d)
    } else {
        Err(format!(
            "{s:?}: must be whole seconds (the Lease counts seconds), e.g. 15s"
        ))
    }
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

    /// Checks flag combinations clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_grace >= self.lease_duration {
            return Err(format!(
                "--lease-grace ({}) must be less than --lease-duration ({})",
                humantime::format_duration(self.lease_grace),
                humantime::format_duration(self.lease_duration)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_policies_their_kubernetes_spelling() {
        let d = Args::try_parse_from(["c"]).unwrap();
        assert_eq!(d.lease_duration, Duration::from_secs(15));
        assert_eq!(d.lease_grace, Duration::from_secs(5));
        assert_eq!(d.resync, Duration::from_secs(300));
        assert_eq!(d.webhook_failure_policy, FailurePolicy::Fail);
        assert_eq!(d.validate(), Ok(()));

        let a = Args::try_parse_from([
            "c",
            "--lease-duration=1m",
            "--lease-grace=10s",
            "--resync=30s",
            "--webhook-failure-policy=Ignore",
        ])
        .unwrap();
        assert_eq!(a.lease_duration, Duration::from_secs(60));
        assert_eq!(a.resync, Duration::from_secs(30));
        assert_eq!(a.webhook_failure_policy.as_str(), "Ignore");

        for (bad, says) in [
            ("--lease-duration=15", "unit"),
            ("--lease-duration=2500ms", "whole seconds"),
            ("--lease-duration=10m", "at most 5m"),
            ("--resync=5s", "at least 10s"),
            ("--webhook-failure-policy=Maybe", "Maybe"),
        ] {
            let e = Args::try_parse_from(["c", bad]).unwrap_err().to_string();
            assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
            assert!(e.contains(says), "{bad}: {e}");
        }

        let inverted =
            Args::try_parse_from(["c", "--lease-duration=5s", "--lease-grace=5s"]).unwrap();
        assert!(
            inverted
                .validate()
                .unwrap_err()
                .contains("--lease-grace (5s)")
        );
    }
}
