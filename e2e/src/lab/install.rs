//! ferrolb itself in the lab: the CRDs, deploy/'s namespace, ServiceAccounts, RBAC and
//! webhook Service, and the components (see [`super::components`]) run as lab processes under
//! those ServiceAccounts with the args and environment of deploy/'s Deployment, DaemonSet and
//! edge unit (see [`super::launch`]).

use std::path::Path;
use std::time::Duration;

use super::components::{COMPONENTS, CONTROLLERS};
use crate::{Error, Lab};

/// The namespace ferrolb runs in.
pub const NAMESPACE: &str = "ferrolb-system";
/// Port of the controller's /metrics, /healthz and /readyz.
pub const CONTROLLER_HEALTH_PORT: u16 = 7472;
/// Port of the speakers' health API: kube-proxy's healthz port, where load balancers probe
/// nodes. deploy/ uses 10266 because kube-proxy holds 10256 on clusters that run it (kind);
/// the lab runs no kube-proxy, so its speakers keep 10256.
pub const SPEAKER_HEALTH_PORT: u16 = 10256;
/// Port of the edge's /healthz, /metrics and /debug/state.
pub const EDGE_HEALTH_PORT: u16 = 9480;
/// Port of the speakers' gossip.
pub const GOSSIP_PORT: u16 = 7946;
/// Port of the controller's webhook.
pub const WEBHOOK_PORT: u16 = 9443;
/// The webhook Service.
pub const WEBHOOK_SERVICE: &str = "ferrolb-webhook";

/// Installs ferrolb into the running lab (see [`Lab::install`]).
pub(super) async fn install(lab: &Lab, repo: &Path) -> Result<(), Error> {
    for c in COMPONENTS {
        let bin = lab.bin_dir().join(c.binary().name());
        if !bin.exists() {
            return Err(Error::msg(format!(
                "{} is missing: build it with `cargo build -p {}`",
                bin.display(),
                c.binary()
            )));
        }
    }
    let out = lab
        .kubectl()
        .args(["apply", "--server-side", "--force-conflicts", "-f"])
        .arg(repo.join("crds"))
        .output()
        .map_err(|e| Error::io("running kubectl apply", e))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "applying the CRDs: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    lab.apply_deploy(repo)?;
    lab.prepare_launches(repo, &COMPONENTS)?;
    lab.start_ready(&COMPONENTS, Duration::from_secs(60))
        .await?;
    Ok(())
}

/// Runs kubectl with `args`, feeding `input` on stdin.
pub(super) fn kubectl_input(
    lab: &Lab,
    args: &[&str],
    input: &str,
) -> Result<std::process::Output, Error> {
    use std::io::Write;
    let mut child = lab
        .kubectl()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("running kubectl", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| Error::io("writing to kubectl", e))?;
    }
    child
        .wait_with_output()
        .map_err(|e| Error::io("running kubectl", e))
}

/// `kubectl apply` (server-side) of one JSON object.
pub(super) fn kubectl_apply(lab: &Lab, body: &serde_json::Value) -> Result<(), Error> {
    let args = [
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=ferrolb-lab",
        "-f",
        "-",
    ];
    let out = kubectl_input(lab, &args, &body.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "kubectl apply: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Points the webhook Service at the controllers that run: the lab plays the part of the
/// kubelet's readiness probe and the endpoints controller.
pub(super) fn sync_webhook_endpoints(lab: &Lab) -> Result<(), Error> {
    let addresses: Vec<serde_json::Value> = CONTROLLERS
        .iter()
        .filter(|c| lab.component_running(**c))
        .map(|c| serde_json::json!({"ip": c.host().v4.to_string()}))
        .collect();
    let subsets = if addresses.is_empty() {
        serde_json::json!([])
    } else {
        serde_json::json!([{"addresses": addresses,
            "ports": [{"name": "https", "port": WEBHOOK_PORT, "protocol": "TCP"}]}])
    };
    kubectl_apply(
        lab,
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": WEBHOOK_SERVICE, "namespace": NAMESPACE},
            "subsets": subsets,
        }),
    )
}
