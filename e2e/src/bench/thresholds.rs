//! `cargo xtask bench NAME --check`: a benchmark's JSON against the thresholds committed in
//! `e2e/bench/thresholds.yaml`. Each threshold names a figure by its JSON pointer, a bound
//! (`max` or `min`) and why it is there; a missing figure is a miss, never a pass.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// The thresholds file, relative to the repository.
pub const FILE: &str = "e2e/bench/thresholds.yaml";

/// One bound on one figure of a benchmark's JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// JSON pointer of the figure (`/sync/10000/incremental/ms`).
    pub figure: String,
    /// The figure may not exceed this.
    #[serde(default)]
    pub max: Option<f64>,
    /// The figure may not fall below this.
    #[serde(default)]
    pub min: Option<f64>,
    /// Where the bound comes from (an issue's goal, a measured figure and its headroom).
    pub why: String,
}

/// Every benchmark's thresholds, by benchmark name.
pub type Thresholds = BTreeMap<String, Vec<Threshold>>;

/// Reads and validates the thresholds file at `path`.
pub fn load(path: &Path) -> Result<Thresholds, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    parse(&text).map_err(|e| Error::msg(format!("{}: {e}", path.display())))
}

/// Parses a thresholds document; a threshold without a bound, or with a figure that is not a
/// JSON pointer, is an error naming it.
pub fn parse(text: &str) -> Result<Thresholds, String> {
    let all: Thresholds = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    for (bench, list) in &all {
        for t in list {
            if !t.figure.starts_with('/') {
                return Err(format!(
                    "{bench}: figure {:?} is not a JSON pointer; write it as /key/subkey",
                    t.figure
                ));
            }
            if t.max.is_none() && t.min.is_none() {
                return Err(format!(
                    "{bench}: figure {} has no bound; give it max: or min:",
                    t.figure
                ));
            }
        }
    }
    Ok(all)
}

/// The verdict on one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The threshold.
    pub threshold: Threshold,
    /// The figure's value in the run (None: absent or not a number).
    pub value: Option<f64>,
    /// Whether the run met it.
    pub met: bool,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.threshold;
        let mark = if self.met { "ok  " } else { "MISS" };
        let value = self
            .value
            .map_or_else(|| "missing".to_string(), |v| format!("{v:.3}"));
        let mut bounds = Vec::new();
        if let Some(max) = t.max {
            bounds.push(format!("max {max}"));
        }
        if let Some(min) = t.min {
            bounds.push(format!("min {min}"));
        }
        write!(
            f,
            "{mark} {} = {value} ({}; {})",
            t.figure,
            bounds.join(", "),
            t.why
        )
    }
}

/// Checks `json`, the output of benchmark `bench`, against its thresholds in `all`. Err when
/// `all` has none for `bench` (a check that checks nothing is refused).
pub fn check(bench: &str, json: &Value, all: &Thresholds) -> Result<Vec<Verdict>, String> {
    let list = all.get(bench).filter(|l| !l.is_empty()).ok_or_else(|| {
        format!("no thresholds for benchmark {bench} in {FILE}; add some or run without --check")
    })?;
    Ok(list
        .iter()
        .map(|t| {
            let value = json.pointer(&t.figure).and_then(Value::as_f64);
            let met = value.is_some_and(|v| {
                t.max.is_none_or(|max| v <= max) && t.min.is_none_or(|min| v >= min)
            });
            Verdict {
                threshold: t.clone(),
                value,
                met,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str = r#"
rules:
  - figure: /sync/10000/incremental/ms
    max: 50
    why: issue 21
  - figure: /rate
    min: 100
    why: floor
"#;

    #[test]
    fn a_run_meets_or_misses_each_threshold_and_a_missing_figure_misses() {
        let all = parse(DOC).unwrap();
        let run = json!({"sync": {"10000": {"incremental": {"ms": 12.5}}}, "rate": 99});
        let verdicts = check("rules", &run, &all).unwrap();
        assert_eq!(verdicts.len(), 2);
        assert!(verdicts[0].met, "{}", verdicts[0]);
        assert!(!verdicts[1].met, "{}", verdicts[1]);
        assert!(verdicts[1].to_string().starts_with("MISS /rate = 99.000"));

        let slow = json!({"sync": {"10000": {"incremental": {"ms": 50.1}}}, "rate": 100});
        let verdicts = check("rules", &slow, &all).unwrap();
        assert_eq!(
            verdicts.iter().map(|v| v.met).collect::<Vec<_>>(),
            [false, true]
        );

        let missing = check("rules", &json!({"rate": 500}), &all).unwrap();
        assert!(!missing[0].met);
        assert!(
            missing[0].to_string().contains("= missing"),
            "{}",
            missing[0]
        );
    }

    #[test]
    fn a_benchmark_without_thresholds_is_refused() {
        let err = check("alloc", &json!({}), &parse(DOC).unwrap()).unwrap_err();
        assert!(err.contains("no thresholds for benchmark alloc"), "{err}");
    }

    #[test]
    fn bad_thresholds_are_refused_naming_the_figure() {
        let err = parse("why:\n  - {figure: max_ms, max: 1, why: x}\n").unwrap_err();
        assert!(err.contains("\"max_ms\" is not a JSON pointer"), "{err}");
        let err = parse("why:\n  - {figure: /max_ms, why: x}\n").unwrap_err();
        assert!(err.contains("/max_ms has no bound"), "{err}");
        assert!(parse("why:\n  - {figure: /max_ms, max: 1, why: x, typo: 2}\n").is_err());
    }

    #[test]
    fn the_committed_thresholds_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/thresholds.yaml");
        let all = load(&path).unwrap();
        assert!(
            all.contains_key("why") && all.contains_key("rules"),
            "{all:?}"
        );
    }
}
