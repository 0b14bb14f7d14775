//! `ferrolb-speaker`: answers ARP/NDP for elected VIPs and programs the node's service rules.
use clap::Parser;

/// ferrolb speaker: answers ARP/NDP for the VIPs this node wins, programs its service rules and
/// serves the health API. (Flags only for now; the loops come with their issues.)
#[derive(Parser, Debug)]
#[command(name = "ferrolb-speaker", version, about, long_about = None)]
struct Args {
    /// This node's name (the Downward API's spec.nodeName).
    #[arg(long, env = "FERROLB_NODE_NAME")]
    node_name: Option<String>,
    /// Address of the health API (/healthz, /livez, /metrics, /services/..., /debug/state).
    #[arg(long, env = "FERROLB_HEALTH_ADDR", default_value = "0.0.0.0:10256")]
    health_addr: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    eprintln!("ferrolb-speaker: not implemented yet ({args:?})");
    Ok(())
}
