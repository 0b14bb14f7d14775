//! `kubectl-ferrolb`, the kubectl plugin: `kubectl ferrolb SUBCOMMAND`. Each subcommand is a
//! thin I/O shell around a pure core (`import-metallb`: [`metallb`]; `why`: [`why`]).
#![forbid(unsafe_code)]

pub mod import;
pub mod leader;
pub mod metallb;
pub mod speakers;
pub mod status;
pub mod why;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The field manager of every write the plugin makes.
pub const FIELD_MANAGER: &str = "kubectl-ferrolb";

/// kubectl ferrolb: tools for ferrolb, a LoadBalancer for bare-metal Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "kubectl-ferrolb", bin_name = "kubectl ferrolb", version, about)]
pub struct Cli {
    /// The kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Reads MetalLB's configuration (IPAddressPools, L2Advertisements) and the Services whose
    /// addresses MetalLB gave, and writes the ferrolb objects that keep those addresses:
    /// VIPPools (with `spec.adoptedAddresses`) and L2AnnouncementPolicies. What cannot be
    /// imported (BGP, unknown fields) is listed on stderr.
    ImportMetallb(import::ImportArgs),
    /// Says why a Service is (not) served: walks the chain (ownership and allocation,
    /// externalIPs, endpoints, election, history), prints each step with its evidence, stops
    /// at the first broken link with the fix, and exits 1 when the Service is not served.
    Why(why::fetch::WhyArgs),
    /// ferrolb as a whole: the controller's leader, every speaker (ready, version, restarts,
    /// how many addresses it announces), every pool's usage, the Services ferrolb owns without
    /// an address, and the problems found, each with what to do; exits 1 when there is one.
    Status(status::fetch::StatusArgs),
}
