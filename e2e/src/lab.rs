//! A lab: its name, its state directory, and how to bring it up, reach it and take it down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::plan::{APISERVER_PORT, CONTROL_PLANE, NODES};
use crate::process::{self, Spawn};
use crate::{Error, controlplane, deps, pki, topology};

/// Names of a lab's namespaces: `flb-<lab>-<role>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The lab's name.
    pub lab: String,
}

impl Names {
    /// The network namespace of `role` (`lan`, `cp`, `client`, `edge`, `node-a`, `pod-<id>`).
    pub fn netns(&self, role: &str) -> String {
        format!("flb-{}-{role}", self.lab)
    }
}

/// The default lab's name (the one `cargo xtask lab ...` acts on).
pub const DEFAULT_LAB: &str = "lab";

/// Root of every lab's state: `$FERROLB_LAB_ROOT`, else `/tmp/ferrolb/labs`.
pub fn labs_root() -> PathBuf {
    std::env::var_os("FERROLB_LAB_ROOT")
        .map_or_else(|| PathBuf::from("/tmp/ferrolb/labs"), PathBuf::from)
}

/// A lab.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Its names.
    pub names: Names,
    /// Its state directory (certificates, kubeconfigs, logs, etcd data).
    pub dir: PathBuf,
    /// The `ferrolb-lab` binary (agent, echo backends, forwarder, probes).
    pub bin: PathBuf,
}

/// Polls `check` every 100 ms until it yields a value or `limit` passes.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() > limit {
            return Err(Error::Timeout {
                what: what.to_string(),
                secs: limit.as_secs_f64(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Lab {
    /// The lab called `name`, run with the `ferrolb-lab` binary at `bin`.
    pub fn new(name: &str, bin: &Path) -> Lab {
        Lab {
            names: Names {
                lab: name.to_string(),
            },
            dir: labs_root().join(name),
            bin: bin.to_path_buf(),
        }
    }

    /// Log file of a role.
    pub fn log(&self, role: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{role}.log"))
    }

    /// Kubeconfig for host processes (through the loopback forwarder).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Kubeconfig for processes inside the lab's namespaces (the apiserver's LAN address).
    pub fn kubeconfig_lan(&self) -> PathBuf {
        self.dir.join("admin-lan.kubeconfig")
    }

    /// Whether the lab's control plane processes run.
    pub fn running(&self) -> bool {
        !process::find(&self.names.lab, Some("kube-apiserver")).is_empty()
    }

    /// Brings the lab up (or completes a partly running one): installs missing tools, builds the
    /// control plane if needed, creates the network, starts the control plane and the node
    /// agent, and waits until the nodes are Ready.
    pub async fn up(&self, repo: &Path) -> Result<(), Error> {
        deps::ensure()?;
        controlplane::build(&repo.join("e2e/controlplane"))?;
        for sub in ["logs", "pki"] {
            let d = self.dir.join(sub);
            std::fs::create_dir_all(&d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        pki::ensure(&self.dir.join("pki"))?;
        topology::up(&self.names)?;
        controlplane::start(self, &controlplane::CORE)?;
        self.forwarder().await?;
        let client = self.client().await?;
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
        controlplane::start(self, &controlplane::CONTROLLERS)?;
        self.start_agent()?;
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

    async fn forwarder(&self) -> Result<(), Error> {
        let port_file = self.dir.join("apiserver.port");
        if process::find(&self.names.lab, Some("forward")).is_empty() {
            let _ = std::fs::remove_file(&port_file);
            let to = SocketAddr::new(CONTROL_PLANE.v4.into(), APISERVER_PORT);
            process::spawn(&Spawn {
                lab: &self.names.lab,
                role: "forward",
                netns: None,
                argv: vec![
                    self.bin.display().to_string(),
                    "forward".into(),
                    "--netns".into(),
                    self.names.netns(CONTROL_PLANE.role),
                    "--listen".into(),
                    "127.0.0.1:0".into(),
                    "--to".into(),
                    to.to_string(),
                    "--port-file".into(),
                    port_file.display().to_string(),
                ],
                env: Vec::new(),
                log: &self.log("forward"),
            })?;
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
        let pki = self.dir.join("pki");
        pki::kubeconfig(
            &pki,
            "admin",
            &format!("https://127.0.0.1:{port}"),
            &self.kubeconfig(),
        )?;
        pki::kubeconfig(
            &pki,
            "admin",
            &format!("https://{}:{APISERVER_PORT}", CONTROL_PLANE.v4),
            &self.kubeconfig_lan(),
        )?;
        Ok(())
    }

    fn start_agent(&self) -> Result<(), Error> {
        if !process::find(&self.names.lab, Some("agent")).is_empty() {
            return Ok(());
        }
        process::spawn(&Spawn {
            lab: &self.names.lab,
            role: "agent",
            netns: None,
            argv: vec![
                self.bin.display().to_string(),
                "agent".into(),
                "--lab".into(),
                self.names.lab.clone(),
            ],
            env: vec![("FERROLB_LAB_ROOT".into(), labs_root().display().to_string())],
            log: &self.log("agent"),
        })?;
        Ok(())
    }

    /// A client with the admin's credentials.
    pub async fn client(&self) -> Result<Client, Error> {
        let kc = Kubeconfig::read_from(self.kubeconfig())
            .map_err(|e| Error::msg(format!("reading {}: {e}", self.kubeconfig().display())))?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::msg(format!("loading {}: {e}", self.kubeconfig().display())))?;
        Client::try_from(config).map_err(|e| Error::kube("building a client", e))
    }

    /// `kubectl` (the pinned release's) against this lab.
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(controlplane::bin("kubectl"));
        c.arg("--kubeconfig").arg(self.kubeconfig());
        c
    }

    /// The network namespace of a lab host (`client`, `node-a`, ...) or of a pod by name
    /// (`NAME` in `default`, or `NAMESPACE/NAME`).
    pub fn netns_of(&self, target: &str) -> Result<String, Error> {
        let host = self.names.netns(target);
        if crate::netns::exists(&host) {
            return Ok(host);
        }
        let (ns, name) = target.split_once('/').unwrap_or(("default", target));
        let out = self
            .kubectl()
            .args(["get", "pod", "-n", ns, name, "-o"])
            .arg(format!(
                "jsonpath={{.metadata.annotations.{}}}",
                crate::agent::ANN_NETNS.replace('.', "\\.")
            ))
            .output()
            .map_err(|e| Error::io("running kubectl", e))?;
        let netns = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && crate::netns::exists(&netns) {
            Ok(netns)
        } else {
            Err(Error::msg(format!(
                "no lab host or running pod called {target:?}: use client, edge, cp, node-a, node-b, node-c, or a pod name (NAMESPACE/NAME)"
            )))
        }
    }

    /// A command that runs `argv` inside `target`'s network namespace.
    pub fn exec(&self, target: &str, argv: &[String]) -> Result<Command, Error> {
        let ns = self.netns_of(target)?;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns]).args(argv);
        Ok(c)
    }

    /// Removes everything the lab made: processes, namespaces, state directory. Harmless when
    /// nothing runs.
    pub fn down(&self) -> Result<(), Error> {
        // The agent first, so it does not recreate pods while they go.
        for role in ["agent", "forward"] {
            process::stop(
                &process::find(&self.names.lab, Some(role)),
                Duration::from_secs(3),
            );
        }
        process::stop(
            &process::find(&self.names.lab, None),
            Duration::from_secs(5),
        );
        topology::down(&self.names)?;
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .map_err(|e| Error::io(format!("removing {}", self.dir.display()), e))?;
        }
        Ok(())
    }
}

/// Whether a Node reports Ready=True.
pub fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}
