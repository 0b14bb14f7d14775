//! The real kube-proxy of the pinned release on every lab node, in the mode the lab was
//! brought up with (`cargo xtask lab up --kube-proxy nftables|iptables|none`).
//!
//! It runs as a lab process in each node's network namespace (role `kube-proxy-node-a`, ...),
//! the way kubeadm and kind run it: under its own ServiceAccount `kube-system/kube-proxy`
//! bound to the built-in ClusterRole `system:node-proxier`, its health server on the node's
//! `0.0.0.0:10256` (where cloud load balancers and ferrolb's edge probe nodes), its metrics on
//! the node's loopback. `--conntrack-max-per-core 0` keeps it from setting conntrack limits,
//! which are host-wide rather than per namespace (kind does the same for the same reason).
//!
//! With kube-proxy on the nodes, ferrolb's speakers only announce (deploy/'s default,
//! `--dataplane=announce-only`); without it the lab installs `deploy/without-kube-proxy/`,
//! where the speakers program the Service rules and serve kube-proxy's health port themselves.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::components::Node;
use super::process::{self, Spawn};
use super::{choice, controlplane};
use crate::{Error, Lab, wait_for};

/// kube-proxy's health port (`--healthz-bind-address`), the one load balancers probe.
pub const HEALTH_PORT: u16 = 10256;
/// kube-proxy's metrics port, on the node's loopback.
pub const METRICS_PORT: u16 = 10249;
/// Its ServiceAccount, in kube-system (as kubeadm names it).
pub const SERVICE_ACCOUNT: &str = "kube-proxy";
/// The cluster's pod CIDRs (every node's pod CIDR lies inside), for `--cluster-cidr`.
pub const CLUSTER_CIDRS: &str = "192.0.2.0/24,2001:db8:200::/48";

/// How the lab's nodes deliver Service traffic: kube-proxy's mode, or no kube-proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubeProxyMode {
    /// No kube-proxy: ferrolb's speakers program the Service rules (`--dataplane=nftables`).
    #[default]
    None,
    /// kube-proxy `--proxy-mode nftables` (tables `ip kube-proxy` and `ip6 kube-proxy`).
    Nftables,
    /// kube-proxy `--proxy-mode iptables` (through iptables-nft: chains `KUBE-*` in `ip nat`).
    Iptables,
}

impl KubeProxyMode {
    /// Every mode, in the order `--kube-proxy` lists them.
    pub const ALL: [KubeProxyMode; 3] = [
        KubeProxyMode::Nftables,
        KubeProxyMode::Iptables,
        KubeProxyMode::None,
    ];

    /// Its name on the command line (and kube-proxy's `--proxy-mode`).
    pub const fn name(self) -> &'static str {
        match self {
            KubeProxyMode::None => "none",
            KubeProxyMode::Nftables => "nftables",
            KubeProxyMode::Iptables => "iptables",
        }
    }

    /// Whether kube-proxy runs.
    pub const fn runs(self) -> bool {
        !matches!(self, KubeProxyMode::None)
    }
}

impl fmt::Display for KubeProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KubeProxyMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::msg(format!(
                    "no kube-proxy mode {s:?}: use nftables, iptables or none"
                ))
            })
    }
}

/// The file in the lab's directory that remembers the mode it was brought up with.
const MODE_FILE: &str = "kube-proxy-mode";

/// The mode the lab was brought up with (`none` when it never said).
pub fn mode(lab: &Lab) -> Result<KubeProxyMode, Error> {
    choice::read(lab, MODE_FILE)
}

/// Remembers `mode` for the lab (before it comes up). A running lab keeps its mode: asking for
/// another one is an error naming both and the fix.
pub fn set_mode(lab: &Lab, wanted: KubeProxyMode) -> Result<(), Error> {
    choice::remember(lab, MODE_FILE, "--kube-proxy", wanted)
}

fn role(node: Node) -> String {
    format!("kube-proxy-{node}")
}

fn kubeconfig(lab: &Lab) -> std::path::PathBuf {
    lab.dir.join("kube-proxy.kubeconfig")
}

/// Creates kube-proxy's ServiceAccount and binding (as kubeadm does), mints its token and
/// writes its kubeconfig (the apiserver's LAN address, as a node reaches it).
pub(super) fn prepare(lab: &Lab) -> Result<(), Error> {
    let rbac = serde_json::json!({
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": SERVICE_ACCOUNT, "namespace": "kube-system"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": "lab:node-proxier"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-proxier"},
             "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": "kube-system"}]},
        ]
    });
    let args = [
        "apply",
        "--server-side",
        "--field-manager=ferrolb-lab",
        "-f",
        "-",
    ];
    let out = lab.kubectl_input(&args, &rbac.to_string())?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "applying kube-proxy's ServiceAccount and binding: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    super::launch::write_sa_kubeconfig(lab, "kube-system", SERVICE_ACCOUNT, &kubeconfig(lab))
}

/// kube-proxy's command line for `node` in `mode`.
pub fn argv(lab: &Lab, node: Node, mode: KubeProxyMode) -> Vec<String> {
    vec![
        controlplane::bin("kube-proxy").display().to_string(),
        format!("--kubeconfig={}", kubeconfig(lab).display()),
        format!("--hostname-override={node}"),
        format!("--proxy-mode={mode}"),
        format!("--cluster-cidr={CLUSTER_CIDRS}"),
        // Traffic from the node's own pod CIDR is the cluster's, as on GKE: the cluster CIDR
        // (the whole of 192.0.2.0/24) would also claim the conformance runner's far-client
        // address, outside every pod CIDR (`crate::conformance::far_client`).
        "--detect-local-mode=NodeCIDR".into(),
        "--conntrack-max-per-core=0".into(),
        format!("--healthz-bind-address=0.0.0.0:{HEALTH_PORT}"),
        format!("--metrics-bind-address=127.0.0.1:{METRICS_PORT}"),
        "--v=1".into(),
    ]
}

/// Starts kube-proxy on `node` unless it runs (or the lab runs none).
pub fn start(lab: &Lab, node: Node) -> Result<(), Error> {
    let mode = mode(lab)?;
    if !mode.runs() {
        return Err(Error::msg(format!(
            "lab {} runs no kube-proxy: bring it up with `cargo xtask lab up --kube-proxy nftables`",
            lab.names.lab
        )));
    }
    let role = role(node);
    if !process::find(&lab.names.lab, Some(&role)).is_empty() {
        return Ok(());
    }
    process::spawn(&Spawn {
        lab: &lab.names.lab,
        role: &role,
        netns: Some(&lab.names.netns(node.name())),
        argv: argv(lab, node, mode),
        env: Vec::new(),
        log: &lab.log(&role),
    })?;
    Ok(())
}

/// SIGTERM to kube-proxy on `node` (its rules stay, as when its Pod is deleted).
pub fn stop(lab: &Lab, node: Node) {
    process::stop(
        &process::find(&lab.names.lab, Some(&role(node))),
        Duration::from_secs(10),
    );
}

/// SIGKILL to kube-proxy on `node` (its rules stay).
pub fn kill(lab: &Lab, node: Node) {
    let pids = process::find(&lab.names.lab, Some(&role(node)));
    for &pid in &pids {
        process::signal(pid, Signal::SIGKILL);
    }
    process::stop(&pids, Duration::from_secs(5));
}

/// Whether kube-proxy runs on `node`.
pub fn running(lab: &Lab, node: Node) -> bool {
    !process::find(&lab.names.lab, Some(&role(node))).is_empty()
}

/// The pid of kube-proxy on `node`, while it runs.
pub fn pid(lab: &Lab, node: Node) -> Option<u32> {
    process::find(&lab.names.lab, Some(&role(node)))
        .first()
        .copied()
}

/// kube-proxy's `/metrics` on `node` (its loopback), as Prometheus text.
pub fn metrics(lab: &Lab, node: Node) -> Result<String, Error> {
    let url = format!("http://127.0.0.1:{METRICS_PORT}/metrics");
    let argv = [
        "curl",
        "--silent",
        "--show-error",
        "--fail",
        "--max-time",
        "10",
        &url,
    ]
    .map(String::from);
    let out = lab
        .exec(node.name(), &argv)?
        .output()
        .map_err(|e| Error::io("running curl", e))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "kube-proxy's {url} on {node}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes kube-proxy's rules from `node` with `kube-proxy --cleanup`, as an operator does after
/// uninstalling it (stop it first).
pub fn cleanup(lab: &Lab, node: Node) -> Result<(), Error> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.names.netns(node.name())])
        .arg(controlplane::bin("kube-proxy"))
        .args(["--cleanup", "--v=0"])
        .output()
        .map_err(|e| Error::io("running kube-proxy --cleanup", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "kube-proxy --cleanup on {node}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The address of kube-proxy's health server on `node`.
pub fn health_addr(node: Node) -> SocketAddr {
    SocketAddr::new(node.host().v4.into(), HEALTH_PORT)
}

/// Waits until kube-proxy on `node` answers `/healthz` with 200 (synced), asked from the
/// client host.
pub async fn wait_ready(lab: &Lab, node: Node, limit: Duration) -> Result<(), Error> {
    let addr = health_addr(node);
    wait_for(
        &format!("kube-proxy on {node} to be healthy"),
        limit,
        || async move {
            let (code, _) = lab.http_get("client", addr, "/healthz").ok()?;
            (code == 200).then_some(())
        },
    )
    .await
}

/// Brings kube-proxy up on every node in the lab's mode (nothing when it runs none).
pub(super) async fn up(lab: &Lab) -> Result<(), Error> {
    if !mode(lab)?.runs() {
        return Ok(());
    }
    prepare(lab)?;
    for node in Node::ALL {
        start(lab, node)?;
    }
    for node in Node::ALL {
        wait_ready(lab, node, Duration::from_secs(60)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::plan::{NODES, POD_V4_PREFIX};
    use super::*;

    #[test]
    fn modes_parse_both_ways_and_bad_ones_name_the_choices() {
        for m in KubeProxyMode::ALL {
            assert_eq!(m.name().parse::<KubeProxyMode>().unwrap(), m);
        }
        let err = "ipvs".parse::<KubeProxyMode>().unwrap_err().to_string();
        assert!(err.contains("ipvs") && err.contains("nftables"), "{err}");
        assert!(!KubeProxyMode::None.runs());
        assert!(KubeProxyMode::Iptables.runs());
    }

    #[test]
    fn the_cluster_cidr_holds_every_nodes_pod_cidr() {
        let cidrs: Vec<ipnet::IpNet> = CLUSTER_CIDRS
            .split(',')
            .map(|c| c.parse().unwrap())
            .collect();
        for node in NODES {
            for pod in node.pod_cidrs() {
                let pod: ipnet::IpNet = pod.parse().unwrap();
                assert!(cidrs.iter().any(|c| c.contains(&pod)), "{pod}");
            }
        }
        assert_eq!(POD_V4_PREFIX, 26);
    }

    #[test]
    fn kube_proxy_runs_with_its_own_credentials_and_loopback_metrics() {
        let lab = Lab::new("x", std::path::Path::new("/bin/true"));
        let a = argv(&lab, Node::B, KubeProxyMode::Nftables);
        assert!(a.contains(&"--proxy-mode=nftables".to_string()));
        assert!(a.contains(&"--hostname-override=node-b".to_string()));
        assert!(a.contains(&"--conntrack-max-per-core=0".to_string()));
        assert!(a.contains(&"--detect-local-mode=NodeCIDR".to_string()));
        assert!(a.contains(&"--metrics-bind-address=127.0.0.1:10249".to_string()));
        assert!(a.iter().any(|f| f.ends_with("kube-proxy.kubeconfig")));
    }
}
