//! ferrolb itself in the lab: the CRDs, the controller replicas and the speakers (later the
//! edge), run as lab processes under deploy/'s ServiceAccounts and RBAC, with the args and
//! environment of deploy/'s Deployment and DaemonSet (see [`crate::launch`]).
//!
//! Components run in node namespaces the way hostNetwork pods would: `controller-0` on node-a,
//! `controller-1` on node-b, `speaker-node-a..c` on node-a..c. Each one is a lab process whose role
//! is its name, so
//! [`Lab::kill`], [`Lab::stop`] and [`Lab::start`] act on exactly one of them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::process::{self, Spawn};
use crate::{Error, Lab, wait_for};

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

/// A ferrolb component in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Its name (and lab role): `controller-0`, ...
    pub name: &'static str,
    /// The node whose network namespace it runs in.
    pub node: &'static str,
    /// The binary.
    pub binary: &'static str,
}

impl Component {
    /// Port of its health API.
    pub fn health_port(&self) -> u16 {
        match self.binary {
            "ferrolb-speaker" => SPEAKER_HEALTH_PORT,
            "ferrolb-edge" => EDGE_HEALTH_PORT,
            _ => CONTROLLER_HEALTH_PORT,
        }
    }

    /// The path that answers 200 once it is up and synced.
    pub fn ready_path(&self) -> &'static str {
        if self.binary == "ferrolb-controller" {
            "/readyz"
        } else {
            "/healthz"
        }
    }
}

/// Every component `lab install` starts. The edge runs on the edge host, outside the cluster.
pub const COMPONENTS: [Component; 6] = [
    Component {
        name: "controller-0",
        node: "node-a",
        binary: "ferrolb-controller",
    },
    Component {
        name: "controller-1",
        node: "node-b",
        binary: "ferrolb-controller",
    },
    Component {
        name: "speaker-node-a",
        node: "node-a",
        binary: "ferrolb-speaker",
    },
    Component {
        name: "speaker-node-b",
        node: "node-b",
        binary: "ferrolb-speaker",
    },
    Component {
        name: "speaker-node-c",
        node: "node-c",
        binary: "ferrolb-speaker",
    },
    Component {
        name: "edge",
        node: "edge",
        binary: "ferrolb-edge",
    },
];

/// The component called `name`.
pub fn component(name: &str) -> Result<Component, Error> {
    COMPONENTS
        .iter()
        .copied()
        .find(|c| c.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = COMPONENTS.iter().map(|c| c.name).collect();
            Error::msg(format!(
                "no component called {name:?}: use one of {}",
                names.join(", ")
            ))
        })
}

impl Lab {
    /// Directory of the ferrolb binaries (next to `ferrolb-lab`).
    pub fn bin_dir(&self) -> PathBuf {
        self.bin
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// Installs ferrolb into the running lab: applies the CRDs from `repo/crds` and deploy/'s
    /// namespace, ServiceAccounts, RBAC and webhook Service, mints the ServiceAccounts' tokens,
    /// starts every component that is not running and waits until each reports ready.
    pub async fn install(&self, repo: &Path) -> Result<(), Error> {
        for c in &COMPONENTS {
            let bin = self.bin_dir().join(c.binary);
            if !bin.exists() {
                return Err(Error::msg(format!(
                    "{} is missing: build it with `cargo build -p {}`",
                    bin.display(),
                    c.binary
                )));
            }
        }
        let out = self
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
        self.apply_deploy(repo)?;
        self.prepare_launches(repo, &COMPONENTS)?;
        for c in &COMPONENTS {
            self.start(c.name)?;
        }
        for c in &COMPONENTS {
            self.wait_ready(c.name, Duration::from_secs(60)).await?;
        }
        Ok(())
    }

    /// Runs kubectl with `args`, feeding `input` on stdin.
    pub fn kubectl_input(&self, args: &[&str], input: &str) -> Result<std::process::Output, Error> {
        use std::io::Write;
        let mut child = self
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
    pub(crate) fn kubectl_apply(&self, body: &serde_json::Value) -> Result<(), Error> {
        let args = [
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=ferrolb-lab",
            "-f",
            "-",
        ];
        let out = self.kubectl_input(&args, &body.to_string())?;
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
    pub fn sync_webhook_endpoints(&self) -> Result<(), Error> {
        let addresses: Vec<serde_json::Value> = COMPONENTS
            .iter()
            .filter(|c| c.binary == "ferrolb-controller" && self.component_running(c.name))
            .filter_map(|c| crate::plan::node(c.node))
            .map(|n| serde_json::json!({"ip": n.host.v4.to_string()}))
            .collect();
        let subsets = if addresses.is_empty() {
            serde_json::json!([])
        } else {
            serde_json::json!([{"addresses": addresses,
                "ports": [{"name": "https", "port": WEBHOOK_PORT, "protocol": "TCP"}]}])
        };
        self.kubectl_apply(&serde_json::json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": WEBHOOK_SERVICE, "namespace": NAMESPACE},
            "subsets": subsets,
        }))
    }

    /// Starts a component unless it runs.
    pub fn start(&self, name: &str) -> Result<(), Error> {
        let c = component(name)?;
        if !process::find(&self.names.lab, Some(c.name)).is_empty() {
            return Ok(());
        }
        let netns = self.names.netns(c.node);
        let launch = self.launch(c.name)?;
        let mut argv = vec![self.bin_dir().join(c.binary).display().to_string()];
        argv.extend(launch.args);
        let mut env = launch.env;
        env.push((
            "RUST_LOG".into(),
            "info,ferrolb_controller=debug,ferrolb_speaker=debug,ferrolb_edge=debug,kube_lease_manager=info".into(),
        ));
        process::spawn(&Spawn {
            lab: &self.names.lab,
            role: c.name,
            netns: Some(&netns),
            argv,
            env,
            log: &self.log(c.name),
        })?;
        Ok(())
    }

    /// Sends SIGKILL to a component (a crash).
    pub fn kill(&self, name: &str) -> Result<(), Error> {
        let c = component(name)?;
        let pids = process::find(&self.names.lab, Some(c.name));
        for &pid in &pids {
            process::signal(pid, Signal::SIGKILL);
        }
        process::stop(&pids, Duration::from_secs(5));
        self.after_change(c)
    }

    /// Keeps the webhook's endpoints in step after a controller starts or stops (speakers do
    /// not touch the API here, so they work while the apiserver is down).
    fn after_change(&self, c: Component) -> Result<(), Error> {
        if c.binary == "ferrolb-controller" {
            self.sync_webhook_endpoints()
        } else {
            Ok(())
        }
    }

    /// Sends SIGTERM to a component and waits for it to end (SIGKILL after 10 s).
    pub fn stop(&self, name: &str) -> Result<(), Error> {
        let c = component(name)?;
        process::stop(
            &process::find(&self.names.lab, Some(c.name)),
            Duration::from_secs(10),
        );
        self.after_change(c)
    }

    /// Whether a component runs.
    pub fn component_running(&self, name: &str) -> bool {
        !process::find(&self.names.lab, Some(name)).is_empty()
    }

    /// The address of a component's health server.
    pub fn health_addr(&self, name: &str) -> Result<SocketAddr, Error> {
        let c = component(name)?;
        let host = match crate::plan::node(c.node) {
            Some(node) => node.host,
            None if c.node == crate::plan::EDGE.role => crate::plan::EDGE,
            None => return Err(Error::msg(format!("no node {}", c.node))),
        };
        Ok(SocketAddr::new(host.v4.into(), c.health_port()))
    }

    /// Waits until a component's `/readyz` (a speaker's `/healthz`) answers 200.
    pub async fn wait_ready(&self, name: &str, limit: Duration) -> Result<(), Error> {
        let addr = self.health_addr(name)?;
        let path = component(name)?.ready_path();
        wait_for(&format!("{name} to be ready"), limit, || async move {
            let (code, _) = self.http_get("client", addr, path).ok()?;
            (code == 200).then_some(())
        })
        .await?;
        self.after_change(component(name)?)
    }

    /// An HTTP GET from inside `from`'s network namespace: (status code, body).
    pub fn http_get(&self, from: &str, to: SocketAddr, path: &str) -> Result<(u16, String), Error> {
        let argv: Vec<String> = vec![
            self.bin.display().to_string(),
            "probe".into(),
            "http".into(),
            to.to_string(),
            "--path".into(),
            path.into(),
        ];
        let out = self
            .exec(from, &argv)?
            .output()
            .map_err(|e| Error::io("running the http probe", e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        crate::probe::parse_http(&text).ok_or_else(|| {
            Error::msg(format!(
                "GET http://{to}{path} from {from}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        })
    }
}
