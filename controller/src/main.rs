//! `ferrolb-controller`: allocates LoadBalancer IPs from VIPPools. See `--help`.
#![forbid(unsafe_code)]
use clap::Parser;
use ferrolb_controller::cli::{Args, Command};

#[global_allocator]
static ALLOCATOR: ferrolb_runtime::Allocator = ferrolb_runtime::ALLOCATOR;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ferrolb_runtime::logging::init(&args.log)?;
    match &args.command {
        Some(Command::ReleaseFinalizers(release)) => {
            ferrolb_controller::uninstall::run(&args.namespace, release).await?;
        }
        None => ferrolb_controller::run(args).await?,
    }
    Ok(())
}
