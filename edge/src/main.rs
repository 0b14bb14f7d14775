//! `ferrolb-edge`: the cloud-style external load balancer. See `--help`.
use clap::Parser;
use ferrolb_edge::daemon::{self, Args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    daemon::run(args).await?;
    Ok(())
}
