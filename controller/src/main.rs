//! `ferrolb-controller`: allocates LoadBalancer IPs from VIPPools. See `--help`.
#![forbid(unsafe_code)]
use clap::Parser;
use ferrolb_controller::cli::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ferrolb_runtime::logging::init(&args.log)?;
    ferrolb_controller::run(args).await?;
    Ok(())
}
