//! Bringing a lab up (network, control plane, apiserver forwarder, node agent, kube-proxy in
//! the lab's mode) and taking it down.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::api::Api;

use super::plan::{APISERVER_PORT, CONTROL_PLANE, IpStack, NODES};
use super::process::{self, Spawn};
use super::{controlplane, deps, kubeproxy, labs_root, node_ready, pki, topology};
use crate::{Error, Lab, wait_for};

/// Brings the lab up (or completes a partly running one): installs missing tools, builds the
/// control plane if needed, creates the network, starts the control plane and the node
/// agent, and waits until the nodes are Ready.
pub(super) async fn up(lab: &Lab, repo: &Path) -> Result<(), Error> {
    deps::ensure()?;
    controlplane::build(&repo.join("e2e/controlplane"))?;
    super::helm::build(repo)?;
    for sub in ["logs", "pki"] {
        let d = lab.dir.join(sub);
        std::fs::create_dir_all(&d)
            .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
    }
    pki::ensure(&lab.dir.join("pki"))?;
    let stack = lab.ip_stack()?;
    if stack != IpStack::DualStack && kubeproxy::mode(lab)?.runs() {
        return Err(Error::msg(format!(
            "lab {}: kube-proxy runs only in a dual-stack lab; bring it up with --ip-stack dual or --kube-proxy none",
            lab.names.lab
        )));
    }
    topology::up(&lab.names, stack)?;
    controlplane::start(lab, &controlplane::CORE)?;
    forwarder(lab).await?;
    let client = lab.client().await?;
    wait_for("the apiserver's /readyz", Duration::from_secs(90), || {
        let client = client.clone();
        async move {
            let req = http::Request::get("/readyz").body(Vec::new()).ok()?;
            client
                .request_text(req)
                .await
                .ok()
                .filter(|t| t.trim() == "ok")
        }
    })
    .await?;
    controlplane::start(lab, &controlplane::CONTROLLERS)?;
    start_agent(lab)?;
    let nodes: Api<Node> = Api::all(client.clone());
    wait_for(
        "the lab's nodes to be Ready",
        Duration::from_secs(60),
        || {
            let nodes = nodes.clone();
            async move {
                let list = nodes.list(&Default::default()).await.ok()?;
                let ready = list.items.iter().filter(|n| node_ready(n)).count();
                (ready >= NODES.len()).then_some(())
            }
        },
    )
    .await?;
    kubeproxy::up(lab).await?;
    // Pods need the default ServiceAccount, which the controller-manager creates.
    let sas: Api<ServiceAccount> = Api::namespaced(client, "default");
    wait_for(
        "the default ServiceAccount",
        Duration::from_secs(60),
        || {
            let sas = sas.clone();
            async move { sas.get_opt("default").await.ok().flatten().map(|_| ()) }
        },
    )
    .await?;
    Ok(())
}

async fn forwarder(lab: &Lab) -> Result<(), Error> {
    let port_file = lab.dir.join("apiserver.port");
    if process::find(&lab.names.lab, Some("forward")).is_empty() {
        let _ = std::fs::remove_file(&port_file);
        let to = apiserver_on_lan(lab)?;
        let args = [
            "forward".into(),
            "--netns".into(),
            lab.names.netns(CONTROL_PLANE.role),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--to".into(),
            to.to_string(),
            "--port-file".into(),
            port_file.display().to_string(),
        ];
        spawn_lab_bin(lab, "forward", args, Vec::new())?;
    }
    let port = wait_for(
        "the apiserver forwarder's port",
        Duration::from_secs(10),
        || {
            let f = port_file.clone();
            async move { std::fs::read_to_string(f).ok()?.trim().parse::<u16>().ok() }
        },
    )
    .await?;
    let pki = lab.dir.join("pki");
    pki::kubeconfig(
        &pki,
        "admin",
        &format!("https://127.0.0.1:{port}"),
        &lab.kubeconfig(),
    )?;
    pki::kubeconfig(
        &pki,
        "admin",
        &format!("https://{}", apiserver_on_lan(lab)?),
        &lab.kubeconfig_lan(),
    )?;
    Ok(())
}

/// The apiserver's LAN address in the lab's IP stack.
pub(super) fn apiserver_on_lan(lab: &Lab) -> Result<SocketAddr, Error> {
    let ip = lab.ip_stack()?.primary(CONTROL_PLANE.v4, CONTROL_PLANE.v6);
    Ok(SocketAddr::new(ip, APISERVER_PORT))
}

fn start_agent(lab: &Lab) -> Result<(), Error> {
    if !process::find(&lab.names.lab, Some("agent")).is_empty() {
        return Ok(());
    }
    let args = ["agent".into(), "--lab".into(), lab.names.lab.clone()];
    let env = vec![("FERROLB_LAB_ROOT".into(), labs_root().display().to_string())];
    spawn_lab_bin(lab, "agent", args, env)
}

/// Starts `ferrolb-lab ARGS` on the host in the background as the lab's `role` (with `env`
/// added), its output in the role's log.
fn spawn_lab_bin(
    lab: &Lab,
    role: &str,
    args: impl IntoIterator<Item = String>,
    env: Vec<(String, String)>,
) -> Result<(), Error> {
    let argv = std::iter::once(lab.bin.display().to_string())
        .chain(args)
        .collect();
    process::spawn(&Spawn {
        lab: &lab.names.lab,
        role,
        netns: None,
        argv,
        env,
        log: &lab.log(role),
    })?;
    Ok(())
}

/// Removes everything the lab made: processes, namespaces, state directory. Harmless when
/// nothing runs.
pub(super) fn down(lab: &Lab) -> Result<(), Error> {
    // The agent first, so it does not recreate pods while they go.
    for role in ["agent", "forward"] {
        process::stop(
            &process::find(&lab.names.lab, Some(role)),
            Duration::from_secs(3),
        );
    }
    process::stop(&process::find(&lab.names.lab, None), Duration::from_secs(5));
    topology::down(&lab.names)?;
    if lab.dir.exists() {
        std::fs::remove_dir_all(&lab.dir)
            .map_err(|e| Error::io(format!("removing {}", lab.dir.display()), e))?;
    }
    Ok(())
}
