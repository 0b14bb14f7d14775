//! Logging flags and the tracing subscriber of every daemon.
//!
//! `--log-format` (`FERROLB_LOG_FORMAT`): `text` or `json`. `--log-level` (`RUST_LOG`): a
//! tracing filter, a level (`debug`) or directives (`info,ferrolb_speaker=debug`); the flag
//! wins over the variable, as for every other flag.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The logging flags, flattened into each binary's `Args`.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "FERROLB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Which log lines to write: a level (error, warn, info, debug, trace) or tracing
    /// directives such as `info,ferrolb_speaker=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", value_parser = parse_filter)]
    pub log_level: String,
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The filter does not parse (only when [`LogArgs`] was built by hand).
    #[error("--log-level {value:?}: {reason}")]
    Filter {
        /// The filter given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A global subscriber is already installed.
    #[error("logging is already set up: {0}")]
    AlreadySet(String),
}

/// Checks a `--log-level` value (clap value parser).
fn parse_filter(s: &str) -> Result<String, String> {
    filter(s).map(|_| s.to_string())
}

fn filter(s: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder().parse(s).map_err(|e| {
        format!("{e}; use a level (error, warn, info, debug, trace) or directives like info,ferrolb_speaker=debug")
    })
}

/// Installs the global tracing subscriber the flags describe (logs go to stderr).
pub fn init(args: &LogArgs) -> Result<(), LogError> {
    let filter = filter(&args.log_level).map_err(|reason| LogError::Filter {
        value: args.log_level.clone(),
        reason,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| LogError::AlreadySet(e.to_string()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
    }

    #[test]
    fn defaults_values_and_bad_input() {
        let d = Cli::try_parse_from(["x"]).unwrap().log;
        assert_eq!(d.log_format, LogFormat::Text);
        let j = Cli::try_parse_from([
            "x",
            "--log-format=json",
            "--log-level=info,ferrolb_speaker=debug",
        ])
        .unwrap()
        .log;
        assert_eq!(j.log_format, LogFormat::Json);
        assert_eq!(j.log_level, "info,ferrolb_speaker=debug");
        let e = Cli::try_parse_from(["x", "--log-format=yaml"]).unwrap_err();
        assert!(e.to_string().contains("yaml"), "{e}");
        let e = Cli::try_parse_from(["x", "--log-level=info,=bogus=="]).unwrap_err();
        assert!(e.to_string().contains("--log-level"), "{e}");
    }
}
