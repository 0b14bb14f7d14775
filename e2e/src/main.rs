//! `ferrolb-lab`: the lab's helper processes (node agent, the start of ferrolb's containers,
//! pod echo backend, apiserver forwarder) and a probe client. Started by the lab itself; `cargo xtask lab ...` is the human interface.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferrolb_e2e::Lab;
use ferrolb_e2e::traffic::probe;
use ferrolb_runtime::duration;

#[derive(Parser)]
#[command(name = "ferrolb-lab", about = "ferrolb lab helper processes")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Play the kubelet for the lab's nodes.
    Agent {
        /// The lab's name.
        #[arg(long)]
        lab: String,
    },
    /// Start one container of a ferrolb Pod from the plan the agent wrote (the agent starts
    /// it in the Pod's network namespace; this process becomes the container).
    PodRun {
        /// The run plan (JSON).
        #[arg(long)]
        plan: PathBuf,
    },
    /// Run a program with a host name of its own (the agent starts an agnhost container so,
    /// in the Pod's network namespace; this process becomes the program).
    UtsRun {
        /// The host name.
        #[arg(long)]
        hostname: String,
        /// Program and arguments, after `--`.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// A pod's backend: answer on TCP and UDP ports with the pod name and the client address.
    Echo {
        /// The pod's name.
        #[arg(long)]
        name: String,
        /// TCP ports.
        #[arg(long)]
        tcp: Vec<u16>,
        /// UDP ports.
        #[arg(long)]
        udp: Vec<u16>,
    },
    /// Forward host loopback connections into a namespace.
    Forward {
        /// Namespace to connect from.
        #[arg(long)]
        netns: String,
        /// Address to listen on (host namespace).
        #[arg(long)]
        listen: SocketAddr,
        /// Upstream address (inside the namespace).
        #[arg(long)]
        to: SocketAddr,
        /// File to write the bound port to.
        #[arg(long)]
        port_file: PathBuf,
    },
    /// Probe a TCP address every few milliseconds and print the samples as JSON (with the
    /// target's MAC in this namespace's ARP table): the failover benchmark's client.
    ProbeLoop {
        /// Where to.
        to: SocketAddr,
        /// Time between probes (0s: back to back).
        #[arg(long, default_value = "5ms", value_parser = duration::parse)]
        every: Duration,
        /// Time each probe may take.
        #[arg(long, default_value = "50ms", value_parser = duration::parse_positive)]
        timeout: Duration,
        /// How long to probe.
        #[arg(long = "for", default_value = "3s", value_parser = duration::parse)]
        for_: Duration,
    },
    /// Send one probe and print the answer; exits non-zero on failure.
    Probe {
        /// tcp, udp or http.
        proto: probe::Proto,
        /// Where to.
        to: SocketAddr,
        /// Give up after this long.
        #[arg(long, default_value = "2s", value_parser = duration::parse_positive)]
        timeout: Duration,
        /// Path of the HTTP request.
        #[arg(long, default_value = "/")]
        path: String,
        /// HTTP: send this method over HTTP/1.1 instead of `GET` over HTTP/1.0 and print the
        /// raw response (status line, headers, body).
        #[arg(long)]
        method: Option<String>,
        /// HTTP with --method: an extra request header, `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
    },
    /// Hold one TCP connection to an echo backend, a line every interval, and print JSON
    /// {answered, failed, pods}; the first answer's pod goes to stderr at once. Exits 0 even
    /// when lines failed.
    ProbeHold {
        /// Where to.
        to: SocketAddr,
        /// How long to hold the connection (1s to 10m).
        #[arg(long = "for", default_value = "10s", value_parser = |s: &str| duration::parse_within(s, Duration::from_secs(1), Some(Duration::from_secs(600))))]
        for_: Duration,
        /// Time between lines (10ms to 1m).
        #[arg(long, default_value = "100ms", value_parser = |s: &str| duration::parse_within(s, Duration::from_millis(10), Some(Duration::from_secs(60))))]
        interval: Duration,
    },
    /// Send crafted SCTP INITs (one association) on an IPv4 raw socket; prints JSON.
    SctpSend {
        /// Where to (IPv4 address and SCTP port).
        to: SocketAddrV4,
        /// How many copies of the INIT.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(ferrolb_e2e::traffic::rawsctp::MAX_SEND)))]
        count: u32,
        /// Time between copies (at most 10s).
        #[arg(long, default_value = "100ms", value_parser = |s: &str| duration::parse_within(s, Duration::ZERO, Some(Duration::from_secs(10))))]
        interval: Duration,
    },
    /// Catch the first SCTP packet to a port on an IPv4 raw socket and print it as JSON; exits
    /// non-zero when none came in time.
    SctpCatch {
        /// Destination port to wait for.
        #[arg(long)]
        port: u16,
        /// Give up after this long (at most 10m).
        #[arg(long, default_value = "10s", value_parser = |s: &str| duration::parse_within(s, Duration::from_millis(1), Some(Duration::from_secs(600))))]
        timeout: Duration,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Cmd::PodRun { plan } = &cli.cmd {
        // Single-threaded until exec: unshare(CLONE_NEWNS) needs a process of one thread.
        let Err(e) = ferrolb_e2e::lab::agent::pod_run::run(plan);
        eprintln!("pod-run: {e}");
        std::process::exit(127);
    }
    if let Cmd::UtsRun { hostname, argv } = &cli.cmd {
        let Err(e) = ferrolb_e2e::lab::agent::uts_run::run(hostname, argv);
        eprintln!("uts-run: {e}");
        std::process::exit(127);
    }
    if let Cmd::Forward {
        netns,
        listen,
        to,
        port_file,
    } = &cli.cmd
    {
        // Before any runtime thread exists: see forward::run.
        return Ok(ferrolb_e2e::traffic::forward::run(
            netns, *listen, *to, port_file,
        )?);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Agent { lab } => {
                let exe = std::env::current_exe().context("finding this binary")?;
                Ok(ferrolb_e2e::lab::agent::run(Lab::new(&lab, &exe)).await?)
            }
            Cmd::Echo { name, tcp, udp } => {
                Ok(ferrolb_e2e::traffic::echo::serve(name, tcp, udp).await?)
            }
            Cmd::Probe {
                proto,
                to,
                timeout,
                path,
                method,
                headers,
            } => {
                let out = match method {
                    Some(m) => probe::http_request(to, &m, &path, &headers, timeout).await?,
                    None => probe::probe_path(proto, to, &path, timeout).await?,
                };
                print!("{out}");
                Ok(())
            }
            Cmd::ProbeLoop {
                to,
                every,
                timeout,
                for_,
            } => {
                let samples =
                    ferrolb_e2e::bench::failover::probe_loop(to, every, timeout, for_).await;
                println!("{}", serde_json::to_string(&samples)?);
                Ok(())
            }
            Cmd::ProbeHold { to, for_, interval } => {
                let first = |pod: &str| eprintln!("probe-hold: first answer from pod={pod}");
                let report =
                    ferrolb_e2e::traffic::hold::probe_hold(to, for_, interval, first).await;
                println!("{}", serde_json::to_string(&report)?);
                Ok(())
            }
            Cmd::SctpSend {
                to,
                count,
                interval,
            } => {
                let sent = ferrolb_e2e::traffic::rawsctp::send(to, count, interval)?;
                println!("{}", serde_json::to_string(&sent)?);
                Ok(())
            }
            Cmd::SctpCatch { port, timeout } => {
                let limit = timeout;
                match ferrolb_e2e::traffic::rawsctp::catch(port, limit)? {
                    Some(caught) => {
                        println!("{}", serde_json::to_string(&caught)?);
                        Ok(())
                    }
                    None => anyhow::bail!("no SCTP packet to port {port} within {limit:?}"),
                }
            }
            Cmd::Forward { .. } | Cmd::PodRun { .. } | Cmd::UtsRun { .. } => {
                unreachable!("handled above")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The argument shapes the lab's own callers pass (failover, edgebench, demo, flows).
    #[test]
    fn callers_argument_shapes_parse() {
        let lab = |args: &[&str]| Cli::try_parse_from([&["ferrolb-lab"], args].concat());
        let Cmd::ProbeLoop {
            every,
            timeout,
            for_,
            ..
        } = lab(&[
            "probe-loop",
            "192.0.2.1:80",
            "--every",
            "5ms",
            "--for",
            "3000ms",
            "--timeout",
            "500ms",
        ])
        .unwrap()
        .cmd
        else {
            panic!("not probe-loop");
        };
        assert_eq!(
            (every, timeout, for_),
            (
                Duration::from_millis(5),
                Duration::from_millis(500),
                Duration::from_secs(3)
            )
        );
        let Cmd::UtsRun { hostname, argv } = lab(&[
            "uts-run",
            "--hostname",
            "web-0",
            "--",
            "/cache/agnhost",
            "netexec",
            "--http-port=80",
        ])
        .unwrap()
        .cmd
        else {
            panic!("not uts-run");
        };
        assert_eq!(hostname, "web-0");
        assert_eq!(argv, ["/cache/agnhost", "netexec", "--http-port=80"]);
        let Cmd::ProbeHold { for_, interval, .. } = lab(&[
            "probe-hold",
            "192.0.2.1:80",
            "--for",
            "10s",
            "--interval",
            "100ms",
        ])
        .unwrap()
        .cmd
        else {
            panic!("not probe-hold");
        };
        assert_eq!(
            (for_, interval),
            (Duration::from_secs(10), Duration::from_millis(100))
        );
        let Cmd::SctpCatch { timeout, .. } =
            lab(&["sctp-catch", "--port", "80", "--timeout", "30s"])
                .unwrap()
                .cmd
        else {
            panic!("not sctp-catch");
        };
        assert_eq!(timeout, Duration::from_secs(30));
        assert!(lab(&["probe-hold", "192.0.2.1:80", "--for", "11m"]).is_err());
        assert!(lab(&["probe", "tcp", "192.0.2.1:80", "--timeout", "2000"]).is_err());
    }
}
