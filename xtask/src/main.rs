//! `cargo xtask ...`: the project's commands. Thin: each calls the e2e library.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ferrolb_e2e::lab::install::Method;
use ferrolb_e2e::lab::plan::IpStack;
use ferrolb_e2e::lab::{DEFAULT_LAB, KubeProxyMode, kubeproxy};
use ferrolb_e2e::lab::{controlplane, helm};
use ferrolb_e2e::{Component, Lab, Node, krew};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ferrolb's project commands")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Regenerate crds/ and charts/ferrolb/crds/ from the Rust types in api/.
    Crds,
    /// Regenerate deploy/release/ferrolb-v<version>.yaml (and -without-kube-proxy.yaml): the
    /// CRDs and deploy/ in one versioned manifest.
    Manifest,
    /// kubectl-ferrolb for krew: builds the plugin in release mode, packs
    /// dist/kubectl-ferrolb-v<version>-linux-amd64.tar.gz (the binary and LICENSE) and writes
    /// deploy/krew/ferrolb.yaml with that archive's checksum.
    Krew,
    /// The lab: a real control plane and network-namespace nodes.
    Lab {
        /// Which lab (`lab` unless given; tests' and benchmarks' labs have their own names).
        #[arg(long, global = true, default_value = DEFAULT_LAB)]
        lab: String,
        #[command(subcommand)]
        cmd: LabCmd,
    },
    /// ferrolb end to end: brings up the lab, installs ferrolb, creates the `hostnames`
    /// Deployment behind a LoadBalancer Service, GETs its VIP from the client namespace, kills
    /// the announcing speaker and shows the VIP still answering, then runs `kubectl ferrolb why`
    /// on it. Leaves the lab up.
    Demo {
        /// Which lab.
        #[arg(long, default_value = DEFAULT_LAB)]
        lab: String,
    },
    /// Benchmarks: each writes JSON to target/bench/<name>.json and prints it. Not tests.
    /// Built (with every binary they run) with cargo profile bench-release, whatever profile
    /// runs this command.
    Bench {
        /// Compare the run with its thresholds in e2e/bench/thresholds.yaml; exit non-zero
        /// naming every figure that missed its bound.
        #[arg(long, global = true)]
        check: bool,
        /// Another thresholds file for --check (to see a check fail).
        #[arg(long, global = true, hide = true)]
        thresholds: Option<PathBuf>,
        #[command(subcommand)]
        cmd: BenchCmd,
    },
    /// Build the container images without a Docker engine: target/images/ferrolb-controller.tar
    /// and ferrolb-speaker.tar (docker-archive; `kind load image-archive` takes them), each
    /// checked by running its binary from its own root filesystem. Needs root and Debian's apt.
    Image,
    /// The upstream Kubernetes LoadBalancer e2e tests (k8s.io/kubernetes test/e2e/network of
    /// the pinned release) against ferrolb: a lab with kube-proxy (nftables) and ferrolb installed
    /// from deploy/, one test per process from the client namespace. Reports go to
    /// target/conformance/ (JUnit, ginkgo JSON, logs, summary.json); exits non-zero when a test
    /// not on e2e/conformance/skips.yaml fails.
    Conformance {
        /// Which lab (brought up when needed).
        #[arg(long, default_value = "conformance")]
        lab: String,
        /// Only the subset `cargo xtask test` runs.
        #[arg(long)]
        subset: bool,
        /// Only tests whose full name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Print the selected tests and exit (no lab).
        #[arg(long)]
        list: bool,
        /// Leave the lab running afterwards.
        #[arg(long)]
        keep: bool,
        /// Minutes allowed per test.
        #[arg(long, default_value_t = 8)]
        minutes: u64,
    },
    /// Run every test (installs what it needs on a fresh machine). CI runs exactly this.
    Test {
        /// Skip fmt and clippy.
        #[arg(long)]
        no_lint: bool,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Failover: the announcing speaker SIGKILLed, its node's link cut, and SIGTERMed
    /// (planned), TRIALS times each, measured from the client. Runs in its own lab `bench`.
    Failover {
        /// Trials per fault.
        #[arg(long, default_value_t = 20)]
        trials: usize,
        /// Leave the bench lab running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Edge: connections per second and latency through the edge against a node's NodePort,
    /// and time from a node's health flipping to its last new connection. Own lab `bench`.
    Edge {
        /// Health flips measured.
        #[arg(long, default_value_t = 5)]
        trials: usize,
        /// Leave the bench lab running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Speakers at scale: N Services announced at once (IPv6, bench-only on-link pool); time
    /// until every address is announced, speakers' memory, node-a's nft table. Own lab `bench`.
    Speaker {
        /// How many Services.
        #[arg(long, default_value_t = 10000)]
        services: usize,
        /// Creations in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Services created one at a time afterwards, each timed from its create request to
        /// its first Neighbor Advertisement at the client: this many 2 s apart (the bound),
        /// then as many back to back.
        #[arg(long, default_value_t = 40)]
        probes: usize,
        /// kube-proxy on every node in this mode (nftables, iptables), programming the Service
        /// rules beside speakers that only announce: the side-by-side run. none: the speakers
        /// program them.
        #[arg(long, default_value = "none")]
        kube_proxy: KubeProxyMode,
        /// Leave the bench lab running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// kube-proxy (nftables) and ferrolb's dataplane side by side, in one lab, programming the
    /// same Services at each size: memory, table size, EndpointSlice change to the rule in the
    /// kernel (`nft monitor`), full sync, and kube-proxy's figure over ferrolb's. Own lab
    /// `bench`, kube-proxy on node-b, ferrolb's rules on node-c.
    Dataplanes {
        /// The sizes, ascending, comma-separated: Services are created up to each in turn.
        #[arg(long, value_delimiter = ',', default_values_t = [1000, 10000])]
        services: Vec<usize>,
        /// Creations in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Endpoint changes timed at each size.
        #[arg(long, default_value_t = 10)]
        trials: usize,
        /// Leave the bench lab running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// `kubectl ferrolb why` among N other LoadBalancer Services: wall time of RUNS runs (p50,
    /// max; each must exit 0) and the size of a speaker's /debug/state. Own lab `bench`.
    Why {
        /// Services besides `web`.
        #[arg(long, default_value_t = 1000)]
        services: usize,
        /// Timed runs of `why`.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Creations in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Leave the bench lab running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Allocation: N Services allocated by the controller on the real apiserver, against the
    /// floor of one client writing N statuses. Runs in its own lab `bench`.
    Alloc {
        /// How many Services.
        #[arg(long, default_value_t = 5000)]
        services: usize,
        /// Writes in flight at once (the controller's --write-concurrency default).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Leave the bench lab running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// The speaker's heap at N Services without a lab (issue 21): the objects as its stores
    /// keep them and what it keeps after a step, counted by the allocator of the harness
    /// `ferrolb-speaker --example heap` (profile bench-release). Run that under heaptrack for the sites.
    SpeakerHeap {
        /// How many Services.
        #[arg(long, default_value_t = 10000)]
        services: usize,
    },
    /// Node rules: full nftables sync of 1,000 and 10,000 Services, one incremental change,
    /// and new connections per second through a VIP with 10 vs 10,000 Services. Scratch
    /// network namespaces `flbt-*` (removed at the end); no lab. Needs root.
    Rules {
        /// Full replacements timed per size (10,000 Services take a few seconds each).
        #[arg(long, default_value_t = 2)]
        repeats: usize,
        /// Seconds of one connection-rate measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Connection-rate measurements per size, alternating.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// ARP reply latency: the announcer against the kernel answering for its own address, on
    /// one veth between scratch namespaces `flbt-*` (removed at the end); no lab. Needs root.
    Arp {
        /// Requests per address.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Milliseconds between requests.
        #[arg(long, default_value_t = 5)]
        gap_ms: u64,
    },
}

#[derive(Subcommand)]
enum LabCmd {
    /// Build what is missing, start the lab and leave it running. Harmless on a running lab.
    Up {
        /// kube-proxy on every node in this mode (nftables, iptables), or none: then ferrolb's
        /// speakers program the Service rules (deploy/without-kube-proxy/).
        #[arg(long, default_value = "none")]
        kube_proxy: KubeProxyMode,
        /// The cluster's IP families: dual (IPv4 and IPv6) or ipv6 (nodes, Pods, Services
        /// and the control plane IPv6 only; needs --kube-proxy none).
        #[arg(long, default_value = "dual")]
        ip_stack: IpStack,
    },
    /// Remove everything the lab made. Harmless when nothing runs. --all: every lab under
    /// FERROLB_LAB_ROOT, also tests'.
    Down {
        /// Every lab under this FERROLB_LAB_ROOT (and leftover namespaces of no running lab);
        /// labs running under another root are left alone.
        #[arg(long)]
        all: bool,
    },
    /// Build the pinned control plane and helm into the cache (done by `up` when needed).
    Build,
    /// kubectl against the lab; `kubectl -- ferrolb ...` runs the plugin (built first) from the
    /// client namespace, where it reaches the nodes' addresses.
    Kubectl {
        /// Arguments for kubectl.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a command in the namespace of client, edge, cp, node-a..c or a pod (NAMESPACE/NAME).
    Exec {
        /// client, edge, cp, node-a, node-b, node-c, or a pod.
        name: String,
        /// The command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// An interactive shell in a lab namespace.
    Shell {
        /// client, edge, cp, node-a, node-b, node-c, or a pod.
        name: String,
    },
    /// What runs.
    Status,
    /// Install ferrolb into the running lab: CRDs, namespace, controller-0/1 (built first).
    Install {
        /// With the Helm chart (charts/ferrolb, the pinned helm built first) instead of
        /// deploy/ through kustomize: `helm upgrade --install`, dataplane as deploy/'s choice.
        #[arg(long)]
        helm: bool,
    },
    /// SIGKILL one component (controller-0, controller-1, speaker-node-a, ...): a crash.
    Kill {
        /// The component.
        name: Component,
    },
    /// SIGTERM one component and wait for it to end: a planned stop.
    Stop {
        /// The component.
        name: Component,
    },
    /// Start one component again (harmless when it runs).
    Start {
        /// The component.
        name: Component,
    },
    /// kube-proxy on one node of a lab brought up with --kube-proxy: start (waits until its
    /// /healthz answers 200), stop (SIGTERM; its rules stay), kill (SIGKILL), cleanup (stop,
    /// then `kube-proxy --cleanup` removes its rules, as after uninstalling it).
    KubeProxy {
        /// start, stop, kill or cleanup.
        action: KubeProxyAction,
        /// node-a, node-b or node-c.
        node: Node,
    },
}

/// What `lab kube-proxy` does.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KubeProxyAction {
    Start,
    Stop,
    Kill,
    Cleanup,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(repo());
    c
}

fn run(mut c: Command) -> anyhow::Result<()> {
    let shown = format!("{c:?}");
    let status = c.status().with_context(|| format!("running {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Builds `ferrolb-lab` and ferrolb's binaries with this xtask's own profile (debug, or
/// [`ferrolb_e2e::bench::PROFILE`] for `cargo xtask bench`); returns the path of `ferrolb-lab`.
fn lab_bin() -> anyhow::Result<PathBuf> {
    let mut packages = vec!["ferrolb-e2e"];
    packages.extend(ferrolb_e2e::testlab::FERROLB_PACKAGES);
    let dir = own_profile_dir();
    let profile = if dir == "debug" { "dev" } else { dir.as_str() };
    ferrolb_e2e::testlab::build_packages_in(profile, &packages)?;
    Ok(target_dir().join(dir).join("ferrolb-lab"))
}

/// The directory of this binary's build under the target directory (`debug`, or a profile's).
fn own_profile_dir() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| ferrolb_e2e::bench::profile_of(&exe))
        .unwrap_or_else(|| "debug".into())
}

/// `cargo xtask bench` measures release builds: unless this xtask is already built with
/// [`ferrolb_e2e::bench::PROFILE`], it builds itself with that profile and runs the same
/// command line there (which builds the lab's binaries with it too). Returns that run's exit
/// code, or None when this is already that build.
fn bench_in_release() -> anyhow::Result<Option<ExitCode>> {
    let profile = ferrolb_e2e::bench::PROFILE;
    if own_profile_dir() == profile {
        return Ok(None);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "building the benchmarks with cargo profile {profile} (release; the first build takes minutes)"
    );
    let status = std::process::Command::new(cargo)
        .current_dir(repo())
        .args([
            "run",
            "--quiet",
            "--profile",
            profile,
            "--package",
            "xtask",
            "--",
        ])
        .args(std::env::args_os().skip(1))
        .status()
        .context("running cargo run --profile bench-release")?;
    Ok(Some(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    )))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

fn image() -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for b in ferrolb_e2e::image::build(&repo(), &target_dir(), &cargo)? {
        println!(
            "{:<26} {} ({:.1} MB; root filesystem {:.1} MB)",
            b.spec.reference(),
            b.archive.display(),
            b.archive_bytes as f64 / 1e6,
            b.rootfs_bytes as f64 / 1e6,
        );
        println!("{:<26} {} --help: {}", "", b.spec.entrypoint, b.help);
    }
    println!("load into kind: kind load image-archive target/images/<name>.tar");
    Ok(())
}

/// The lab called `name`, with ferrolb's binaries built.
fn built_lab(name: &str) -> anyhow::Result<Lab> {
    Ok(Lab::new(name, &lab_bin()?))
}

/// The lab called `name`, for commands that start nothing.
fn existing_lab(name: &str) -> Lab {
    Lab::new(name, Path::new("/nonexistent"))
}

fn demo(name: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let lab = built_lab(name)?;
    let rt = tokio::runtime::Runtime::new()?;
    let outcome = rt
        .block_on(ferrolb_e2e::demo::run(&lab, &repo()))
        .with_context(|| {
            format!(
                "the demo stopped; the lab stays up for a look (logs: {}; take it down: cargo xtask lab{} down)",
                lab.dir.join("logs").display(),
                if name == DEFAULT_LAB { String::new() } else { format!(" --lab {name}") }
            )
        })?;
    println!(
        "\nThe demo took {:.0}s; lab {name} is up.\n",
        started.elapsed().as_secs_f64()
    );
    print!("{}", ferrolb_e2e::demo::hints(&lab, &outcome));
    Ok(())
}

fn crds() -> anyhow::Result<()> {
    let files = ferrolb_api::crdgen::render()?;
    for dir in ferrolb_api::crdgen::DIRS {
        std::fs::create_dir_all(repo().join(dir))?;
        for (file, yaml) in &files {
            std::fs::write(repo().join(dir).join(file), yaml)
                .with_context(|| format!("writing {dir}/{file}"))?;
            println!("wrote {dir}/{file}");
        }
    }
    Ok(())
}

fn krew_release() -> anyhow::Result<()> {
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "ferrolb-plugin",
        "--bin",
        krew::BINARY,
    ]);
    run(build)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo().join("target"), std::path::PathBuf::from);
    let dist = repo().join("dist");
    std::fs::create_dir_all(&dist).context("creating dist/")?;
    let archive = dist.join(krew::archive_name());
    let sha = krew::archive(
        &target.join("release").join(krew::BINARY),
        &repo().join("LICENSE"),
        &archive,
    )?;
    std::fs::write(repo().join(krew::MANIFEST), krew::manifest(&sha))
        .with_context(|| format!("writing {}", krew::MANIFEST))?;
    println!("wrote {} (sha256 {sha})", archive.display());
    println!("wrote {}", krew::MANIFEST);
    Ok(())
}

fn manifest() -> anyhow::Result<()> {
    for file in ferrolb_e2e::release::write(&repo())? {
        println!("wrote {file}");
    }
    Ok(())
}

fn lab(name: &str, cmd: LabCmd) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    match cmd {
        LabCmd::Up {
            kube_proxy,
            ip_stack,
        } => {
            let lab = built_lab(name)?;
            lab.set_ip_stack(ip_stack)?;
            rt.block_on(lab.up_with(&repo(), kube_proxy))?;
            let kc = lab.kubeconfig();
            println!("lab {} is up.", lab.names.lab);
            println!("  kubeconfig:   {}", kc.display());
            println!("  kubectl:      cargo xtask lab kubectl -- get nodes -o wide");
            println!(
                "                (or: KUBECONFIG={} kubectl get nodes)",
                kc.display()
            );
            println!(
                "  a deployment: cargo xtask lab kubectl -- create deployment hostnames --image=anything --replicas=3 --port=9376"
            );
            println!("  from outside: cargo xtask lab exec client -- ping -c1 198.51.100.11");
            println!("  the plugin:   cargo xtask lab kubectl -- ferrolb why -n NAMESPACE SERVICE");
            println!("  a shell:      cargo xtask lab shell node-a");
            println!("  logs:         {}", lab.dir.join("logs").display());
            println!("  take it down: cargo xtask lab down");
        }
        LabCmd::Down { all } => {
            if all {
                // Only this FERROLB_LAB_ROOT's labs: another root's may belong to someone else.
                let names = ferrolb_e2e::lab::process::labs_to_take_down();
                for n in names {
                    Lab::new(&n, Path::new("/nonexistent")).down()?;
                    println!("lab {n} is down");
                }
            } else {
                existing_lab(name).down()?;
                println!("lab {name} is down");
            }
        }
        LabCmd::Build => {
            controlplane::build(&repo().join("e2e/controlplane"))?;
            helm::build(&repo())?;
        }
        LabCmd::Kubectl { args } => {
            let status = if args.first().map(String::as_str) == Some("ferrolb") {
                ferrolb_e2e::testlab::build_packages(&["ferrolb-plugin"])?;
                let lab = Lab::new(name, &target_dir().join("debug/ferrolb-lab"));
                lab.ferrolb_command(&args[1..])?
                    .status()
                    .context("running kubectl-ferrolb")?
            } else {
                existing_lab(name)
                    .kubectl()
                    .args(args)
                    .status()
                    .context("running kubectl")?
            };
            return Ok(ExitCode::from(status.code().unwrap_or(1) as u8));
        }
        LabCmd::Exec { name: target, cmd } => {
            let lab = existing_lab(name);
            let status = lab
                .exec(&target, &cmd)?
                .status()
                .context("running the command")?;
            return Ok(ExitCode::from(status.code().unwrap_or(1) as u8));
        }
        LabCmd::Shell { name: target } => {
            let lab = existing_lab(name);
            let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/bash".into());
            let status = lab
                .exec(&target, &[shell])?
                .status()
                .context("running a shell")?;
            return Ok(ExitCode::from(status.code().unwrap_or(1) as u8));
        }
        LabCmd::Install { helm: with_helm } => {
            let lab = built_lab(name)?;
            let method = if with_helm {
                helm::build(&repo())?;
                Method::Helm
            } else {
                Method::Kustomize
            };
            rt.block_on(lab.install_with(&repo(), method))?;
            println!("ferrolb is installed in lab {} ({method}).", lab.names.lab);
            for c in ferrolb_e2e::lab::COMPONENTS {
                let (pod, node) = match lab.container(c) {
                    Ok(i) => (format!("{}/{}", i.namespace, i.pod), i.node),
                    Err(_) => ("(a process)".to_string(), "edge".to_string()),
                };
                println!(
                    "  {:<14} on {node:<6} {pod}  log: {}",
                    c.to_string(),
                    lab.log(&c.to_string()).display()
                );
            }
        }
        LabCmd::Kill { name: c } => existing_lab(name).kill(c)?,
        LabCmd::Stop { name: c } => existing_lab(name).stop(c)?,
        LabCmd::Start { name: c } => {
            let lab = built_lab(name)?;
            lab.start(c)?;
            rt.block_on(lab.wait_ready(c, std::time::Duration::from_secs(60)))?;
        }
        LabCmd::KubeProxy { action, node } => {
            let lab = existing_lab(name);
            match action {
                KubeProxyAction::Start => {
                    kubeproxy::start(&lab, node)?;
                    rt.block_on(kubeproxy::wait_ready(
                        &lab,
                        node,
                        std::time::Duration::from_secs(60),
                    ))?;
                }
                KubeProxyAction::Stop => kubeproxy::stop(&lab, node),
                KubeProxyAction::Kill => kubeproxy::kill(&lab, node),
                KubeProxyAction::Cleanup => {
                    kubeproxy::stop(&lab, node);
                    kubeproxy::cleanup(&lab, node)?;
                }
            }
        }
        LabCmd::Status => {
            for name in ferrolb_e2e::lab::process::labs_running() {
                println!("lab {name}:");
                for pid in ferrolb_e2e::lab::process::find(&name, None) {
                    let cmd =
                        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    println!("  {pid:>7} {}", cmd.replace('\0', " ").trim());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a benchmark run in the `bench` lab returns.
type BenchRun<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<serde_json::Value, ferrolb_e2e::Error>> + 'a>,
>;

/// Brings up lab `bench` (kube-proxy in `kube_proxy` mode on its nodes), runs `run` in it, and
/// takes the lab down unless `keep`.
fn in_bench_lab(
    rt: &tokio::runtime::Runtime,
    (keep, kube_proxy): (bool, KubeProxyMode),
    run: impl for<'a> FnOnce(&'a Lab, PathBuf) -> BenchRun<'a>,
) -> anyhow::Result<serde_json::Value> {
    let lab = Lab::new("bench", &lab_bin()?);
    let result = rt.block_on(async {
        lab.up_with(&repo(), kube_proxy).await?;
        run(&lab, repo()).await
    });
    if !keep {
        lab.down()?;
    }
    Ok(result?)
}

fn bench(cmd: BenchCmd, check: Option<PathBuf>) -> anyhow::Result<()> {
    // Read before the run: the commit its binaries were built from, not the one checked out
    // when a long run ends.
    let recorded = ferrolb_e2e::bench::recorded(&repo());
    let rt = tokio::runtime::Runtime::new()?;
    let (name, keep, mut json) = match cmd {
        BenchCmd::Alloc {
            services,
            concurrency,
            keep,
        } => {
            let opts = ferrolb_e2e::bench::AllocOptions {
                services,
                concurrency,
            };
            let json = in_bench_lab(&rt, (keep, KubeProxyMode::None), move |lab, repo| {
                Box::pin(async move { ferrolb_e2e::bench::alloc(lab, &repo, opts).await })
            })?;
            ("alloc", keep, json)
        }
        BenchCmd::Speaker {
            services,
            concurrency,
            probes,
            kube_proxy,
            keep,
        } => {
            let opts = ferrolb_e2e::bench::speaker::SpeakerOptions {
                services,
                concurrency,
                probes,
                kube_proxy,
            };
            let json = in_bench_lab(&rt, (keep, kube_proxy), move |lab, repo| {
                Box::pin(
                    async move { ferrolb_e2e::bench::speaker::speakers(lab, &repo, opts).await },
                )
            })?;
            ("speaker", keep, json)
        }
        BenchCmd::Dataplanes {
            services,
            concurrency,
            trials,
            keep,
        } => {
            let opts = ferrolb_e2e::bench::dataplanes::DataplanesOptions {
                sizes: services,
                concurrency,
                trials,
            };
            let json = in_bench_lab(&rt, (keep, KubeProxyMode::Nftables), move |lab, repo| {
                Box::pin(async move {
                    ferrolb_e2e::bench::dataplanes::dataplanes(lab, &repo, opts).await
                })
            })?;
            ("dataplanes", keep, json)
        }
        BenchCmd::Why {
            services,
            runs,
            concurrency,
            keep,
        } => {
            let opts = ferrolb_e2e::bench::why::WhyOptions {
                services,
                runs,
                concurrency,
            };
            let json = in_bench_lab(&rt, (keep, KubeProxyMode::None), move |lab, repo| {
                Box::pin(async move { ferrolb_e2e::bench::why::bench(lab, &repo, opts).await })
            })?;
            ("why", keep, json)
        }
        BenchCmd::Edge { trials, keep } => {
            let json = in_bench_lab(&rt, (keep, KubeProxyMode::None), move |lab, repo| {
                Box::pin(async move { ferrolb_e2e::bench::edge::bench(lab, &repo, trials).await })
            })?;
            ("edge", keep, json)
        }
        BenchCmd::Failover { trials, keep } => {
            let json = in_bench_lab(&rt, (keep, KubeProxyMode::None), move |lab, repo| {
                Box::pin(
                    async move { ferrolb_e2e::bench::failover::bench(lab, &repo, trials).await },
                )
            })?;
            ("failover", keep, json)
        }
        BenchCmd::SpeakerHeap { services } => ("speaker-heap", false, speaker_heap(services)?),
        BenchCmd::Rules {
            repeats,
            seconds,
            rounds,
        } => {
            let opts = ferrolb_e2e::bench::rules::RulesOptions {
                repeats,
                seconds,
                rounds,
            };
            (
                "rules",
                false,
                rt.block_on(ferrolb_e2e::bench::rules::rules(opts))?,
            )
        }
        BenchCmd::Arp { count, gap_ms } => {
            let opts = ferrolb_e2e::bench::arp::ArpOptions {
                count,
                gap: std::time::Duration::from_millis(gap_ms),
            };
            (
                "arp",
                false,
                rt.block_on(ferrolb_e2e::bench::arp::arp(opts))?,
            )
        }
    };
    if let (Some(out), serde_json::Value::Object(recorded)) = (json.as_object_mut(), recorded) {
        for (k, v) in recorded {
            out.entry(k).or_insert(v);
        }
    }
    let dir = repo().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&json)?;
    std::fs::write(&path, &text)?;
    println!("{text}");
    println!(
        "written to {}{}",
        path.display(),
        if keep { " (lab bench kept)" } else { "" }
    );
    if let Some(file) = check {
        use ferrolb_e2e::bench::thresholds;
        let verdicts = thresholds::check(name, &json, &thresholds::load(&file)?)
            .map_err(anyhow::Error::msg)?;
        for verdict in &verdicts {
            println!("--check {verdict}");
        }
        let missed = verdicts.iter().filter(|v| !v.met).count();
        if missed > 0 {
            bail!(
                "--check: {missed} of {} thresholds of {} missed (above)",
                verdicts.len(),
                file.display()
            );
        }
        println!("--check: all {} thresholds met", verdicts.len());
    }
    Ok(())
}

/// Runs the heap harness of the speaker (profile bench-release) for `services` Services; its JSON.
fn speaker_heap(services: usize) -> anyhow::Result<serde_json::Value> {
    let mut c = cargo();
    c.args([
        "run",
        "--quiet",
        "--profile",
        ferrolb_e2e::bench::PROFILE,
        "-p",
        "ferrolb-speaker",
        "--example",
        "heap",
        "--",
    ])
    .arg(services.to_string())
    .stderr(std::process::Stdio::inherit());
    let out = c.output().context("running the speaker's heap harness")?;
    if !out.status.success() {
        bail!("the speaker's heap harness failed ({})", out.status);
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The features that turn on the tests needing root, the tools and the lab (without them
/// those tests are listed as ignored).
const ROOT_TESTS: &str = concat!(
    "ferrolb-testkit/root-tests,",
    "ferrolb-speaker/root-tests,",
    "ferrolb-edge/root-tests,",
    "ferrolb-e2e/root-tests",
);

fn conformance(
    name: &str,
    subset: bool,
    only: Option<String>,
    list: bool,
    keep: bool,
    minutes: u64,
) -> anyhow::Result<ExitCode> {
    use ferrolb_e2e::conformance::{self as conf, runner};
    ferrolb_e2e::lab::deps::ensure()?;
    controlplane::build(&repo().join("e2e/controlplane"))?;
    let out = target_dir().join("conformance");
    if list {
        for t in runner::list(&out)? {
            let mark = if conf::selection::in_subset(&t) {
                "*"
            } else {
                " "
            };
            println!("{mark} {t}");
        }
        println!("(* = the subset `cargo xtask test` runs)");
        return Ok(ExitCode::SUCCESS);
    }
    let opts = runner::Options {
        out: out.clone(),
        subset,
        only,
        skips: conf::load_skips(&repo().join("e2e/conformance/skips.yaml"))?,
        timeout: std::time::Duration::from_secs(minutes.max(1) * 60),
    };
    let lab = built_lab(name)?;
    let rt = tokio::runtime::Runtime::new()?;
    let started = std::time::Instant::now();
    if lab.running() && lab.kube_proxy_mode()? != KubeProxyMode::Nftables {
        bail!(
            "lab {name} runs without kube-proxy in nftables mode; take it down first: cargo xtask lab --lab {name} down"
        );
    }
    rt.block_on(lab.up_with(&repo(), KubeProxyMode::Nftables))?;
    rt.block_on(lab.install(&repo()))?;
    rt.block_on(conf::prepare(&lab))?;
    let outcomes = conf::run(&lab, &opts)?;
    let (passed, failed, skipped) = runner::counts(&outcomes);
    println!(
        "\nconformance: {passed} passed, {failed} failed, {skipped} skipped in {:.0}s (reports: {})",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if keep {
        println!("lab {name} stays up: cargo xtask lab --lab {name} down");
    } else {
        lab.down()?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn test(no_lint: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // A fresh machine: Debian tools and the pinned control plane first, so the tests only test.
    ferrolb_e2e::lab::deps::ensure()?;
    controlplane::build(&repo().join("e2e/controlplane"))?;
    // The chart tests (e2e/tests/chart.rs) and the lab's Helm install run the pinned helm;
    // the plugin's krew test (e2e/tests/krew.rs) the pinned krew.
    helm::build(&repo())?;
    krew::build(&repo())?;
    println!(
        "xtask: prerequisites ready after {:.0}s",
        started.elapsed().as_secs_f64()
    );
    if !no_lint {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        run(fmt).context("formatting differs: run `cargo fmt --all`")?;
        let mut clippy = cargo();
        clippy.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--features",
            ROOT_TESTS,
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]);
        run(clippy)?;
        println!(
            "xtask: fmt and clippy clean after {:.0}s",
            started.elapsed().as_secs_f64()
        );
    }
    let mut t = cargo();
    t.args(["test", "--workspace", "--features", ROOT_TESTS]);
    let tested = run(t);
    // Each lab test binary leaves its shared lab running when it exits; their owners are gone
    // now, so this takes them all down.
    ferrolb_e2e::testlab::reap_stale();
    tested?;
    println!(
        "xtask: all tests passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Crds => crds().map(|()| ExitCode::SUCCESS),
        Cmd::Manifest => manifest().map(|()| ExitCode::SUCCESS),
        Cmd::Krew => krew_release().map(|()| ExitCode::SUCCESS),
        Cmd::Lab { lab: name, cmd } => lab(&name, cmd),
        Cmd::Demo { lab: name } => demo(&name).map(|()| ExitCode::SUCCESS),
        Cmd::Bench {
            check,
            thresholds,
            cmd,
        } => match bench_in_release() {
            Ok(Some(code)) => Ok(code),
            Ok(None) => {
                let file =
                    thresholds.unwrap_or_else(|| repo().join(ferrolb_e2e::bench::thresholds::FILE));
                bench(cmd, check.then_some(file)).map(|()| ExitCode::SUCCESS)
            }
            Err(e) => Err(e),
        },
        Cmd::Image => image().map(|()| ExitCode::SUCCESS),
        Cmd::Test { no_lint } => test(no_lint).map(|()| ExitCode::SUCCESS),
        Cmd::Conformance {
            lab,
            subset,
            only,
            list,
            keep,
            minutes,
        } => conformance(&lab, subset, only, list, keep, minutes),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
