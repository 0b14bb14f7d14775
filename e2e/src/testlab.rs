//! Labs for tests. Each test binary shares one lab among its scenarios: the first scenario
//! that asks brings it up with ferrolb installed ([`turn`]); every scenario then takes its
//! turn, one at a time, because they change cluster-wide state (pools, L2AnnouncementPolicies,
//! components killed and restarted). A test that needs a lab of its own starts one with
//! [`TestLab::start`] (taken down when dropped). Labs whose owning test process is gone —
//! the shared ones once their binary exits, and those of interrupted runs — are removed the
//! next time a test lab starts, and by `cargo xtask test` when its tests are done.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use kube::Client;
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::lab::plan::IpStack;
use crate::lab::{KubeProxyMode, process};
use crate::{Error, Lab};

/// Prefix of test labs' names.
const TEST_PREFIX: &str = "t";
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lab that goes away with the value.
#[derive(Debug)]
pub struct TestLab {
    /// The lab.
    pub lab: Lab,
}

impl std::ops::Deref for TestLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// The workspace root (where `e2e/controlplane` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

impl TestLab {
    /// Starts a fresh lab for a test, using the `ferrolb-lab` binary at `bin`
    /// (`env!("CARGO_BIN_EXE_ferrolb-lab")` in the e2e tests).
    pub async fn start(bin: &str) -> Result<TestLab, Error> {
        TestLab::start_with(bin, KubeProxyMode::None).await
    }

    /// Starts a fresh lab for a test with kube-proxy on its nodes in `mode`.
    pub async fn start_with(bin: &str, mode: KubeProxyMode) -> Result<TestLab, Error> {
        TestLab::start_in(bin, mode, IpStack::DualStack).await
    }

    /// Starts a fresh lab for a test with kube-proxy in `mode` and the IP families `stack`.
    pub async fn start_in(
        bin: &str,
        mode: KubeProxyMode,
        stack: IpStack,
    ) -> Result<TestLab, Error> {
        reap_stale();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{TEST_PREFIX}{:x}{n}", std::process::id());
        let lab = Lab::new(&name, Path::new(bin));
        std::fs::create_dir_all(&lab.dir).map_err(|e| Error::io("creating the lab dir", e))?;
        std::fs::write(lab.dir.join("owner.pid"), std::process::id().to_string())
            .map_err(|e| Error::io("writing owner.pid", e))?;
        let t = TestLab { lab };
        t.lab.set_ip_stack(stack)?;
        t.lab.up_with(&repo_root(), mode).await?;
        Ok(t)
    }
}

/// The lab this test binary's scenarios share (or why it could not start).
static SHARED: OnceCell<Result<TestLab, String>> = OnceCell::const_new();
/// Held by the scenario whose turn it is.
static TURN: Mutex<()> = Mutex::const_new(());

/// One scenario's turn on the shared lab: the lab, a client made on the scenario's own runtime
/// (a client cannot outlive the runtime that made it), and the turn, given back when dropped
/// (also when the scenario fails).
pub struct Turn {
    /// The shared lab.
    pub lab: &'static TestLab,
    /// A client with the admin's credentials.
    pub client: Client,
    _turn: MutexGuard<'static, ()>,
}

/// Waits for this scenario's turn on the test binary's shared lab, bringing the lab up with
/// ferrolb installed if no scenario has yet (`bin`: `env!("CARGO_BIN_EXE_ferrolb-lab")`). A lab
/// that failed to start fails every scenario with the same error, without starting again.
pub async fn turn(bin: &str) -> Result<Turn, Error> {
    turn_with(bin, KubeProxyMode::None).await
}

/// [`turn`] on a shared lab whose nodes run kube-proxy in `mode` (every test of a binary asks
/// for the same mode: the first one decides).
pub async fn turn_with(bin: &str, mode: KubeProxyMode) -> Result<Turn, Error> {
    let shared = SHARED
        .get_or_init(|| async {
            let started = async {
                build_binaries()?;
                let lab = TestLab::start_with(bin, mode).await?;
                lab.install(&repo_root()).await?;
                Ok::<_, Error>(lab)
            };
            // Never dropped (a static): the next test run reaps it by its owner pid.
            started.await.map_err(|e| e.to_string())
        })
        .await;
    let lab = shared
        .as_ref()
        .map_err(|e| Error::msg(format!("the shared lab did not start: {e}")))?;
    let turn = TURN.lock().await;
    let client = lab.client().await?;
    Ok(Turn {
        lab,
        client,
        _turn: turn,
    })
}

impl Drop for TestLab {
    fn drop(&mut self) {
        if std::env::var_os("FERROLB_KEEP_LAB").is_some() {
            eprintln!(
                "FERROLB_KEEP_LAB set: lab {} left running",
                self.lab.names.lab
            );
            return;
        }
        if let Err(e) = self.lab.down() {
            eprintln!("taking down lab {}: {e}", self.lab.names.lab);
        }
    }
}

/// Takes down test labs of this labs root whose owning test process is gone (never a lab
/// under another root: its `owner.pid` is not here to read).
pub fn reap_stale() {
    let root = crate::lab::labs_root();
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.extend(process::labs_running_here());
    names.sort();
    names.dedup();
    for name in names.into_iter().filter(|n| n.starts_with(TEST_PREFIX)) {
        if of_another_root(&name, &root) {
            continue;
        }
        let owner = std::fs::read_to_string(root.join(&name).join("owner.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if owner.is_some_and(process::alive) {
            continue;
        }
        let lab = Lab::new(&name, Path::new("/nonexistent"));
        if let Err(e) = lab.down() {
            eprintln!("removing stale lab {name}: {e}");
        }
    }
}

/// Whether lab `name` has processes under another labs root than `root` (another checkout's
/// tests; their owner files are not in `root`).
fn of_another_root(name: &str, root: &Path) -> bool {
    process::roots_of(name).iter().any(|r| r != root)
}

/// The packages whose binaries the lab runs (controller, speaker, edge) and the kubectl plugin
/// the scenarios run from the client ([`crate::lab::Lab::ferrolb`]).
pub const FERROLB_PACKAGES: [&str; 4] = [
    "ferrolb-controller",
    "ferrolb-speaker",
    "ferrolb-edge",
    "ferrolb-plugin",
];

/// Builds ferrolb's binaries (and `kubectl-ferrolb`) next to `ferrolb-lab`, so a test never runs stale ones
/// (`cargo test -p ferrolb-e2e` alone does not build other packages' binaries).
pub fn build_binaries() -> Result<(), Error> {
    build_packages(&FERROLB_PACKAGES)
}

/// Builds the binaries of the workspace's `packages` (debug profile) with the `cargo` running
/// us, in the workspace root.
pub fn build_packages(packages: &[&str]) -> Result<(), Error> {
    build_packages_in("dev", packages)
}

/// Builds the binaries of the workspace's `packages` with cargo profile `profile` (`dev`,
/// `release`, [`crate::bench::PROFILE`]).
pub fn build_packages_in(profile: &str, packages: &[&str]) -> Result<(), Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(&cargo);
    build
        .current_dir(repo_root())
        .args(["build", "--quiet", "--profile", profile]);
    for p in packages {
        build.args(["-p", p]);
    }
    let status = build
        .arg("--bins")
        .status()
        .map_err(|e| Error::io(format!("running {cargo} build"), e))?;
    let built = packages.join(", ");
    status
        .success()
        .then_some(())
        .ok_or_else(|| Error::msg(format!("{cargo} build of {built} failed ({status})")))
}

/// One test of a scenario binary on the shared lab: `lab_test!(name, |turn| { ... })` defines
/// test `name`, which waits for its [`Turn`] (bringing the lab up with ferrolb installed if no
/// test has yet), binds it to `turn` and runs the block; `lab_test!(name, kube_proxy = Nftables,
/// |turn| { ... })` asks for a lab whose nodes run kube-proxy in that mode ([`KubeProxyMode`]).
/// The test is ignored unless feature `root-tests` is on (it needs root and the lab; `cargo
/// xtask test` enables it).
#[macro_export]
macro_rules! lab_test {
    ($name:ident, |$turn:ident| $body:block) => {
        $crate::lab_test!($name, kube_proxy = None, |$turn| $body);
    };
    ($name:ident, kube_proxy = $mode:ident, |$turn:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[cfg_attr(
            not(feature = "root-tests"),
            ignore = "needs root and the lab: cargo xtask test enables feature root-tests"
        )]
        async fn $name() {
            let $turn = $crate::testlab::turn_with(
                env!("CARGO_BIN_EXE_ferrolb-lab"),
                $crate::lab::KubeProxyMode::$mode,
            )
            .await
            .expect("a turn on the shared lab with ferrolb installed");
            $body
        }
    };
}

/// One [`lab_test!`] per scenario of a binary's scenarios type `T` (`T::of(&turn)` makes it, each
/// scenario is an async method): `lab_scenarios!(T: a, b)` runs `T::of(&turn).a()`;
/// `lab_scenarios!(T, begin: a, b)` first runs `T::begin`, the ground every scenario starts from.
#[macro_export]
macro_rules! lab_scenarios {
    ($scenarios:ident: $($name:ident),+ $(,)?) => {$(
        $crate::lab_test!($name, |turn| {
            $scenarios::of(&turn).$name().await;
        });
    )+};
    ($scenarios:ident, begin: $($name:ident),+ $(,)?) => {$(
        $crate::lab_test!($name, |turn| {
            let s = $scenarios::of(&turn);
            s.begin().await;
            s.$name().await;
        });
    )+};
}
