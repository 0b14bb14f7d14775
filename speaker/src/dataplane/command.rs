//! Running one external tool (`nft`, `conntrack`), optionally inside a named
//! network namespace (`ip netns exec NS …`), with a deadline.

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

/// Failure to run an external tool, or the tool reporting an error.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The process could not be started or fed.
    #[error("cannot run `{command}`: {source}; is the tool installed and on PATH?")]
    Io {
        /// The command line.
        command: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The process did not finish in time and was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The command line.
        command: String,
        /// The deadline it missed.
        timeout: Duration,
    },
    /// The process exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Exit status as printed by the OS.
        status: String,
        /// The tool's standard error, trimmed.
        stderr: String,
    },
}

impl CommandError {
    /// The tool's standard error when it ran and failed.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            CommandError::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// Where and how long tools run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Runner {
    /// Named network namespace (`ip netns exec`), `None` for the current one.
    pub netns: Option<String>,
    /// Deadline for one invocation.
    pub timeout: Duration,
}

/// One finished invocation.
pub(super) struct Finished {
    /// Printable command line.
    pub command: String,
    /// Raw output (exit status, stdout, stderr).
    pub output: Output,
}

impl Finished {
    /// Standard output when the tool succeeded, else [`CommandError::Failed`].
    pub fn stdout_if_success(self) -> Result<String, CommandError> {
        if self.output.status.success() {
            Ok(String::from_utf8_lossy(&self.output.stdout).into_owned())
        } else {
            Err(self.failure())
        }
    }

    /// Standard error as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The invocation as a [`CommandError::Failed`].
    pub fn failure(&self) -> CommandError {
        CommandError::Failed {
            command: self.command.clone(),
            status: self.output.status.to_string(),
            stderr: self.stderr().trim().to_string(),
        }
    }
}

impl Runner {
    /// Runs `program args…`, feeding `stdin` when given, and waits for it
    /// (killing it after the deadline). A non-zero exit is not an error here:
    /// callers decide (e.g. "0 flow entries" or "no such table").
    pub async fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<Finished, CommandError> {
        let mut argv: Vec<&str> = Vec::with_capacity(args.len() + 4);
        if let Some(netns) = &self.netns {
            argv.extend(["ip", "netns", "exec", netns]);
        }
        argv.push(program);
        argv.extend(args);
        let command = argv.join(" ");
        let io = |source| CommandError::Io {
            command: command.clone(),
            source,
        };
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            // Tool messages (strerror texts) are matched in English.
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(io)?;
        let feed = child.stdin.take();
        let write = async move {
            if let (Some(mut pipe), Some(text)) = (feed, stdin) {
                pipe.write_all(text.as_bytes()).await?;
                pipe.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        // Feed and drain concurrently: a tool may write while it still reads.
        let both = async { tokio::join!(write, child.wait_with_output()) };
        let (written, output) = tokio::time::timeout(self.timeout, both)
            .await
            .map_err(|_| CommandError::Timeout {
                command: command.clone(),
                timeout: self.timeout,
            })?;
        let output = output.map_err(io)?;
        // A tool that exits early closes its stdin; its own error then says more.
        if let Err(error) = written
            && output.status.success()
        {
            return Err(io(error));
        }
        Ok(Finished { command, output })
    }
}
