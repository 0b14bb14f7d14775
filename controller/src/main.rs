//! `ferrolb-controller`: allocates LoadBalancer IPs from IPPools and reviews externalIPs.
use clap::Parser;

/// ferrolb controller: gives LoadBalancer Services IPs from IPPools and enforces the
/// externalIPs policy. (Flags only for now; the control loops come with their issues.)
#[derive(Parser, Debug)]
#[command(name = "ferrolb-controller", version, about, long_about = None)]
struct Args {
    /// Also own LoadBalancer Services with no spec.loadBalancerClass (the cluster's default class).
    #[arg(long, env = "FERROLB_DEFAULT_CLASS", default_value_t = true, action = clap::ArgAction::Set)]
    default_class: bool,
    /// Address of the metrics and health server (/metrics, /healthz, /readyz).
    #[arg(long, env = "FERROLB_HEALTH_ADDR", default_value = "0.0.0.0:9443")]
    health_addr: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    eprintln!("ferrolb-controller: not implemented yet ({args:?})");
    Ok(())
}
