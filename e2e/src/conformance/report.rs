//! Ginkgo's JSON report (`--ginkgo.json-report`) read into one outcome per test.

use serde::{Deserialize, Serialize};

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// It passed.
    Passed,
    /// It failed (also panicked, interrupted, timed out or aborted).
    Failed,
    /// It did not run: on the skip list, or it skipped itself (with its reason).
    Skipped,
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The full test name.
    pub test: String,
    /// How it ended.
    pub state: State,
    /// Seconds it took.
    pub seconds: f64,
    /// Why it failed or was skipped (empty when it passed).
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Suite {
    #[serde(default)]
    spec_reports: Vec<Spec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Spec {
    #[serde(default)]
    container_hierarchy_texts: Option<Vec<String>>,
    #[serde(default)]
    leaf_node_type: String,
    #[serde(default)]
    leaf_node_text: String,
    #[serde(default)]
    state: String,
    /// Nanoseconds.
    #[serde(default)]
    run_time: i64,
    #[serde(default)]
    failure: Option<Failure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Failure {
    #[serde(default)]
    message: String,
    /// Where a timed-out test was (ginkgo's progress report).
    #[serde(default)]
    progress_report: Option<Progress>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Progress {
    #[serde(default)]
    current_step_text: String,
}

impl Failure {
    /// The message, and for a timeout the step the test was at.
    fn reason(&self) -> String {
        let step = self
            .progress_report
            .as_ref()
            .map(|p| p.current_step_text.trim())
            .filter(|s| !s.is_empty());
        match step {
            Some(step) => format!("{} (at step: {step})", self.message.trim()),
            None => self.message.trim().to_string(),
        }
    }
}

impl Spec {
    fn name(&self) -> String {
        let mut parts: Vec<&str> = self
            .container_hierarchy_texts
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        parts.push(&self.leaf_node_text);
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }
}

/// The tests (`It` nodes) of a report, in order: their full names and outcomes. Specs the
/// run's focus filtered out (skipped without a message) are left out.
pub fn parse(json: &str) -> Result<Vec<Outcome>, String> {
    let suites: Vec<Suite> =
        serde_json::from_str(json).map_err(|e| format!("not a ginkgo JSON report: {e}"))?;
    let mut out = Vec::new();
    for spec in suites.into_iter().flat_map(|s| s.spec_reports) {
        if spec.leaf_node_type != "It" {
            continue;
        }
        let message = spec.failure.as_ref().map(Failure::reason);
        let state = match spec.state.as_str() {
            "passed" => State::Passed,
            "skipped" | "pending" => State::Skipped,
            _ => State::Failed,
        };
        if state == State::Skipped && message.as_deref().unwrap_or("").is_empty() {
            continue;
        }
        out.push(Outcome {
            test: spec.name(),
            state,
            seconds: spec.run_time as f64 / 1e9,
            reason: message.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The full names of the tests in a dry run's report (every `It`, whatever its state).
pub fn names(json: &str) -> Result<Vec<String>, String> {
    let suites: Vec<Suite> =
        serde_json::from_str(json).map_err(|e| format!("not a ginkgo JSON report: {e}"))?;
    Ok(suites
        .into_iter()
        .flat_map(|s| s.spec_reports)
        .filter(|s| s.leaf_node_type == "It" && s.state != "skipped")
        .map(|s| s.name())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"[{"SuitePath":"/x","SpecReports":[
      {"ContainerHierarchyTexts":null,"LeafNodeType":"SynchronizedBeforeSuite","LeafNodeText":"","State":"passed","RunTime":5},
      {"ContainerHierarchyTexts":["[sig-network] LoadBalancers [Feature:LoadBalancer]"],"LeafNodeType":"It","LeafNodeText":"should a [Slow]","State":"passed","RunTime":2500000000},
      {"ContainerHierarchyTexts":["[sig-network] LoadBalancers [Feature:LoadBalancer]"],"LeafNodeType":"It","LeafNodeText":"should b","State":"failed","RunTime":1000000000,"Failure":{"Message":"timed out waiting\n"}},
      {"ContainerHierarchyTexts":["[sig-network] Services"],"LeafNodeType":"It","LeafNodeText":"should c","State":"skipped","RunTime":0,"Failure":{"Message":"Test requires >= 2 Ready nodes"}},
      {"ContainerHierarchyTexts":["[sig-network] Services"],"LeafNodeType":"It","LeafNodeText":"filtered out","State":"skipped","RunTime":0},
      {"ContainerHierarchyTexts":["[sig-network] Services"],"LeafNodeType":"It","LeafNodeText":"should d","State":"timedout","RunTime":7,"Failure":{"Message":"A suite timeout occurred","ProgressReport":{"CurrentStepText":"Wait for service to hasFinalizer=true"}}}
    ]}]"#;

    #[test]
    fn every_test_state_and_reason() {
        let out = parse(REPORT).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|o| (o.test.as_str(), o.state, o.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "[sig-network] LoadBalancers [Feature:LoadBalancer] should a [Slow]",
                    State::Passed,
                    ""
                ),
                (
                    "[sig-network] LoadBalancers [Feature:LoadBalancer] should b",
                    State::Failed,
                    "timed out waiting"
                ),
                (
                    "[sig-network] Services should c",
                    State::Skipped,
                    "Test requires >= 2 Ready nodes"
                ),
                (
                    "[sig-network] Services should d",
                    State::Failed,
                    "A suite timeout occurred (at step: Wait for service to hasFinalizer=true)"
                ),
            ]
        );
        assert!((out[0].seconds - 2.5).abs() < 1e-9);
    }

    #[test]
    fn names_leave_out_filtered_specs() {
        let n = names(REPORT).unwrap();
        assert_eq!(n.len(), 3);
        assert!(!n.iter().any(|t| t.contains("filtered")));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("{").is_err());
    }
}
