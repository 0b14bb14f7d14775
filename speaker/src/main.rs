//! `ferrolb-speaker`: answers ARP/NDP for elected VIPs, programs the node's Service rules and
//! serves the health API. See `--help`.
#![forbid(unsafe_code)]
use clap::Parser;
use ferrolb_speaker::daemon::{self, Args};

// Without it (feature `system-allocator`) the binary allocates with glibc's malloc, which
// heaptrack sees: README, "Where a speaker's memory goes".
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: ferrolb_runtime::Allocator = ferrolb_runtime::ALLOCATOR;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ferrolb_runtime::logging::init(&args.log)?;
    daemon::run(args).await?;
    Ok(())
}
