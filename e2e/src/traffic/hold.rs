//! A long-lived TCP flow through a Service: one connection to an echo backend in hold mode
//! ([`crate::traffic::echo::HOLD`]), a line every interval, and which pods answered. Tests change the
//! Service's endpoints meanwhile and check that the flow never noticed.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::traffic::echo::{HOLD, Reply};

/// Most lines one held flow sends (the backend answers at most 10,000).
pub const MAX_LINES: u64 = 9_000;
/// How long one answer may take.
const ANSWER_TIME: Duration = Duration::from_secs(1);

/// What a held flow saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldReport {
    /// Lines answered.
    pub answered: u64,
    /// Lines not answered (or the connection failing).
    pub failed: u64,
    /// The distinct pods that answered.
    pub pods: Vec<String>,
    /// The first failure, if any.
    pub error: Option<String>,
}

/// Opens one connection to `to`, asks for hold mode, then sends a line every `interval` for
/// `length`; `first` hears the first answer's pod as soon as it comes. Failures are counted,
/// never returned: the caller judges.
pub async fn probe_hold(
    to: SocketAddr,
    length: Duration,
    interval: Duration,
    first: impl FnOnce(&str),
) -> HoldReport {
    let mut report = HoldReport::default();
    let lines = (length.as_millis() / interval.as_millis().max(1)).clamp(1, MAX_LINES.into());
    let stream = match timeout(ANSWER_TIME * 2, TcpStream::connect(to)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return report.fail(format!("connecting to {to}: {e}")),
        Err(_) => return report.fail(format!("connecting to {to}: timed out")),
    };
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    if let Err(e) = write.write_all(format!("{HOLD}\n").as_bytes()).await {
        return report.fail(format!("asking {to} to hold: {e}"));
    }
    let mut pods = BTreeSet::new();
    let mut first = Some(first);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..lines {
        ticks.tick().await;
        match exchange(&mut read, &mut write).await {
            Ok(reply) => {
                report.answered += 1;
                if let Some(f) = first.take() {
                    f(&reply.pod);
                }
                pods.insert(reply.pod);
            }
            Err(e) => {
                tracing::debug!(error = %e, "held line failed");
                report = report.fail(e);
            }
        }
    }
    report.pods = pods.into_iter().collect();
    report
}

impl HoldReport {
    fn fail(mut self, error: String) -> Self {
        self.failed += 1;
        self.error.get_or_insert(error);
        self
    }
}

/// One line out, one answer back.
async fn exchange(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Result<Reply, String> {
    write
        .write_all(b"probe\n")
        .await
        .map_err(|e| format!("writing: {e}"))?;
    let mut line = String::new();
    let n = timeout(ANSWER_TIME, read.read_line(&mut line))
        .await
        .map_err(|_| "no answer within a second".to_string())?
        .map_err(|e| format!("reading: {e}"))?;
    if n == 0 {
        return Err("the connection was closed".into());
    }
    Reply::parse(&line).ok_or_else(|| format!("not an echo answer: {line:?}"))
}
