//! Runs the selected upstream tests, one `conformance.test` process per test, from the lab's
//! client namespace, and gathers their JUnit and JSON reports under one directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::report::{self, Outcome, State};
use super::selection::{self, FOCUS, SUBSET, Skip};
use crate::lab::controlplane::{self, CONFORMANCE_TEST};
use crate::lab::plan::CLIENT;
use crate::{Error, Lab};

/// How long ginkgo may spend on one test (upstream waits up to 15 minutes for a load balancer;
/// the lab gives one in under a second, so a test that needs longer has failed).
pub const TEST_TIMEOUT: Duration = Duration::from_secs(8 * 60);
/// Extra time before a test process that ignores its timeout is killed.
const KILL_MARGIN: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where reports and logs go (`target/conformance`).
    pub out: PathBuf,
    /// Only [`SUBSET`].
    pub subset: bool,
    /// Only tests whose full name contains this.
    pub only: Option<String>,
    /// The skip list.
    pub skips: Vec<Skip>,
    /// Time allowed per test (the rolling update tests get at least
    /// [`selection::LONG_TIMEOUT`]).
    pub timeout: Duration,
}

/// The full names of every test [`FOCUS`] selects (a dry run; needs no cluster).
pub fn list(out: &Path) -> Result<Vec<String>, Error> {
    std::fs::create_dir_all(out)
        .map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let json = out.join("list.json");
    let status = Command::new(controlplane::bin(CONFORMANCE_TEST))
        .arg("--ginkgo.dry-run")
        .arg(format!("--ginkgo.focus={FOCUS}"))
        .arg(format!("--ginkgo.json-report={}", json.display()))
        .arg("--ginkgo.no-color")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| Error::io(format!("running {CONFORMANCE_TEST} (is it built?)"), e))?;
    let text = std::fs::read_to_string(&json).map_err(|e| {
        Error::io(
            format!("reading the test list ({CONFORMANCE_TEST} exited {status})"),
            e,
        )
    })?;
    report::names(&text).map_err(Error::msg)
}

/// Runs the selected tests against `lab` (kube-proxy and ferrolb installed, the far client set
/// up), printing each outcome as it comes; writes `summary.json` into `opts.out`.
pub fn run(lab: &Lab, opts: &Options) -> Result<Vec<Outcome>, Error> {
    let all = list(&opts.out)?;
    let stale = selection::stale(&opts.skips, &all);
    if !stale.is_empty() {
        let names: Vec<&str> = stale.iter().map(|s| s.test.as_str()).collect();
        return Err(Error::msg(format!(
            "the skip list names tests the suite does not have (renamed upstream?): {names:?}; \
             fix e2e/conformance/skips.yaml"
        )));
    }
    let mut chosen: Vec<&String> = all
        .iter()
        .filter(|t| !opts.subset || selection::in_subset(t))
        .filter(|t| opts.only.as_deref().is_none_or(|o| t.contains(o)))
        .collect();
    chosen.dedup();
    if opts.subset && chosen.len() != SUBSET.len() {
        return Err(Error::msg(format!(
            "the subset {SUBSET:?} matched {} tests: {chosen:?}",
            chosen.len()
        )));
    }
    for dir in ["junit", "json", "logs"] {
        std::fs::create_dir_all(opts.out.join(dir))
            .map_err(|e| Error::io(format!("creating {}/{dir}", opts.out.display()), e))?;
    }
    let mut outcomes = Vec::new();
    for (i, test) in chosen.iter().enumerate() {
        let outcome = match opts.skips.iter().find(|s| &s.test == *test) {
            Some(skip) => Outcome {
                test: (*test).clone(),
                state: State::Skipped,
                seconds: 0.0,
                reason: format!("skip list: {}", skip.reason),
            },
            None => run_one(lab, opts, i, test)?,
        };
        println!("{}", line(&outcome));
        outcomes.push(outcome);
    }
    let summary = serde_json::to_string_pretty(&outcomes)
        .map_err(|e| Error::msg(format!("encoding the summary: {e}")))?;
    let path = opts.out.join("summary.json");
    std::fs::write(&path, summary)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(outcomes)
}

/// One line of the report: state, time, name, and the reason of a failure or skip.
pub fn line(o: &Outcome) -> String {
    let state = match o.state {
        State::Passed => "PASS",
        State::Failed => "FAIL",
        State::Skipped => "SKIP",
    };
    let reason = o.reason.lines().next().unwrap_or("");
    if reason.is_empty() {
        format!("{state} {:>6.1}s {}", o.seconds, o.test)
    } else {
        format!(
            "{state} {:>6.1}s {}\n            {reason}",
            o.seconds, o.test
        )
    }
}

/// Counts of passed, failed and skipped tests.
pub fn counts(outcomes: &[Outcome]) -> (usize, usize, usize) {
    let n = |s: State| outcomes.iter().filter(|o| o.state == s).count();
    (n(State::Passed), n(State::Failed), n(State::Skipped))
}

fn run_one(lab: &Lab, opts: &Options, i: usize, test: &str) -> Result<Outcome, Error> {
    let json = opts.out.join(format!("json/{i:02}.json"));
    let junit = opts.out.join(format!("junit/junit_{i:02}.xml"));
    let log = opts.out.join(format!("logs/{i:02}.log"));
    let _ = std::fs::remove_file(&json);
    let log_file = std::fs::File::create(&log)
        .map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| Error::io("duplicating the log file", e))?;
    let timeout = selection::time_allowed(test, opts.timeout);
    let started = Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.names.netns(CLIENT.role)])
        .arg(controlplane::bin(CONFORMANCE_TEST))
        .arg(format!("--kubeconfig={}", lab.kubeconfig_lan().display()))
        .arg(format!(
            "--kubectl-path={}",
            controlplane::bin("kubectl").display()
        ))
        .arg("--provider=skeleton")
        .arg("--disable-log-dump")
        .arg(format!("--ginkgo.focus={}", selection::exact(test)))
        .arg(format!("--ginkgo.timeout={}s", timeout.as_secs()))
        .arg(format!("--ginkgo.json-report={}", json.display()))
        .arg(format!("--ginkgo.junit-report={}", junit.display()))
        .args(["--ginkgo.no-color", "--ginkgo.v"])
        .stdout(log_file)
        .stderr(err_file)
        .spawn()
        .map_err(|e| Error::io(format!("starting {CONFORMANCE_TEST}"), e))?;
    let limit = timeout + KILL_MARGIN;
    let mut killed = false;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                killed = true;
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(250)),
            Err(e) => return Err(Error::io("waiting for a test process", e)),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let parsed = std::fs::read_to_string(&json)
        .map_err(|e| e.to_string())
        .and_then(|t| report::parse(&t));
    let mine = parsed
        .as_ref()
        .ok()
        .and_then(|all| all.iter().find(|o| o.test == test).cloned());
    Ok(mine.unwrap_or_else(|| Outcome {
        test: test.to_string(),
        state: State::Failed,
        seconds,
        reason: if killed {
            format!(
                "killed after {limit:?}, still running after its --ginkgo.timeout; see {}",
                log.display()
            )
        } else {
            format!("no report for the test; see {}", log.display())
        },
    }))
}
