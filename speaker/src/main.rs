//! `ferrolb-speaker`: answers ARP/NDP for elected VIPs, programs the node's Service rules and
//! serves the health API. See `--help`.
use clap::Parser;
use ferrolb_speaker::daemon::{self, Args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    daemon::run(args).await?;
    Ok(())
}
