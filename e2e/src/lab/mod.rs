//! A lab: its name, its state directory, and everything done with it — bring it up and take
//! it down (`lifecycle`), install ferrolb ([`install`]; the edge: [`launch`]), start, stop
//! and kill its components ([`components`]), and look at its wire ([`crate::traffic::wire`]). The one
//! `impl Lab` below is the whole surface; the modules hold the work.
//!
//! - [`plan`]: addresses and names of the hosts, nodes and pod networks;
//! - [`topology`]: the LAN and pod namespaces (through the test kit);
//! - [`controlplane`], [`pki`], [`deps`]: the pinned Kubernetes control plane;
//! - [`agent`]: the node agent that plays the kubelet (ferrolb's Pods as containers, other
//!   Pods as echo backends);
//! - [`process`]: the lab's processes, found by lab and role.

pub mod agent;
mod choice;
pub mod components;
pub mod controlplane;
pub mod deps;
pub mod helm;
pub mod install;
pub mod kubeproxy;
pub mod launch;
mod lifecycle;
pub mod pki;
pub mod plan;
pub mod process;
pub mod scraper;
pub mod topology;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node as K8sNode;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub use components::{Binary, COMPONENTS, Component, Node, SPEAKERS};
pub use kubeproxy::KubeProxyMode;
pub use launch::Launch;

use crate::Error;
use crate::traffic::{echo::Reply, wire};

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

/// The file in a lab's directory that remembers its [`plan::IpStack`].
const IP_STACK_FILE: &str = "ip-stack";

/// The kubectl plugin's binary (package `ferrolb-plugin`), built next to `ferrolb-lab`.
pub const PLUGIN_BINARY: &str = "kubectl-ferrolb";

/// The default lab's name (the one `cargo xtask lab ...` acts on).
pub const DEFAULT_LAB: &str = "lab";

/// The labs root when `FERROLB_LAB_ROOT` is not set.
pub const DEFAULT_LABS_ROOT: &str = "/tmp/ferrolb/labs";

/// Root of every lab's state: `$FERROLB_LAB_ROOT`, else [`DEFAULT_LABS_ROOT`].
pub fn labs_root() -> PathBuf {
    std::env::var_os(process::ENV_ROOT)
        .map_or_else(|| PathBuf::from(DEFAULT_LABS_ROOT), PathBuf::from)
}

/// A lab.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Its names.
    pub names: Names,
    /// Its state directory (certificates, kubeconfigs, logs, etcd data, Pods' files).
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

    /// Directory of the ferrolb binaries (next to `ferrolb-lab`).
    pub fn bin_dir(&self) -> PathBuf {
        self.bin
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// Brings the lab up (or completes a partly running one): installs missing tools, builds the
    /// control plane if needed, creates the network, starts the control plane and the node
    /// agent, and waits until the nodes are Ready.
    pub async fn up(&self, repo: &Path) -> Result<(), Error> {
        lifecycle::up(self, repo).await
    }

    /// Brings the lab up with kube-proxy on its nodes in `mode` ([`kubeproxy`]); a running lab
    /// with another mode is an error.
    pub async fn up_with(&self, repo: &Path, mode: KubeProxyMode) -> Result<(), Error> {
        kubeproxy::set_mode(self, mode)?;
        lifecycle::up(self, repo).await
    }

    /// The IP families of the lab's nodes, Pods and Services (dual-stack unless it was brought
    /// up with [`Lab::set_ip_stack`]).
    pub fn ip_stack(&self) -> Result<plan::IpStack, Error> {
        choice::read(self, IP_STACK_FILE)
    }

    /// Remembers the lab's IP families before it comes up ([`Lab::up`] reads them); a running
    /// lab with other families is an error.
    pub fn set_ip_stack(&self, stack: plan::IpStack) -> Result<(), Error> {
        choice::remember(self, IP_STACK_FILE, "--ip-stack", stack)
    }

    /// How the lab's nodes deliver Service traffic: kube-proxy's mode, or none. What follows
    /// from it: the deploy/ directory installed ([`install::deploy_dir`]) and where Pods reach
    /// the apiserver ([`Lab::apiserver_for_pods`]).
    pub fn kube_proxy_mode(&self) -> Result<KubeProxyMode, Error> {
        kubeproxy::mode(self)
    }

    /// Removes everything the lab made: processes, namespaces, state directory. Harmless when
    /// nothing runs.
    pub fn down(&self) -> Result<(), Error> {
        lifecycle::down(self)
    }

    /// Installs ferrolb into the running lab: applies the CRDs from `repo/crds` and deploy/
    /// whole (through `kubectl kustomize`, [`install::deploy_dir`]), waits until the real
    /// controllers, scheduler and the node agent have the speaker DaemonSet ready on every
    /// node and the controller Deployment available, mints the edge's token, starts the edge
    /// and waits until every component reports ready.
    pub async fn install(&self, repo: &Path) -> Result<(), Error> {
        install::install(self, repo).await
    }

    /// [`Lab::install`] by `method`: deploy/ through kustomize, or the Helm chart
    /// ([`install::Method`]).
    pub async fn install_with(&self, repo: &Path, method: install::Method) -> Result<(), Error> {
        install::install_with(self, repo, method).await
    }

    /// Where in-cluster config reaches the apiserver from the lab's Pods
    /// (`KUBERNETES_SERVICE_HOST`/`_PORT`, see [`install::apiserver_for_pods`]).
    pub fn apiserver_for_pods(&self) -> Result<SocketAddr, Error> {
        Ok(install::apiserver_for_pods(
            self.kube_proxy_mode()?,
            self.ip_stack()?,
        ))
    }

    /// Starts component `c`: a held Pod container is released and starts at once; the edge
    /// process is started unless it runs. Returns once it runs.
    pub fn start(&self, c: Component) -> Result<(), Error> {
        components::start(self, c)
    }

    /// Starts each of `components` that does not run, then waits until every one is ready
    /// ([`Lab::wait_ready`], `limit` each).
    pub async fn start_ready(
        &self,
        components: &[Component],
        limit: Duration,
    ) -> Result<(), Error> {
        for &c in components {
            self.start(c)?;
        }
        for &c in components {
            self.wait_ready(c, limit).await?;
        }
        Ok(())
    }

    /// Both controller replicas running and ready, and each reporting that the apiserver
    /// reaches its webhook (a dry-run probe the webhook refuses; so the webhook Service has
    /// endpoints): after an apiserver outage a replica stays unready until its watches relist.
    pub async fn controllers_serving(&self, limit: Duration) -> Result<(), Error> {
        self.start_ready(&components::CONTROLLERS, limit).await?;
        for c in components::CONTROLLERS {
            let addr = self.health_addr(c)?;
            crate::wait_for(&format!("{c}: webhook reached"), limit, || async move {
                let (code, body) = self.http_get("client", addr, "/readyz").ok()?;
                (code == 200 && body.contains("reached by the apiserver")).then_some(())
            })
            .await?;
        }
        Ok(())
    }

    /// Sends SIGKILL to component `c` (a crash); returns once its process is gone. A Pod's
    /// container stays down (held, reported not ready) until [`Lab::start`].
    pub fn kill(&self, c: Component) -> Result<(), Error> {
        components::kill(self, c)
    }

    /// Sends SIGTERM to component `c` and waits for it to end (SIGKILL after its Pod's grace
    /// period; the edge's: 10 s). A Pod's container stays down until [`Lab::start`].
    pub fn stop(&self, c: Component) -> Result<(), Error> {
        components::stop(self, c)
    }

    /// Whether component `c` runs.
    pub fn component_running(&self, c: Component) -> bool {
        components::pid(self, c).is_some()
    }

    /// The pid of component `c`'s process, while it runs.
    pub fn pid(&self, c: Component) -> Option<u32> {
        components::pid(self, c)
    }

    /// The container of ferrolb's Pods that is component `c` (not the edge), as the node
    /// agent reports it.
    pub fn container(&self, c: Component) -> Result<agent::control::ContainerInfo, Error> {
        components::container(self, c)
    }

    /// Every container of ferrolb's Pods, as the node agent reports them.
    pub fn containers(&self) -> Result<Vec<agent::control::ContainerInfo>, Error> {
        components::containers(self)
    }

    /// The component whose Pod is called `pod` (a controller's leader identity is its Pod's
    /// name, the Downward API's metadata.name).
    pub fn component_of_pod(&self, pod: &str) -> Result<Component, Error> {
        let all = self.containers()?;
        let found = all.iter().find(|c| c.pod == pod);
        found
            .and_then(|c| c.component.as_deref())
            .ok_or_else(|| Error::msg(format!("no component runs in Pod {pod:?}")))?
            .parse()
    }

    /// The address of component `c`'s health server (a Pod's IP and its port named health).
    pub fn health_addr(&self, c: Component) -> Result<SocketAddr, Error> {
        components::health_addr(self, c)
    }

    /// The address of component `c`'s `/metrics` and `/debug/state` (behind the access review
    /// for the speakers and the edge; see [`scraper`]).
    pub fn private_addr(&self, c: Component) -> Result<SocketAddr, Error> {
        components::private_addr(self, c)
    }

    /// `GET path` of component `c`'s private endpoints from the client host with a token of
    /// the lab's scraper (bound to `ferrolb-metrics-reader`): status and body.
    pub async fn private_get(&self, c: Component, path: &str) -> Result<(u16, String), Error> {
        let token = scraper::token(&self.client().await?, scraper::SCRAPER, true).await?;
        let raw = self.http_request(
            "client",
            self.private_addr(c)?,
            ("GET", path),
            &[scraper::bearer(&token)],
        )?;
        crate::traffic::probe::parse_http(&raw)
            .ok_or_else(|| Error::msg(format!("GET {path} of {c}: not HTTP: {raw:?}")))
    }

    /// Waits until component `c`'s `/readyz` (a speaker's or the edge's `/healthz`) answers
    /// 200, and a controller's Pod is ready in the webhook Service's EndpointSlice.
    pub async fn wait_ready(&self, c: Component, limit: Duration) -> Result<(), Error> {
        components::wait_ready(self, c, limit).await
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

    /// `kubectl ferrolb ARGS` as a user outside the cluster runs it: the built `kubectl-ferrolb`
    /// (next to `ferrolb-lab`, [`PLUGIN_BINARY`]) inside the `client` network namespace with the
    /// LAN kubeconfig ([`Lab::kubeconfig_lan`]), so it reaches the apiserver and the nodes'
    /// addresses as the speakers publish them.
    pub fn ferrolb_command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<Command, Error> {
        let ns = self.netns_of("client")?;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns])
            .arg(self.bin_dir().join(PLUGIN_BINARY))
            .arg("--kubeconfig")
            .arg(self.kubeconfig_lan())
            .args(args);
        Ok(c)
    }

    /// Runs [`Lab::ferrolb_command`] with `args`: its exit status, stdout and stderr.
    pub fn ferrolb<S: AsRef<std::ffi::OsStr>>(
        &self,
        args: &[S],
    ) -> Result<std::process::Output, Error> {
        self.ferrolb_command(args)?
            .output()
            .map_err(|e| Error::io(format!("running {PLUGIN_BINARY}"), e))
    }

    /// Runs kubectl with `args`, feeding `input` on stdin.
    pub fn kubectl_input(&self, args: &[&str], input: &str) -> Result<std::process::Output, Error> {
        install::kubectl_input(self, args, input)
    }

    /// The network namespace of a lab host (`client`, `node-a`, ...) or of a pod by name
    /// (`NAME` in `default`, or `NAMESPACE/NAME`).
    pub fn netns_of(&self, target: &str) -> Result<String, Error> {
        let host = self.names.netns(target);
        if ferrolb_testkit::exists(&host) {
            return Ok(host);
        }
        let (ns, name) = target.split_once('/').unwrap_or(("default", target));
        let out = self
            .kubectl()
            .args(["get", "pod", "-n", ns, name, "-o"])
            .arg(format!(
                "jsonpath={{.metadata.annotations.{}}}",
                agent::ANN_NETNS.replace('.', "\\.")
            ))
            .output()
            .map_err(|e| Error::io("running kubectl", e))?;
        let netns = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && ferrolb_testkit::exists(&netns) {
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

    /// The nodes whose network namespace holds table `inet ferrolb` (an error reading one
    /// counts as holding it, so a check for none cannot pass by accident).
    pub fn nodes_with_table(&self) -> Vec<&'static str> {
        plan::NODES
            .iter()
            .map(|n| n.name())
            .filter(|n| self.has_table(n).unwrap_or(true))
            .collect()
    }

    /// Waits until an uninstall is complete on the cluster side: no webhook configuration
    /// named [`install::WEBHOOK_CONFIGURATION`] (the garbage collector deletes them with their
    /// owner) and no table `inet ferrolb` on any node (each speaker deletes its own).
    pub async fn wait_uninstalled(&self, limit: Duration) -> Result<(), Error> {
        install::wait_uninstalled(self, limit).await
    }

    /// Whether `node`'s network namespace holds the speakers' table `inet ferrolb`.
    pub fn has_table(&self, node: &str) -> Result<bool, Error> {
        let argv = ["nft", "list", "table", "inet", "ferrolb"].map(String::from);
        let out = self
            .exec(node, &argv)?
            .output()
            .map_err(|e| Error::io("running nft", e))?;
        Ok(out.status.success())
    }

    /// An HTTP GET from inside `from`'s network namespace: (status code, body).
    pub fn http_get(&self, from: &str, to: SocketAddr, path: &str) -> Result<(u16, String), Error> {
        wire::http_get(self, from, to, path)
    }

    /// One HTTP/1.1 request from `from` with `method`, `path` and extra `headers`
    /// (`Name: value`): the raw response (status line, headers, body).
    pub fn http_request(
        &self,
        from: &str,
        to: SocketAddr,
        (method, path): (&str, &str),
        headers: &[String],
    ) -> Result<String, Error> {
        wire::http_raw(self, from, to, (method, path), headers)
    }

    /// Every MAC that answered broadcast ARP requests for `ip` sent from `from` during
    /// `window_secs` seconds, a second answering node included (sorted, lowercase, without
    /// duplicates; empty when nobody answered).
    pub fn arping(&self, from: &str, ip: IpAddr, window_secs: u32) -> Result<Vec<String>, Error> {
        wire::arping(self, from, ip, window_secs)
    }

    /// Every MAC in the Neighbor Advertisements answering a solicitation for `ip` from `from`
    /// within a second, a second answering node included (empty when nobody answered).
    pub fn ndisc(&self, from: &str, ip: IpAddr) -> Result<Vec<String>, Error> {
        wire::ndisc(self, from, ip)
    }

    /// The MAC of a lab host's LAN interface (`node-a`, `client`, ...).
    pub fn mac(&self, host: &str) -> Result<String, Error> {
        wire::mac(self, host)
    }

    /// One probe (`tcp`, `udp` or `http`) from `from` to `to`: the backend's answer.
    pub fn probe(&self, from: &str, proto: &str, to: SocketAddr) -> Result<Reply, Error> {
        wire::probe(self, from, proto, to)
    }
}

/// Whether a Node reports Ready=True.
pub fn node_ready(n: &K8sNode) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}
