//! Which upstream tests run: the focus, the subset `cargo xtask test` runs, and the skip list.

use std::path::Path;

use serde::Deserialize;

use crate::Error;

/// The tests `cargo xtask conformance` selects (a Go regular expression on the full test
/// name): every `[Feature:LoadBalancer]` test, and the `[sig-network] Services` tests about
/// LoadBalancers, externalTrafficPolicy and health check node ports.
pub const FOCUS: &str = concat!(
    r"\[Feature:LoadBalancer\]",
    r"|\[sig-network\] Services should (",
    r"support externalTrafficPolicy=Local for type=NodePort",
    r"|fail health check node port if there are only terminating endpoints",
    r"|fallback to (local )?terminating endpoints when there are no ready endpoints with externa(l|ll)TrafficPolicy",
    r"|implement NodePort and HealthCheckNodePort correctly when ExternalTrafficPolicy changes",
    r"|serve endpoints on same port and different protocol for internal traffic on Type LoadBalancer",
    r")",
);

/// The tests `cargo xtask test` runs (`cargo xtask conformance --subset`): the cleanup
/// finalizer, changing a Service's type and ports, and the two externalTrafficPolicy=Local
/// tests that check every node's health check node port. Each is the end of a full test name.
pub const SUBSET: [&str; 4] = [
    "should handle load balancer cleanup finalizer for service",
    "should be able to change the type and ports of a TCP service",
    "should work for type=LoadBalancer",
    "should only target nodes with endpoints",
];

/// Tests that take longer than any per-test cap the lab needs otherwise: upstream's rolling
/// update tests roll a DaemonSet five times over the three nodes, each Pod serving out a 60 s
/// `--delay-shutdown` (about 16 minutes), and count failed requests all along.
const LONG: [&str; 1] = ["should not have connectivity disruption during rolling update"];
/// Time [`LONG`] tests get at least.
pub const LONG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// The time `test` may take: `base`, or [`LONG_TIMEOUT`] for the [`LONG`] tests.
pub fn time_allowed(test: &str, base: std::time::Duration) -> std::time::Duration {
    if LONG.iter().any(|l| test.contains(l)) {
        base.max(LONG_TIMEOUT)
    } else {
        base
    }
}

/// One entry of the skip list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Skip {
    /// The full test name, as `cargo xtask conformance --list` prints it.
    pub test: String,
    /// Why the lab cannot run it.
    pub reason: String,
}

/// Reads and checks the skip list (YAML: a list of `{test, reason}`).
pub fn load_skips(path: &Path) -> Result<Vec<Skip>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    parse_skips(&text).map_err(|e| Error::msg(format!("{}: {e}", path.display())))
}

/// Parses a skip list; every entry needs a test and a reason, and names a test once.
pub fn parse_skips(text: &str) -> Result<Vec<Skip>, String> {
    let skips: Vec<Skip> = serde_norway::from_str::<Option<Vec<Skip>>>(text)
        .map_err(|e| format!("not a list of {{test, reason}}: {e}"))?
        .unwrap_or_default();
    for (i, s) in skips.iter().enumerate() {
        if s.test.trim().is_empty() || s.reason.trim().is_empty() {
            return Err(format!(
                "entry {} needs both a test and a reason (got test {:?}, reason {:?})",
                i + 1,
                s.test,
                s.reason
            ));
        }
        if skips[..i].iter().any(|o| o.test == s.test) {
            return Err(format!("{:?} is listed twice", s.test));
        }
    }
    Ok(skips)
}

/// Skip entries that name no selected test (stale: the upstream name changed or the test is
/// gone), which must be fixed rather than silently ignored.
pub fn stale<'a>(skips: &'a [Skip], tests: &[String]) -> Vec<&'a Skip> {
    skips.iter().filter(|s| !tests.contains(&s.test)).collect()
}

/// Whether `test` (a full name) is one of [`SUBSET`].
pub fn in_subset(test: &str) -> bool {
    SUBSET
        .iter()
        .any(|end| test.trim_end().ends_with(end) || test.contains(&format!("{end} ")))
}

/// A Go regular expression that matches the test called `name` (ginkgo matches against a
/// text that does not start with the name, so only the end is anchored; the runner checks that
/// the report names exactly this test).
pub fn exact(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_escapes_every_metacharacter() {
        assert_eq!(
            exact("[sig-network] a.b (c) x|y $1 ^"),
            r"\[sig-network\] a\.b \(c\) x\|y \$1 \^$"
        );
    }

    #[test]
    fn skips_need_test_and_reason_once() {
        let ok = "- test: a\n  reason: needs four nodes\n";
        assert_eq!(parse_skips(ok).map(|s| s.len()), Ok(1));
        assert!(parse_skips("").is_ok_and(|s| s.is_empty()));
        let no_reason = "- test: a\n  reason: ' '\n";
        assert!(parse_skips(no_reason).is_err_and(|e| e.contains("entry 1")));
        let twice = "- {test: a, reason: r}\n- {test: a, reason: s}\n";
        assert!(parse_skips(twice).is_err_and(|e| e.contains("twice")));
        let typo = "- {test: a, reasn: r}\n";
        assert!(parse_skips(typo).is_err());
    }

    #[test]
    fn the_committed_skip_list_parses_and_skips_none_of_the_subset() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/skips.yaml");
        let skips = load_skips(&path).unwrap();
        assert!(skips.iter().all(|s| !in_subset(&s.test)), "{skips:?}");
    }

    #[test]
    fn rolling_update_tests_get_the_long_timeout() {
        let base = std::time::Duration::from_secs(60);
        let rolling = "[sig-network] LoadBalancers [Feature:LoadBalancer] should not have connectivity disruption during rolling update with externalTrafficPolicy=Local [Slow]";
        assert_eq!(time_allowed(rolling, base), LONG_TIMEOUT);
        assert_eq!(
            time_allowed("should work for type=LoadBalancer", base),
            base
        );
    }

    #[test]
    fn stale_skips_are_named() {
        let skips = parse_skips("- {test: a, reason: r}\n- {test: b, reason: r}\n").unwrap();
        let stale: Vec<_> = stale(&skips, &["a".to_string()])
            .iter()
            .map(|s| s.test.clone())
            .collect();
        assert_eq!(stale, ["b"]);
    }

    #[test]
    fn subset_matches_ends_of_names_with_tags() {
        assert!(in_subset(
            "[sig-network] LoadBalancers [Feature:LoadBalancer] should handle load balancer cleanup finalizer for service [Slow]"
        ));
        assert!(in_subset(
            "[sig-network] LoadBalancers ExternalTrafficPolicy: Local [Feature:LoadBalancer] [Slow] should only target nodes with endpoints"
        ));
        assert!(!in_subset(
            "[sig-network] LoadBalancers [Feature:LoadBalancer] should be able to change the type and ports of a UDP service [Slow]"
        ));
    }
}
