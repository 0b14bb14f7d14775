//! The real control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
//! (and the nodes' kube-proxy, see [`super::kubeproxy`]),
//! built from the pinned upstream release (`e2e/controlplane/go.mod`) into a per-version cache
//! outside the repository, and started in the lab's control-plane namespace.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lab::plan::{APISERVER_PORT, CONTROL_PLANE, ETCD_VERSION, K8S_VERSION};
use crate::lab::process::{self, Spawn};
use crate::{Error, Lab};

/// The nodes' exec endpoint (ours, in Go: upstream's streaming server).
pub const LAB_KUBELET: &str = "lab-kubelet";
/// Upstream's network e2e tests, compiled with `go test -c`.
pub const CONFORMANCE_TEST: &str = "conformance.test";

/// How a cached binary is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An upstream command of the pinned release: built once per version.
    Upstream,
    /// A command of ours in `e2e/controlplane`: rebuilt when its sources change.
    Ours,
    /// A test package of ours, compiled with `go test -c`: rebuilt when its sources change.
    OursTest,
}

/// The binaries the lab runs, by the name the cache stores them under, and what each is built
/// from: the control plane, kube-proxy and kubectl; agnhost (the upstream e2e tests' pod image,
/// run by the node agent); `lab-kubelet` (the nodes' exec endpoint,
/// `e2e/controlplane/labkubelet`); and `conformance.test` (upstream's network e2e tests,
/// `e2e/controlplane/conformance`).
const SOURCES: [(&str, &str, Kind); 9] = [
    ("etcd", "go.etcd.io/etcd/server/v3", Kind::Upstream),
    (
        "kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-apiserver",
        Kind::Upstream,
    ),
    (
        "kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        Kind::Upstream,
    ),
    (
        "kube-scheduler",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        Kind::Upstream,
    ),
    (
        "kube-proxy",
        "k8s.io/kubernetes/cmd/kube-proxy",
        Kind::Upstream,
    ),
    ("kubectl", "k8s.io/kubernetes/cmd/kubectl", Kind::Upstream),
    (
        "agnhost",
        "k8s.io/kubernetes/test/images/agnhost",
        Kind::Upstream,
    ),
    (LAB_KUBELET, "./labkubelet", Kind::Ours),
    (CONFORMANCE_TEST, "./conformance", Kind::OursTest),
];

/// Root of ferrolb's cache: `$FERROLB_CACHE`, else `$XDG_CACHE_HOME/ferrolb`, else
/// `~/.cache/ferrolb`.
pub fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROLB_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("ferrolb");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/ferrolb")
}

/// Where the binaries of the pinned release live.
pub fn bin_dir() -> PathBuf {
    cache_root()
        .join("controlplane")
        .join(format!("{K8S_VERSION}-etcd{ETCD_VERSION}"))
}

/// Path of one control-plane binary.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Whether every binary is built.
pub fn built() -> bool {
    SOURCES.iter().all(|(name, _, _)| bin(name).is_file())
}

/// Builds the missing binaries with `go build` from `e2e/controlplane` (module download and
/// compile take ~11 minutes cold on 2 cores), and ours again when their sources changed;
/// nothing happens when all are current.
pub fn build(module_dir: &Path) -> Result<(), Error> {
    let minor = K8S_VERSION
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .unwrap_or("0");
    let ldflags = format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={K8S_VERSION} \
         -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean \
         -X k8s.io/client-go/pkg/version.gitVersion={K8S_VERSION}"
    );
    GoModule {
        dir: module_dir,
        out: bin_dir(),
        version: K8S_VERSION,
        sources: &SOURCES,
        ldflags: &ldflags,
    }
    .build()
}

/// An upstream Go command pinned by a module of the repository and cached per version (helm,
/// krew): `cache_root()/NAME/VERSION/NAME`.
pub(crate) struct GoTool<'a> {
    /// The command's name (the cache's directory and the binary).
    pub name: &'a str,
    /// The pinned version (the module's go.mod requires it).
    pub version: &'a str,
    /// The module, relative to the repository.
    pub module: &'a str,
    /// The package of the command.
    pub package: &'a str,
    /// `go build -ldflags`.
    pub ldflags: String,
}

impl GoTool<'_> {
    /// Where the built command is cached.
    pub fn bin(&self) -> PathBuf {
        self.dir().join(self.name)
    }

    fn dir(&self) -> PathBuf {
        cache_root().join(self.name).join(self.version)
    }

    /// Builds it into the cache unless it is there.
    pub fn build(&self, repo: &Path) -> Result<(), Error> {
        GoModule {
            dir: &repo.join(self.module),
            out: self.dir(),
            version: self.version,
            sources: &[(self.name, self.package, Kind::Upstream)],
            ldflags: &self.ldflags,
        }
        .build()
    }

    /// The built command, or why it cannot run: a test that needs it fails with this message.
    pub fn require(&self) -> Result<PathBuf, Error> {
        let bin = self.bin();
        if bin.is_file() {
            Ok(bin)
        } else {
            Err(Error::msg(format!(
                "{} {} is not built at {}: run `cargo xtask test` (or `cargo xtask lab build`), which builds it first",
                self.name,
                self.version,
                bin.display()
            )))
        }
    }
}

/// A Go module of the repository whose commands are built into a cache directory: the
/// control plane's (`e2e/controlplane`) and helm's (`e2e/helm`, [`super::helm`]).
pub(crate) struct GoModule<'a> {
    /// The module's directory (go.mod, go.sum).
    pub dir: &'a Path,
    /// The cache directory the binaries go to (one per pinned version).
    pub out: PathBuf,
    /// The pinned version, for the messages.
    pub version: &'a str,
    /// What is built: (cached name, package, how).
    pub sources: &'a [(&'a str, &'a str, Kind)],
    /// `go build -ldflags`.
    pub ldflags: &'a str,
}

impl GoModule<'_> {
    /// Builds the missing binaries (and ours again when their sources changed) into a
    /// `.partial` directory beside [`Self::out`], then moves each into it.
    pub fn build(&self) -> Result<(), Error> {
        let out = &self.out;
        let mut partial = out.as_os_str().to_owned();
        partial.push(".partial");
        let tmp = PathBuf::from(partial);
        for &(name, pkg, kind) in self.sources {
            let stamp = match kind {
                Kind::Upstream => None,
                Kind::Ours | Kind::OursTest => Some(source_stamp(self.dir, pkg)?),
            };
            let cached = out.join(name);
            let stamp_file = out.join(format!("{name}.source"));
            let current = std::fs::read_to_string(&stamp_file).ok();
            if cached.is_file() && stamp.as_deref() == current.as_deref() {
                continue;
            }
            std::fs::create_dir_all(&tmp)
                .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
            eprintln!(
                "lab: building {name} {} from {pkg} (cached in {})",
                self.version,
                out.display()
            );
            let target = tmp.join(name);
            let mut go = Command::new("go");
            if kind == Kind::OursTest {
                go.args(["test", "-c"]);
            } else {
                go.arg("build");
            }
            let status = go
                .args(["-trimpath", "-ldflags", self.ldflags, "-o"])
                .arg(&target)
                .arg(pkg)
                .current_dir(self.dir)
                .env("CGO_ENABLED", "0")
                .status()
                .map_err(|e| Error::io("running `go build` (is Go installed?)", e))?;
            if !status.success() {
                return Err(Error::msg(format!(
                    "`go build {pkg}` failed ({status}); see the output above"
                )));
            }
            std::fs::create_dir_all(out).map_err(|e| Error::io("creating the cache", e))?;
            std::fs::rename(&target, &cached)
                .map_err(|e| Error::io(format!("moving {name} into the cache"), e))?;
            if let Some(stamp) = stamp {
                std::fs::write(&stamp_file, stamp)
                    .map_err(|e| Error::io(format!("writing the stamp of {name}"), e))?;
            }
        }
        let _ = std::fs::remove_dir(&tmp);
        Ok(())
    }
}

/// A checksum of what one of our Go packages is built from: the module's go.mod and go.sum and
/// the package directory's files.
fn source_stamp(module_dir: &Path, pkg: &str) -> Result<String, Error> {
    let dir = module_dir.join(pkg.trim_start_matches("./"));
    let mut files = vec![module_dir.join("go.mod"), module_dir.join("go.sum")];
    let mut own: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    own.sort();
    files.extend(own);
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let mut digest = crc.digest();
    for f in &files {
        let bytes =
            std::fs::read(f).map_err(|e| Error::io(format!("reading {}", f.display()), e))?;
        let rel = f.strip_prefix(module_dir).unwrap_or(f);
        digest.update(rel.to_string_lossy().as_bytes());
        digest.update(&bytes);
    }
    Ok(format!("{:08x}", digest.finalize()))
}

fn url(host: &str) -> String {
    format!("https://{host}:{APISERVER_PORT}")
}

/// etcd and the apiserver: start these, wait for `/readyz`, then [`CONTROLLERS`] (which exit
/// when the apiserver's RBAC bootstrap is not done yet).
pub const CORE: [&str; 2] = ["etcd", "kube-apiserver"];
/// The controller-manager and the scheduler.
pub const CONTROLLERS: [&str; 2] = ["kube-controller-manager", "kube-scheduler"];

/// Starts the roles of `which` (from [`CORE`] and [`CONTROLLERS`]) that are not running.
pub fn start(lab: &Lab, which: &[&str]) -> Result<(), Error> {
    let stack = lab.ip_stack()?;
    let ns = lab.names.netns(CONTROL_PLANE.role);
    let pki = lab.dir.join("pki");
    let p = |f: &str| pki.join(f).display().to_string();
    let data = lab.dir.join("etcd");
    let local = url("127.0.0.1");
    for stem in ["kcm", "scheduler"] {
        crate::lab::pki::kubeconfig(
            &pki,
            stem,
            &local,
            &lab.dir.join(format!("{stem}.kubeconfig")),
        )?;
    }
    let kc = |stem: &str| {
        lab.dir
            .join(format!("{stem}.kubeconfig"))
            .display()
            .to_string()
    };

    let etcd = vec![
        bin("etcd").display().to_string(),
        format!("--data-dir={}", data.display()),
        "--listen-client-urls=http://127.0.0.1:2379".into(),
        "--advertise-client-urls=http://127.0.0.1:2379".into(),
        "--listen-peer-urls=http://127.0.0.1:2380".into(),
        "--initial-advertise-peer-urls=http://127.0.0.1:2380".into(),
        "--initial-cluster=default=http://127.0.0.1:2380".into(),
        "--unsafe-no-fsync".into(),
        "--quota-backend-bytes=4294967296".into(),
        "--log-level=warn".into(),
    ];
    let apiserver = vec![
        bin("kube-apiserver").display().to_string(),
        format!(
            "--advertise-address={}",
            stack.primary(CONTROL_PLANE.v4, CONTROL_PLANE.v6)
        ),
        "--bind-address=0.0.0.0".into(),
        format!("--secure-port={APISERVER_PORT}"),
        "--etcd-servers=http://127.0.0.1:2379".into(),
        format!("--tls-cert-file={}", p("apiserver.crt")),
        format!("--tls-private-key-file={}", p("apiserver.key")),
        format!("--client-ca-file={}", p("ca.crt")),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", p("sa.pub")),
        format!("--service-account-signing-key-file={}", p("sa.key")),
        format!("--service-cluster-ip-range={}", stack.service_cidrs()),
        "--authorization-mode=Node,RBAC".into(),
        "--allow-privileged=true".into(),
        // Webhooks and aggregated APIs are reached through their Service's endpoints: the lab
        // has no ClusterIP data path.
        "--enable-aggregator-routing=true".into(),
        // `kubectl exec` reaches the node's `lab-kubelet` at its InternalIP (the Nodes' Hostname
        // addresses do not resolve), with a client certificate from the lab's CA.
        "--kubelet-preferred-address-types=InternalIP".into(),
        format!(
            "--kubelet-client-certificate={}",
            p("apiserver-kubelet-client.crt")
        ),
        format!("--kubelet-client-key={}", p("apiserver-kubelet-client.key")),
        "--profiling=false".into(),
        "--v=1".into(),
    ];
    // The flags kube-controller-manager and kube-scheduler share: one kubeconfig for
    // everything, no leader election, the health port on loopback.
    let apiserver_client = |binary: &str, stem: &str, port: u16| -> Vec<String> {
        let kubeconfig = kc(stem);
        vec![
            bin(binary).display().to_string(),
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            "--v=1".into(),
        ]
    };
    let mut kcm = apiserver_client("kube-controller-manager", "kcm", 10257);
    kcm.extend([
        format!("--service-account-private-key-file={}", p("sa.key")),
        format!("--root-ca-file={}", p("ca.crt")),
        "--use-service-account-credentials=true".into(),
        format!("--service-cluster-ip-range={}", stack.service_cidrs()),
        // The lab's agent heartbeats every 5 s; notice a silent node in 20 s, not 50.
        "--node-monitor-period=2s".into(),
        "--node-monitor-grace-period=20s".into(),
    ]);
    let scheduler = apiserver_client("kube-scheduler", "scheduler", 10259);
    for (role, argv) in [
        ("etcd", etcd),
        ("kube-apiserver", apiserver),
        ("kube-controller-manager", kcm),
        ("kube-scheduler", scheduler),
    ] {
        if !which.contains(&role) || !process::find(&lab.names.lab, Some(role)).is_empty() {
            continue;
        }
        let log = lab.log(role);
        process::spawn(&Spawn {
            lab: &lab.names.lab,
            role,
            netns: Some(&ns),
            argv,
            env: Vec::new(),
            log: &log,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tool_tests {
    use super::GoTool;

    /// Each cached tool's version is the one its module's go.mod requires.
    #[test]
    fn each_tool_is_its_go_mods_pin() {
        let tools: [GoTool<'static>; 2] = [super::super::helm::tool(), crate::krew::tool()];
        for tool in tools {
            let go_mod = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .join(tool.module)
                .join("go.mod");
            let text = std::fs::read_to_string(&go_mod).unwrap();
            let pinned = text.lines().any(|l| {
                l.trim()
                    .strip_prefix("require ")
                    .and_then(|r| r.split_once(' '))
                    .is_some_and(|(module, version)| {
                        tool.package.starts_with(module) && version == tool.version
                    })
            });
            assert!(
                pinned,
                "{} does not require {} {}",
                go_mod.display(),
                tool.package,
                tool.version
            );
        }
    }
}
