//! ferrolb itself in the lab, installed as on a cluster: the CRDs from crds/, then deploy/
//! whole through `kubectl kustomize` — namespace, ServiceAccounts, RBAC, the webhook Service,
//! the controller Deployment and PodDisruptionBudget, the speaker DaemonSet. The real
//! ReplicaSet and DaemonSet controllers and the scheduler place the Pods; the node agent runs
//! them ([`super::agent`]). Without kube-proxy in the lab, the overlay
//! deploy/without-kube-proxy/ is what a cluster without kube-proxy installs. The edge runs
//! outside the cluster ([`super::launch`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::components::COMPONENTS;
use super::kubeproxy::KubeProxyMode;
use super::plan::{APISERVER_PORT, CONTROL_PLANE, IpStack, NODES, SERVICE_CIDRS};
use crate::{Error, Lab, wait_for};

/// The namespace ferrolb runs in.
pub const NAMESPACE: &str = "ferrolb-system";
/// Port of the controller's /metrics, /healthz and /readyz.
pub const CONTROLLER_HEALTH_PORT: u16 = 7472;
/// Port of the speakers' health API in the lab: kube-proxy's healthz port, where load
/// balancers probe nodes (deploy/without-kube-proxy/ moves it there; deploy/ keeps 10266
/// because kube-proxy holds 10256 on clusters that run it).
pub const SPEAKER_HEALTH_PORT: u16 = 10256;
/// Port of the speakers' /metrics and /debug/state (deploy/'s `--metrics-addr`), behind the
/// access review.
pub const SPEAKER_METRICS_PORT: u16 = 7473;
/// Port of the edge's /healthz.
pub const EDGE_HEALTH_PORT: u16 = 9480;
/// Port of the edge's /metrics and /debug/state (deploy/edge's `--metrics-addr`).
pub const EDGE_METRICS_PORT: u16 = 9481;
/// Port of the speakers' gossip.
pub const GOSSIP_PORT: u16 = 7946;
/// Port of the controller's webhook.
pub const WEBHOOK_PORT: u16 = 9443;
/// The webhook Service.
pub const WEBHOOK_SERVICE: &str = "ferrolb-webhook";
/// The Validating- and MutatingWebhookConfiguration the controller makes
/// (`--webhook-configuration`).
pub const WEBHOOK_CONFIGURATION: &str = "ferrolb-webhook";
/// The controller Deployment.
pub const CONTROLLER_DEPLOYMENT: &str = "ferrolb-controller";
/// The speaker DaemonSet.
pub const SPEAKER_DAEMONSET: &str = ferrolb_core::names::SPEAKER_DAEMONSET;

/// The kustomization the lab installs: deploy/ with kube-proxy, deploy/without-kube-proxy/
/// without.
pub fn deploy_dir(repo: &Path, kube_proxy: KubeProxyMode) -> PathBuf {
    if kube_proxy.runs() {
        repo.join("deploy")
    } else {
        repo.join("deploy/without-kube-proxy")
    }
}

/// Where in-cluster config reaches the apiserver (`KUBERNETES_SERVICE_HOST`/`_PORT`): the
/// `kubernetes` Service's ClusterIP:443 once kube-proxy delivers it, else the apiserver's
/// LAN address in the lab's `stack`, as clusters without kube-proxy configure it. The
/// apiserver's certificate covers both ([`super::pki`]).
pub fn apiserver_for_pods(kube_proxy: KubeProxyMode, stack: IpStack) -> SocketAddr {
    let cluster_ip = SERVICE_CIDRS
        .split(',')
        .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
        .find(|n| matches!(n, ipnet::IpNet::V4(_)))
        .and_then(|n| n.hosts().next());
    match cluster_ip {
        Some(ip) if kube_proxy.runs() && stack.has_ipv4() => SocketAddr::new(ip, 443),
        _ => SocketAddr::new(
            stack.primary(CONTROL_PLANE.v4, CONTROL_PLANE.v6),
            APISERVER_PORT,
        ),
    }
}

/// How the lab installs ferrolb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// crds/ with `kubectl apply`, then deploy/ (or its overlay) through `kubectl kustomize`.
    Kustomize,
    /// The Helm chart (charts/ferrolb) with the pinned helm: `helm upgrade --install`, the
    /// chart's crds/ installed by Helm, `dataplane` as [`deploy_dir`] chooses.
    Helm,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Kustomize => "deploy/ through kustomize",
            Method::Helm => "the Helm chart",
        })
    }
}

/// The chart's `dataplane` value matching [`deploy_dir`]'s choice: `announce-only` beside
/// kube-proxy, `nftables` without it.
pub fn helm_dataplane(kube_proxy: KubeProxyMode) -> &'static str {
    if kube_proxy.runs() {
        "announce-only"
    } else {
        "nftables"
    }
}

/// `helm ARGS` for the lab: the pinned helm, the lab's kubeconfig, Helm's own files in the
/// lab's directory; `--set`s of `sets` after `args`. Fails naming the command.
pub fn helm(lab: &Lab, args: &[&str], sets: &[String]) -> Result<String, Error> {
    let bin = super::helm::require()?;
    let home = lab.dir.join("helm");
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args)
        .arg("--kubeconfig")
        .arg(lab.kubeconfig())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().map_err(|e| Error::io("running helm", e))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(Error::msg(format!(
            "helm {}: {}",
            args.join(" "),
            text.trim()
        )))
    }
}

/// `helm upgrade --install` of the chart as release [`super::helm::RELEASE`] in [`NAMESPACE`],
/// with the lab's dataplane and `sets`: the first install and every upgrade.
pub fn helm_upgrade(lab: &Lab, repo: &Path, sets: &[String]) -> Result<(), Error> {
    let chart = repo.join(super::helm::CHART);
    let chart = chart.to_string_lossy();
    let mut all = vec![format!(
        "dataplane={}",
        helm_dataplane(lab.kube_proxy_mode()?)
    )];
    all.extend(sets.iter().cloned());
    helm(
        lab,
        &[
            "upgrade",
            "--install",
            super::helm::RELEASE,
            &chart,
            "--namespace",
            NAMESPACE,
        ],
        &all,
    )?;
    Ok(())
}

/// Installs ferrolb into the running lab (see [`Lab::install`]).
pub(super) async fn install(lab: &Lab, repo: &Path) -> Result<(), Error> {
    install_with(lab, repo, Method::Kustomize).await
}

/// Installs ferrolb into the running lab by `method` (see [`Lab::install_with`]).
pub(super) async fn install_with(lab: &Lab, repo: &Path, method: Method) -> Result<(), Error> {
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
    super::deps::ensure_rootfs_tools()?;
    match method {
        Method::Kustomize => apply_kustomized(lab, repo)?,
        Method::Helm => {
            // The namespace first, with its Pod Security labels (the speaker is privileged);
            // Helm installs into it and never deletes it.
            let ns = repo.join("deploy/base/namespace.yaml");
            let out = lab
                .kubectl()
                .args([
                    "apply",
                    "--server-side",
                    "--field-manager=ferrolb-lab",
                    "-f",
                ])
                .arg(&ns)
                .output()
                .map_err(|e| Error::io("running kubectl apply", e))?;
            if !out.status.success() {
                return Err(Error::msg(format!(
                    "applying {}: {}",
                    ns.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            helm_upgrade(lab, repo, &[])?;
        }
    }
    super::launch::prepare_edge(lab, repo)?;
    workloads_ready(lab, Duration::from_secs(120)).await?;
    lab.start_ready(&COMPONENTS, Duration::from_secs(60))
        .await?;
    Ok(())
}

/// crds/ with `kubectl apply`, then deploy/ (or its overlay) through `kubectl kustomize`.
fn apply_kustomized(lab: &Lab, repo: &Path) -> Result<(), Error> {
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
    let dir = deploy_dir(repo, lab.kube_proxy_mode()?);
    let rendered = lab
        .kubectl()
        .arg("kustomize")
        .arg(&dir)
        .output()
        .map_err(|e| Error::io("running kubectl kustomize", e))?;
    if !rendered.status.success() {
        return Err(Error::msg(format!(
            "kubectl kustomize {}: {}",
            dir.display(),
            String::from_utf8_lossy(&rendered.stderr).trim()
        )));
    }
    let args = [
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=ferrolb-lab",
        "-f",
        "-",
    ];
    let out = kubectl_input(lab, &args, &String::from_utf8_lossy(&rendered.stdout))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "applying {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Waits until the speaker DaemonSet has a ready Pod on every node and the controller
/// Deployment all its replicas available (as the API reports them).
pub async fn workloads_ready(lab: &Lab, limit: Duration) -> Result<(), Error> {
    let client = lab.client().await?;
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let deploy: Api<Deployment> = Api::namespaced(client, NAMESPACE);
    wait_for(
        "the speaker DaemonSet ready on every node and the controller Deployment available",
        limit,
        || {
            let (ds, deploy) = (ds.clone(), deploy.clone());
            async move {
                let d = ds.get(SPEAKER_DAEMONSET).await.ok()?.status?;
                let c = deploy.get(CONTROLLER_DEPLOYMENT).await.ok()?;
                let want = c.spec.as_ref()?.replicas.unwrap_or(1);
                let c = c.status?;
                let speakers = d.number_ready == NODES.len() as i32
                    && d.desired_number_scheduled == NODES.len() as i32;
                let controllers =
                    c.available_replicas == Some(want) && c.updated_replicas == Some(want);
                (speakers && controllers).then_some(())
            }
        },
    )
    .await
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

/// See [`Lab::wait_uninstalled`].
pub(super) async fn wait_uninstalled(lab: &Lab, limit: Duration) -> Result<(), Error> {
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    let client = lab.client().await?;
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let m: Api<MutatingWebhookConfiguration> = Api::all(client);
    wait_for("no ferrolb webhook configuration", limit, || {
        let (v, m) = (v.clone(), m.clone());
        async move {
            let gone = matches!(v.get_opt(WEBHOOK_CONFIGURATION).await, Ok(None))
                && matches!(m.get_opt(WEBHOOK_CONFIGURATION).await, Ok(None));
            gone.then_some(())
        }
    })
    .await?;
    wait_for("no table inet ferrolb on any node", limit, || async {
        lab.nodes_with_table().is_empty().then_some(())
    })
    .await
    .map_err(|e| Error::msg(format!("{e}: still on {:?}", lab.nodes_with_table())))
}

/// Replaces the speaker DaemonSet's `--dataplane*` args with `flags`, sets the variables of
/// `env` in its container, and waits until its rollout is done (every speaker updated and
/// ready; two minutes).
pub async fn speaker_dataplane(
    client: &kube::Client,
    flags: &[&str],
    env: &[(&str, String)],
) -> Result<(), Error> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let ds = api
        .get(SPEAKER_DAEMONSET)
        .await
        .map_err(|e| Error::kube("reading the speaker DaemonSet", e))?;
    let args: Vec<String> = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.args.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !a.starts_with("--dataplane"))
        .chain(flags.iter().map(|f| f.to_string()))
        .collect();
    let mut container = json!({"name": "speaker", "args": args});
    if !env.is_empty() {
        let vars: Vec<_> = env
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        container["env"] = json!(vars);
    }
    let patch = json!({"spec": {"template": {"spec": {"containers": [container]}}}});
    api.patch(
        SPEAKER_DAEMONSET,
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
    .map_err(|e| Error::kube("patching the speaker DaemonSet", e))?;
    let api = &api;
    let nodes = NODES.len() as i32;
    wait_for(
        &format!("the speaker DaemonSet rolled out with {flags:?}"),
        Duration::from_secs(120),
        || async move {
            let ds = api.get(SPEAKER_DAEMONSET).await.ok()?;
            let st = ds.status?;
            let generation = ds.metadata.generation?;
            (st.observed_generation == Some(generation)
                && st.updated_number_scheduled == Some(nodes)
                && st.number_ready == nodes
                && st.number_unavailable.unwrap_or(0) == 0)
                .then_some(())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_kube_proxy_the_overlay_and_the_lan_address_with_it_deploy_and_the_cluster_ip() {
        let repo = Path::new("/r");
        let none = KubeProxyMode::None;
        assert_eq!(
            deploy_dir(repo, none),
            repo.join("deploy/without-kube-proxy")
        );
        let dual = IpStack::DualStack;
        assert_eq!(
            apiserver_for_pods(none, dual).to_string(),
            "198.51.100.1:6443"
        );
        assert_eq!(
            apiserver_for_pods(none, IpStack::Ipv6Only).to_string(),
            "[2001:db8:100::1]:6443"
        );
        for mode in [KubeProxyMode::Nftables, KubeProxyMode::Iptables] {
            assert_eq!(deploy_dir(repo, mode), repo.join("deploy"));
            assert_eq!(
                apiserver_for_pods(mode, dual).to_string(),
                "203.0.113.1:443"
            );
        }
    }
}
