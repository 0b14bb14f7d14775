//! The test kit's error type.

/// What went wrong, naming the command, namespace or tool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command could not be started.
    #[error("cannot run `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// A thread could not enter a namespace.
    #[error("entering network namespace {netns}: {reason}")]
    Enter {
        /// The namespace.
        netns: String,
        /// Why not.
        reason: String,
    },
    /// A tokio runtime could not be built on a namespace thread.
    #[error("starting a tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A namespace thread panicked.
    #[error("the thread in network namespace {0} panicked")]
    Panicked(String),
    /// A link did not come up in time.
    #[error("{dev} in {netns} not up after {secs} s")]
    NotUp {
        /// The namespace.
        netns: String,
        /// The device.
        dev: String,
        /// How long was waited.
        secs: u64,
    },
    /// What a root test needs is missing.
    #[error("{0}")]
    Missing(String),
}
