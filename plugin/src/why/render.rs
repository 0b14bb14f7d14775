//! The human rendering of a [`Report`]: one line per step (`✓` passed, `✗` failed, `-`
//! skipped), its evidence indented, then the fix.

use std::fmt::Write;

use super::{Outcome, Report};

/// Renders `report` as text.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Service {}", report.service);
    for step in &report.steps {
        let mark = match step.outcome {
            Outcome::Passed => "✓",
            Outcome::Failed => "✗",
            Outcome::Skipped => "-",
            Outcome::Unchecked => "?",
        };
        let _ = writeln!(out, "{mark} {}", step.name);
        for e in &step.evidence {
            let _ = writeln!(out, "    {e}");
        }
        if let Some(fix) = &step.fix {
            let _ = writeln!(out, "  fix: {fix}");
        }
    }
    let verdict = match (report.served, report.unchecked.is_empty()) {
        (false, _) => "NOT served".to_string(),
        (true, true) => "served".to_string(),
        (true, false) => format!("served (not checked: {})", report.unchecked.join(", ")),
    };
    let _ = writeln!(out, "{verdict}");
    out
}
