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
    /// The Kubernetes API refused or failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A command, namespace or veth failed (the test kit's error, also for the lab's own
    /// commands: [`Error::command`]).
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
    /// Command `cmd` ran and failed: its exit status and standard error.
    pub fn command(cmd: impl Into<String>, out: &std::process::Output) -> Self {
        Error::Netns(ferrolb_testkit::Error::Command {
            cmd: cmd.into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
    /// A Kubernetes API error with context.
    pub fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            what: what.into(),
            source,
        }
    }
}
