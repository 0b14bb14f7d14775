//! `ferrolb-lab`: the lab's helper processes (node agent, pod echo backend, apiserver forwarder)
//! and a probe client. Started by the lab itself; `cargo xtask lab ...` is the human interface.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferrolb_e2e::Lab;
use ferrolb_e2e::traffic::probe;

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
        /// Milliseconds between probes (0: back to back).
        #[arg(long, default_value_t = 5)]
        every_ms: u64,
        /// Milliseconds each probe may take.
        #[arg(long, default_value_t = 50)]
        timeout_ms: u64,
        /// How long to probe, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        for_ms: u64,
    },
    /// Send one probe and print the answer; exits non-zero on failure.
    Probe {
        /// tcp, udp or http.
        proto: probe::Proto,
        /// Where to.
        to: SocketAddr,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
        /// Path of the HTTP request.
        #[arg(long, default_value = "/")]
        path: String,
    },
    /// Hold one TCP connection to an echo backend, a line every interval, and print JSON
    /// {answered, failed, pods}; the first answer's pod goes to stderr at once. Exits 0 even
    /// when lines failed.
    ProbeHold {
        /// Where to.
        to: SocketAddr,
        /// How long to hold the connection.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
        seconds: u64,
        /// Milliseconds between lines.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=60_000))]
        interval_ms: u64,
    },
    /// Send crafted SCTP INITs (one association) on an IPv4 raw socket; prints JSON.
    SctpSend {
        /// Where to (IPv4 address and SCTP port).
        to: SocketAddrV4,
        /// How many copies of the INIT.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(ferrolb_e2e::traffic::rawsctp::MAX_SEND)))]
        count: u32,
        /// Milliseconds between copies.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=10_000))]
        interval_ms: u64,
    },
    /// Catch the first SCTP packet to a port on an IPv4 raw socket and print it as JSON; exits
    /// non-zero when none came in time.
    SctpCatch {
        /// Destination port to wait for.
        #[arg(long)]
        port: u16,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        timeout_ms: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
                timeout_ms,
                path,
            } => {
                let out =
                    probe::probe_path(proto, to, &path, Duration::from_millis(timeout_ms)).await?;
                print!("{out}");
                Ok(())
            }
            Cmd::ProbeLoop {
                to,
                every_ms,
                timeout_ms,
                for_ms,
            } => {
                let ms = Duration::from_millis;
                let samples = ferrolb_e2e::bench::failover::probe_loop(
                    to,
                    ms(every_ms),
                    ms(timeout_ms),
                    ms(for_ms),
                )
                .await;
                println!("{}", serde_json::to_string(&samples)?);
                Ok(())
            }
            Cmd::ProbeHold {
                to,
                seconds,
                interval_ms,
            } => {
                let first = |pod: &str| eprintln!("probe-hold: first answer from pod={pod}");
                let report = ferrolb_e2e::traffic::hold::probe_hold(
                    to,
                    Duration::from_secs(seconds),
                    Duration::from_millis(interval_ms),
                    first,
                )
                .await;
                println!("{}", serde_json::to_string(&report)?);
                Ok(())
            }
            Cmd::SctpSend {
                to,
                count,
                interval_ms,
            } => {
                let sent = ferrolb_e2e::traffic::rawsctp::send(
                    to,
                    count,
                    Duration::from_millis(interval_ms),
                )?;
                println!("{}", serde_json::to_string(&sent)?);
                Ok(())
            }
            Cmd::SctpCatch { port, timeout_ms } => {
                let limit = Duration::from_millis(timeout_ms);
                match ferrolb_e2e::traffic::rawsctp::catch(port, limit)? {
                    Some(caught) => {
                        println!("{}", serde_json::to_string(&caught)?);
                        Ok(())
                    }
                    None => anyhow::bail!("no SCTP packet to port {port} within {limit:?}"),
                }
            }
            Cmd::Forward { .. } => unreachable!("handled above"),
        }
    })
}
