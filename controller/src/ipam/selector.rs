//! Kubernetes-style label selectors (`matchLabels` + `matchExpressions`).
//!
//! Semantics follow `metav1.LabelSelector`: every `matchLabels` pair and every expression
//! must hold; an empty selector matches everything.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Labels of an object: key to value.
pub type Labels = BTreeMap<String, String>;

/// A label selector: all of `match_labels` and all of `match_expressions` must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Labels that must be present with exactly these values.
    pub match_labels: Labels,
    /// Further requirements, all of which must hold.
    pub match_expressions: Vec<LabelRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    /// The label key the requirement is about.
    pub key: String,
    /// How the label is tested.
    pub operator: SelectorOperator,
    /// Values for `In` / `NotIn`; must be empty for `Exists` / `DoesNotExist`.
    pub values: Vec<String>,
}

/// Operator of a [`LabelRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectorOperator {
    /// The label is present and its value is one of `values`.
    In,
    /// The label is absent, or its value is none of `values`.
    NotIn,
    /// The label is present (any value).
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl SelectorOperator {
    /// The Kubernetes spelling (`In`, `NotIn`, `Exists`, `DoesNotExist`).
    pub fn as_str(self) -> &'static str {
        match self {
            SelectorOperator::In => "In",
            SelectorOperator::NotIn => "NotIn",
            SelectorOperator::Exists => "Exists",
            SelectorOperator::DoesNotExist => "DoesNotExist",
        }
    }
}

impl fmt::Display for SelectorOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A selector that Kubernetes would reject. Messages name the bad value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The operator is not one of the four known ones.
    #[error(
        "selector operator {operator:?} is unknown; use one of In, NotIn, Exists, DoesNotExist"
    )]
    UnknownOperator {
        /// The operator as written.
        operator: String,
    },
    /// `In` / `NotIn` without values.
    #[error(
        "selector requirement on {key:?} uses {operator} without values; list at least one value or use Exists/DoesNotExist"
    )]
    MissingValues {
        /// The label key.
        key: String,
        /// The operator used.
        operator: SelectorOperator,
    },
    /// `Exists` / `DoesNotExist` with values.
    #[error(
        "selector requirement on {key:?} uses {operator} with values; remove the values or use In/NotIn"
    )]
    UnexpectedValues {
        /// The label key.
        key: String,
        /// The operator used.
        operator: SelectorOperator,
    },
    /// A requirement or matchLabels entry with an empty key.
    #[error("selector has an empty label key; give every requirement a key")]
    EmptyKey,
}

impl FromStr for SelectorOperator {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "In" => Ok(SelectorOperator::In),
            "NotIn" => Ok(SelectorOperator::NotIn),
            "Exists" => Ok(SelectorOperator::Exists),
            "DoesNotExist" => Ok(SelectorOperator::DoesNotExist),
            other => Err(SelectorError::UnknownOperator {
                operator: other.to_string(),
            }),
        }
    }
}

impl LabelRequirement {
    /// Whether `labels` satisfy this requirement. `In` with no values matches nothing and
    /// `NotIn` with no values matches everything (such selectors fail [`Selector::validate`]).
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

impl Selector {
    /// Whether `labels` satisfy every part of the selector; an empty selector matches everything.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|req| req.matches(labels))
    }

    /// Whether the selector has no requirement at all (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Checks the selector the way the Kubernetes API server would.
    pub fn validate(&self) -> Result<(), SelectorError> {
        if self.match_labels.keys().any(|k| k.is_empty()) {
            return Err(SelectorError::EmptyKey);
        }
        for req in &self.match_expressions {
            if req.key.is_empty() {
                return Err(SelectorError::EmptyKey);
            }
            let takes_values =
                matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
            let (key, operator) = (req.key.clone(), req.operator);
            if takes_values && req.values.is_empty() {
                return Err(SelectorError::MissingValues { key, operator });
            }
            if !takes_values && !req.values.is_empty() {
                return Err(SelectorError::UnexpectedValues { key, operator });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelRequirement {
        LabelRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn with(expressions: Vec<LabelRequirement>) -> Selector {
        Selector {
            match_labels: Labels::new(),
            match_expressions: expressions,
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(Selector::default().matches(&Labels::new()));
        assert!(Selector::default().matches(&labels(&[("a", "b")])));
        assert!(Selector::default().is_empty());
    }

    #[test]
    fn match_labels_need_exact_values() {
        let sel = Selector {
            match_labels: labels(&[("team", "web")]),
            ..Selector::default()
        };
        assert!(sel.matches(&labels(&[("team", "web"), ("x", "y")])));
        assert!(!sel.matches(&labels(&[("team", "db")])));
        assert!(!sel.matches(&Labels::new()));
    }

    #[test]
    fn operators() {
        let web = labels(&[("team", "web")]);
        let db = labels(&[("team", "db")]);
        let none = Labels::new();
        let in_ = with(vec![req("team", SelectorOperator::In, &["web", "api"])]);
        assert!(in_.matches(&web) && !in_.matches(&db) && !in_.matches(&none));
        let not_in = with(vec![req("team", SelectorOperator::NotIn, &["web"])]);
        assert!(!not_in.matches(&web) && not_in.matches(&db) && not_in.matches(&none));
        let exists = with(vec![req("team", SelectorOperator::Exists, &[])]);
        assert!(exists.matches(&web) && !exists.matches(&none));
        let absent = with(vec![req("team", SelectorOperator::DoesNotExist, &[])]);
        assert!(!absent.matches(&web) && absent.matches(&none));
    }

    #[test]
    fn all_parts_must_hold() {
        let sel = Selector {
            match_labels: labels(&[("tier", "edge")]),
            match_expressions: vec![req("team", SelectorOperator::In, &["web"])],
        };
        assert!(sel.matches(&labels(&[("tier", "edge"), ("team", "web")])));
        assert!(!sel.matches(&labels(&[("tier", "edge"), ("team", "db")])));
        assert!(!sel.matches(&labels(&[("team", "web")])));
    }

    #[test]
    fn operator_parsing_and_validation() {
        assert_eq!(
            "NotIn".parse::<SelectorOperator>(),
            Ok(SelectorOperator::NotIn)
        );
        let err = "in".parse::<SelectorOperator>().unwrap_err();
        assert!(err.to_string().contains("\"in\""), "{err}");
        assert!(
            with(vec![req("a", SelectorOperator::In, &["x"])])
                .validate()
                .is_ok()
        );
        let missing = with(vec![req("a", SelectorOperator::In, &[])]).validate();
        assert!(matches!(missing, Err(SelectorError::MissingValues { .. })));
        let extra = with(vec![req("a", SelectorOperator::Exists, &["x"])]).validate();
        assert!(matches!(extra, Err(SelectorError::UnexpectedValues { .. })));
        let empty = with(vec![req("", SelectorOperator::Exists, &[])]).validate();
        assert_eq!(empty, Err(SelectorError::EmptyKey));
    }
}
