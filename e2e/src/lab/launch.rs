//! The edge in the lab: `ferrolb-edge` runs outside the cluster (deploy/edge/), so the lab
//! starts it as a process on the edge host, the way deploy/edge/ferrolb-edge.service runs it
//! on a machine: with the unit's arguments and environment, and a kubeconfig of the
//! ServiceAccount `ferrolb-edge` (deploy/'s RBAC) holding a token minted by `lab install`
//! (TokenRequest, 24 h) and the apiserver's LAN address.
//!
//! What `lab install` saved is in `<lab>/ferrolb/edge.json`, so [`Lab::start`] (also from
//! another process, like `cargo xtask lab start edge`) starts it the same way each time.
//! The controller and speakers are Pods the node agent runs ([`super::agent`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::install::{NAMESPACE, SPEAKER_HEALTH_PORT};
use super::pki;
use crate::{Error, Lab};

/// How long a minted ServiceAccount token is valid (`lab install` mints new ones).
const TOKEN_DURATION: &str = "24h";

/// What the edge is started with (saved as `<lab>/ferrolb/edge.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// Arguments after the binary.
    pub args: Vec<String>,
    /// Environment (the unit's, and KUBECONFIG).
    pub env: Vec<(String, String)>,
}

/// The systemd unit deploy/ gives for the edge, which runs on a host outside the cluster.
pub const EDGE_UNIT: &str = "deploy/edge/ferrolb-edge.service";
/// The edge's ServiceAccount (deploy/base/serviceaccounts.yaml, deploy/base/edge-rbac.yaml).
pub const EDGE_SERVICE_ACCOUNT: &str = "ferrolb-edge";

/// `ExecStart=` arguments (after the binary) and `Environment=` pairs of a systemd unit.
pub fn unit_command(text: &str) -> Result<Launch, Error> {
    let mut args = None;
    let mut env = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(command) = line.strip_prefix("ExecStart=") {
            args = Some(
                command
                    .split_whitespace()
                    .skip(1)
                    .map(String::from)
                    .collect(),
            );
        } else if let Some(pair) = line.strip_prefix("Environment=") {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| Error::msg(format!("unit line {line:?}: not NAME=VALUE")))?;
            env.push((name.to_string(), value.to_string()));
        }
    }
    let args = args.ok_or_else(|| Error::msg("the unit has no ExecStart= line"))?;
    Ok(Launch { args, env })
}

/// How deploy/'s unit (under `repo`) runs the edge, adapted to the lab: it probes nodes on
/// kube-proxy's health port 10256 (kube-proxy's own with `--kube-proxy nftables|iptables`, the
/// speakers' from deploy/without-kube-proxy/ otherwise), and the kubeconfig is the lab's (added
/// by the caller).
pub fn edge_from_unit(repo: &Path) -> Result<Launch, Error> {
    let path = repo.join(EDGE_UNIT);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let Launch { args, env } = unit_command(&text)?;
    let args = args
        .into_iter()
        .map(|arg| match arg.split_once('=') {
            Some(("--health-port", _)) => format!("--health-port={SPEAKER_HEALTH_PORT}"),
            _ => arg,
        })
        .collect();
    let env = env
        .into_iter()
        .filter(|(name, _)| name != "KUBECONFIG")
        .collect();
    Ok(Launch { args, env })
}

fn launch_dir(lab: &Lab) -> PathBuf {
    lab.dir.join("ferrolb")
}

/// Kubeconfig of the edge's ServiceAccount.
pub(super) fn edge_kubeconfig(lab: &Lab) -> PathBuf {
    launch_dir(lab).join(format!("{EDGE_SERVICE_ACCOUNT}.kubeconfig"))
}

fn launch_file(lab: &Lab) -> PathBuf {
    launch_dir(lab).join("edge.json")
}

/// Mints a token for the edge's ServiceAccount, writes its kubeconfig and saves what the
/// edge is started with.
pub(super) fn prepare_edge(lab: &Lab, repo: &Path) -> Result<(), Error> {
    let dir = launch_dir(lab);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut launch = edge_from_unit(repo)?;
    write_sa_kubeconfig(lab, NAMESPACE, EDGE_SERVICE_ACCOUNT, &edge_kubeconfig(lab))?;
    launch.env.push((
        "KUBECONFIG".into(),
        edge_kubeconfig(lab).display().to_string(),
    ));
    let path = launch_file(lab);
    let text = serde_json::to_string_pretty(&launch)
        .map_err(|e| Error::msg(format!("encoding {}: {e}", path.display())))?;
    std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// What `lab install` saved for the edge.
pub(super) fn edge_launch(lab: &Lab) -> Result<Launch, Error> {
    let path = launch_file(lab);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::io(
            format!("reading {} (run `lab install` first)", path.display()),
            e,
        )
    })?;
    serde_json::from_str(&text).map_err(|e| Error::msg(format!("{}: {e}", path.display())))
}

/// `kubectl create token` for ServiceAccount `namespace/sa` (valid 24 h), written into a
/// kubeconfig at `out` with the lab's CA and the apiserver's LAN address, as a host on the LAN
/// reaches it (the edge, the nodes' kube-proxy).
pub(super) fn write_sa_kubeconfig(
    lab: &Lab,
    namespace: &str,
    sa: &str,
    out: &Path,
) -> Result<(), Error> {
    let cmd = lab
        .kubectl()
        .args([
            "create",
            "token",
            sa,
            "-n",
            namespace,
            "--duration",
            TOKEN_DURATION,
        ])
        .output()
        .map_err(|e| Error::io("running kubectl create token", e))?;
    let token = String::from_utf8_lossy(&cmd.stdout).trim().to_string();
    if !cmd.status.success() || token.is_empty() {
        return Err(Error::msg(format!(
            "minting a token for {namespace}/{sa}: {}",
            String::from_utf8_lossy(&cmd.stderr).trim()
        )));
    }
    let server = format!("https://{}", super::lifecycle::apiserver_on_lan(lab)?);
    pki::token_kubeconfig(&lab.dir.join("pki"), sa, &token, &server, namespace, out)
}
