//! The lab's error type.

/// What went wrong in the lab, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plain message.
    #[error("{0}")]
    Msg(String),
    /// An I/O error with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Exit status.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// The Kubernetes API refused or failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A namespace, veth or command of the test kit failed.
    #[error(transparent)]
    Netns(#[from] ferrolb_testkit::Error),
    /// A condition was not met in time.
    #[error("timed out after {secs:.1}s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        secs: f64,
    },
}

impl Error {
    /// A plain message.
    pub fn msg(m: impl Into<String>) -> Self {
        Error::Msg(m.into())
    }
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
    /// A Kubernetes API error with context.
    pub fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            what: what.into(),
            source,
        }
    }
}
