//! `ferrolb-edge`: the cloud-style external load balancer. See `--help`.
#![forbid(unsafe_code)]
use clap::Parser;
use ferrolb_edge::daemon::{self, Args};

#[global_allocator]
static ALLOCATOR: ferrolb_runtime::Allocator = ferrolb_runtime::ALLOCATOR;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ferrolb_runtime::logging::init(&args.log)?;
    daemon::run(args).await?;
    Ok(())
}
