//! ferrolb's components run in the lab the way deploy/ runs them on a cluster: under their
//! ServiceAccounts with deploy/'s RBAC, with their container's args and environment.
//!
//! `lab install` applies deploy/'s namespace, ServiceAccounts, RBAC and webhook Service, mints
//! a token for each ServiceAccount (TokenRequest, 24 h) and writes, per component, what it is
//! started with into `<lab>/ferrolb/`, so [`Lab::start`] (also from another process, like
//! `cargo xtask lab start`) starts it the same way each time.
//!
//! Each component gets a kubeconfig with its token, the lab's CA and the apiserver's LAN
//! address rather than in-cluster config's environment: in-cluster config reads the token and
//! CA from the fixed paths under /var/run/secrets/kubernetes.io/serviceaccount, which lab
//! processes (sharing the host's filesystem) cannot each have their own of, and would reach
//! the apiserver through the `kubernetes` Service's ClusterIP, which nothing routes in the
//! node namespaces. The credentials are the ServiceAccount's either way, so the RBAC the
//! apiserver enforces is deploy/'s.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::components::{Binary, Component};
use super::install::{
    CONTROLLER_HEALTH_PORT, GOSSIP_PORT, NAMESPACE, SPEAKER_HEALTH_PORT, WEBHOOK_PORT,
    WEBHOOK_SERVICE,
};
use super::pki;
use super::plan::{APISERVER_PORT, CONTROL_PLANE};
use crate::manifests::{self, Doc};
use crate::{Error, Lab};

/// The deploy/ files the lab applies: everything but the workloads (the lab runs those as
/// processes) and the PodDisruptionBudget (no pods to protect).
pub const APPLIED: [&str; 6] = [
    "deploy/namespace.yaml",
    "deploy/serviceaccounts.yaml",
    "deploy/controller-rbac.yaml",
    "deploy/speaker-rbac.yaml",
    "deploy/edge-rbac.yaml",
    "deploy/webhook-service.yaml",
];

/// How long a minted ServiceAccount token is valid (`lab install` mints new ones).
const TOKEN_DURATION: &str = "24h";

/// What a component is started with (saved as `<lab>/ferrolb/<component>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// Arguments after the binary.
    pub args: Vec<String>,
    /// Environment (the container's, with Downward API fields filled in, and KUBECONFIG).
    pub env: Vec<(String, String)>,
}

/// The workload in deploy/ that runs `binary`: (file, kind, name).
fn workload(binary: &str) -> Result<(&'static str, &'static str, &'static str), Error> {
    match binary {
        "ferrolb-controller" => Ok((
            "deploy/controller-deployment.yaml",
            "Deployment",
            "ferrolb-controller",
        )),
        "ferrolb-speaker" => Ok((
            "deploy/speaker-daemonset.yaml",
            "DaemonSet",
            "ferrolb-speaker",
        )),
        other => Err(Error::msg(format!("no workload in deploy/ runs {other}"))),
    }
}

/// Flags whose value the lab relies on (its health probes, webhook Endpoints and gossip): the
/// lab refuses to start a component whose deploy/ args say otherwise.
fn expected(binary: &str) -> Vec<(&'static str, String)> {
    if binary == "ferrolb-controller" {
        vec![
            ("--health-addr", format!("0.0.0.0:{CONTROLLER_HEALTH_PORT}")),
            ("--webhook-addr", format!("0.0.0.0:{WEBHOOK_PORT}")),
            ("--webhook-service", WEBHOOK_SERVICE.to_string()),
        ]
    } else {
        vec![("--gossip-port", GOSSIP_PORT.to_string())]
    }
}

/// The systemd unit deploy/ gives for the edge, which runs on a host outside the cluster.
pub const EDGE_UNIT: &str = "deploy/edge/ferrolb-edge.service";
/// The edge's ServiceAccount (deploy/serviceaccounts.yaml, deploy/edge-rbac.yaml).
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

/// How deploy/'s unit runs the edge, adapted to the lab: the speakers' health port is
/// kube-proxy's here, and the kubeconfig is the lab's (added by the caller).
fn edge_from_unit(repo: &Path) -> Result<Launch, Error> {
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

/// The container's args, adapted to the lab.
fn lab_args(binary: &str, container: &Value) -> Result<Vec<String>, Error> {
    let expected = expected(binary);
    let mut out = Vec::new();
    for arg in container["args"].as_array().into_iter().flatten() {
        let arg = arg
            .as_str()
            .ok_or_else(|| Error::msg(format!("{binary}: an arg that is not a string")))?;
        let (flag, value) = arg.split_once('=').unwrap_or((arg, ""));
        // deploy/ moves the speaker's health API to 10266 because kube-proxy holds 10256 on
        // every node of clusters that run it (kind). The lab runs no kube-proxy, so its
        // speakers keep kube-proxy's port, where load balancers probe nodes.
        if binary == "ferrolb-speaker" && flag == "--health-addr" {
            out.push(format!("--health-addr=0.0.0.0:{SPEAKER_HEALTH_PORT}"));
            continue;
        }
        if let Some((_, want)) = expected.iter().find(|(f, _)| *f == flag)
            && value != want
        {
            return Err(Error::msg(format!(
                "deploy/ runs {binary} with {arg}, the lab expects {flag}={want}"
            )));
        }
        out.push(arg.to_string());
    }
    Ok(out)
}

/// The container's environment, Downward API fields answered as the kubelet would for `c`.
fn lab_env(c: &Component, container: &Value) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for env in container["env"].as_array().into_iter().flatten() {
        let name = env["name"]
            .as_str()
            .ok_or_else(|| Error::msg(format!("{}: an env without a name", c.binary())))?;
        let value = if let Some(v) = env["value"].as_str() {
            v.to_string()
        } else {
            match env["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.name") => c.to_string(),
                Some("metadata.namespace") => NAMESPACE.to_string(),
                Some("spec.nodeName") => c.node_name().to_string(),
                other => {
                    return Err(Error::msg(format!(
                        "{}: env {name} comes from {other:?}, which the lab cannot fill in",
                        c.binary()
                    )));
                }
            }
        };
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// The pod template's single container and its ServiceAccount.
fn container(doc: &Doc) -> Result<(&Value, &str), Error> {
    let spec = &doc.value["spec"]["template"]["spec"];
    let sa = spec["serviceAccountName"]
        .as_str()
        .ok_or_else(|| Error::msg(format!("{}: no serviceAccountName", doc.file)))?;
    match spec["containers"].as_array().map(Vec::as_slice) {
        Some([c]) => Ok((c, sa)),
        _ => Err(Error::msg(format!(
            "{}: not exactly one container",
            doc.file
        ))),
    }
}

/// How deploy/ (under `repo`) runs component `c`, adapted to the lab: its ServiceAccount and
/// its args and environment (without KUBECONFIG).
pub fn from_deploy(repo: &Path, c: &Component) -> Result<(String, Launch), Error> {
    if c.binary() == Binary::Edge {
        return Ok((EDGE_SERVICE_ACCOUNT.to_string(), edge_from_unit(repo)?));
    }
    let (file, kind, name) = workload(c.binary().name())?;
    let docs = manifests::read(repo, file)?;
    let (container, sa) = container(manifests::find(&docs, kind, name)?)?;
    let launch = Launch {
        args: lab_args(c.binary().name(), container)?,
        env: lab_env(c, container)?,
    };
    Ok((sa.to_string(), launch))
}

fn launch_dir(lab: &Lab) -> PathBuf {
    lab.dir.join("ferrolb")
}

/// Kubeconfig of ServiceAccount `sa` (ferrolb-system) for processes in the lab's namespaces.
pub(super) fn sa_kubeconfig(lab: &Lab, sa: &str) -> PathBuf {
    launch_dir(lab).join(format!("{sa}.kubeconfig"))
}

fn launch_file(lab: &Lab, c: Component) -> PathBuf {
    launch_dir(lab).join(format!("{c}.json"))
}

/// Applies [`APPLIED`] (server-side). The webhook Service goes in without its selector: no
/// pods match it here, so the endpoints controller would empty the Endpoints the lab keeps
/// pointed at the running controllers ([`Lab::sync_webhook_endpoints`]).
pub(super) fn apply_deploy(lab: &Lab, repo: &Path) -> Result<(), Error> {
    let mut items = Vec::new();
    for file in APPLIED {
        for mut doc in manifests::read(repo, file)? {
            if doc.kind() == "Service"
                && let Some(spec) = doc.value["spec"].as_object_mut()
            {
                spec.remove("selector");
            }
            items.push(doc.value);
        }
    }
    lab.kubectl_apply(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
}

/// Mints a token for each component's ServiceAccount, writes its kubeconfig and saves what
/// each component is started with.
pub(super) fn prepare_launches(
    lab: &Lab,
    repo: &Path,
    components: &[Component],
) -> Result<(), Error> {
    let dir = launch_dir(lab);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut minted: Vec<String> = Vec::new();
    for c in components {
        let (sa, mut launch) = from_deploy(repo, c)?;
        if !minted.contains(&sa) {
            write_sa_kubeconfig(lab, &sa)?;
            minted.push(sa.clone());
        }
        launch.env.push((
            "KUBECONFIG".into(),
            sa_kubeconfig(lab, &sa).display().to_string(),
        ));
        let path = launch_file(lab, *c);
        let text = serde_json::to_string_pretty(&launch)
            .map_err(|e| Error::msg(format!("encoding {}: {e}", path.display())))?;
        std::fs::write(&path, text)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

/// What `lab install` saved for component `c`.
pub(super) fn launch(lab: &Lab, c: Component) -> Result<Launch, Error> {
    let path = launch_file(lab, c);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::io(
            format!("reading {} (run `lab install` first)", path.display()),
            e,
        )
    })?;
    serde_json::from_str(&text).map_err(|e| Error::msg(format!("{}: {e}", path.display())))
}

/// `kubectl create token` for `sa`, written into a kubeconfig with the lab's CA and the
/// apiserver's LAN address.
fn write_sa_kubeconfig(lab: &Lab, sa: &str) -> Result<(), Error> {
    let out = lab
        .kubectl()
        .args([
            "create",
            "token",
            sa,
            "-n",
            NAMESPACE,
            "--duration",
            TOKEN_DURATION,
        ])
        .output()
        .map_err(|e| Error::io("running kubectl create token", e))?;
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || token.is_empty() {
        return Err(Error::msg(format!(
            "minting a token for {NAMESPACE}/{sa}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let server = format!("https://{}:{APISERVER_PORT}", CONTROL_PLANE.v4);
    let pki = lab.dir.join("pki");
    pki::token_kubeconfig(
        &pki,
        sa,
        &token,
        &server,
        NAMESPACE,
        &sa_kubeconfig(lab, sa),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(name: &str) -> (String, Launch) {
        let c: Component = name.parse().unwrap();
        from_deploy(&crate::testlab::repo_root(), &c).unwrap()
    }

    #[test]
    fn controllers_run_with_deploys_identity_flags_and_env() {
        let (sa, l) = resolve("controller-1");
        assert_eq!(sa, "ferrolb-controller");
        assert!(
            l.args
                .contains(&"--lease-name=ferrolb-controller".to_string())
        );
        assert!(l.args.contains(&"--health-addr=0.0.0.0:7472".to_string()));
        assert!(l.env.contains(&("POD_NAME".into(), "controller-1".into())));
        assert!(l.env.contains(&("POD_NAMESPACE".into(), NAMESPACE.into())));
    }

    #[test]
    fn speakers_keep_kube_proxys_health_port_in_the_lab() {
        let (sa, l) = resolve("speaker-node-c");
        assert_eq!(sa, "ferrolb-speaker");
        let health: Vec<&String> = l
            .args
            .iter()
            .filter(|a| a.starts_with("--health-addr"))
            .collect();
        assert_eq!(health, ["--health-addr=0.0.0.0:10256"]);
        assert!(
            l.env
                .contains(&("FERROLB_NODE_NAME".into(), "node-c".into()))
        );
    }

    #[test]
    fn the_edge_runs_with_the_units_arguments_and_the_labs_kubeconfig() {
        let (sa, l) = resolve("edge");
        assert_eq!(sa, EDGE_SERVICE_ACCOUNT);
        assert!(l.args.contains(&"--interface=eth0".to_string()), "{l:?}");
        assert!(l.args.contains(&"--health-port=10256".to_string()), "{l:?}");
        assert!(l.env.iter().all(|(name, _)| name != "KUBECONFIG"), "{l:?}");
        assert!(
            l.env
                .contains(&("FERROLB_LOG_FORMAT".into(), "json".into()))
        );
        let broken = "[Service]\nEnvironment=NOVALUE\nExecStart=/bin/x\n";
        assert!(unit_command(broken).is_err());
        assert!(unit_command("[Service]\n").is_err());
    }
}
