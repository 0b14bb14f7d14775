//! `kubectl-ferrolb`: parses the command line and runs the subcommand.

use clap::Parser;
use ferrolb_plugin::{Cli, Command, import, status, why};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::ImportMetallb(args) => import::run(cli.kubeconfig.as_deref(), &args).await,
        Command::Status(args) => {
            if !status::fetch::run(cli.kubeconfig.as_deref(), &args).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Why(args) => {
            if !why::fetch::run(cli.kubeconfig.as_deref(), &args).await? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
