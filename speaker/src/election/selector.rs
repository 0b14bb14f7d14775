//! Kubernetes label selectors (`matchLabels` + `matchExpressions`), as plain data.
//!
//! Semantics follow `metav1.LabelSelector`: all terms are ANDed; an empty selector matches
//! everything; `NotIn` and `DoesNotExist` match objects that lack the key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A label selector. Deserializes from the Kubernetes JSON shape (`matchLabels`, `matchExpressions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// Every listed label must be present with exactly this value.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Every expression must hold.
    #[serde(default)]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions` term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorRequirement {
    /// Label key.
    pub key: String,
    /// How the label is compared with `values`.
    pub operator: SelectorOperator,
    /// Values for `In`/`NotIn`; must be empty for `Exists`/`DoesNotExist`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Operator of a [`SelectorRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectorOperator {
    /// Label present and its value is one of `values`.
    In,
    /// Label absent, or its value is none of `values`.
    NotIn,
    /// Label present (any value).
    Exists,
    /// Label absent.
    DoesNotExist,
}

/// A selector that the Kubernetes API would reject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorError {
    /// `In`/`NotIn` without values.
    #[error(
        "matchExpressions key {key:?} uses operator {operator:?} with no values: list at least one value, or use Exists/DoesNotExist"
    )]
    MissingValues {
        /// The offending key.
        key: String,
        /// The offending operator.
        operator: SelectorOperator,
    },
    /// `Exists`/`DoesNotExist` with values.
    #[error(
        "matchExpressions key {key:?} uses operator {operator:?} with values {values:?}: remove the values, or use In/NotIn"
    )]
    UnexpectedValues {
        /// The offending key.
        key: String,
        /// The offending operator.
        operator: SelectorOperator,
        /// The values that must not be there.
        values: Vec<String>,
    },
}

impl Selector {
    /// Whether `labels` satisfy every term of this selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Checks the rules the Kubernetes API enforces on selectors.
    pub fn validate(&self) -> Result<(), SelectorError> {
        self.match_expressions
            .iter()
            .try_for_each(SelectorRequirement::validate)
    }
}

impl SelectorRequirement {
    /// Whether `labels` satisfy this term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }

    /// Checks that `values` fits the operator.
    pub fn validate(&self) -> Result<(), SelectorError> {
        match self.operator {
            SelectorOperator::In | SelectorOperator::NotIn if self.values.is_empty() => {
                Err(SelectorError::MissingValues {
                    key: self.key.clone(),
                    operator: self.operator,
                })
            }
            SelectorOperator::Exists | SelectorOperator::DoesNotExist
                if !self.values.is_empty() =>
            {
                Err(SelectorError::UnexpectedValues {
                    key: self.key.clone(),
                    operator: self.operator,
                    values: self.values.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// `None` (no selector) matches everything.
pub fn optional_matches(selector: Option<&Selector>, labels: &BTreeMap<String, String>) -> bool {
    selector.is_none_or(|s| s.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> SelectorRequirement {
        SelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn expr(r: SelectorRequirement) -> Selector {
        Selector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![r],
        }
    }

    #[test]
    fn empty_selector_and_none_match_everything() {
        assert!(Selector::default().matches(&labels(&[])));
        assert!(optional_matches(None, &labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_requires_exact_values() {
        let s = Selector {
            match_labels: labels(&[("zone", "a")]),
            ..Default::default()
        };
        assert!(s.matches(&labels(&[("zone", "a"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("zone", "b")])));
        assert!(!s.matches(&labels(&[])));
    }

    #[test]
    fn operators() {
        use SelectorOperator::*;
        let in_ = expr(req("tier", In, &["edge", "core"]));
        assert!(in_.matches(&labels(&[("tier", "edge")])));
        assert!(!in_.matches(&labels(&[("tier", "db")])));
        assert!(!in_.matches(&labels(&[])));
        let not_in = expr(req("tier", NotIn, &["edge"]));
        assert!(!not_in.matches(&labels(&[("tier", "edge")])));
        assert!(not_in.matches(&labels(&[("tier", "db")])));
        assert!(not_in.matches(&labels(&[])));
        let exists = expr(req("gpu", Exists, &[]));
        assert!(exists.matches(&labels(&[("gpu", "")])));
        assert!(!exists.matches(&labels(&[])));
        let absent = expr(req("gpu", DoesNotExist, &[]));
        assert!(!absent.matches(&labels(&[("gpu", "x")])));
        assert!(absent.matches(&labels(&[])));
    }

    #[test]
    fn all_terms_are_anded() {
        let s = Selector {
            match_labels: labels(&[("a", "1")]),
            match_expressions: vec![req("b", SelectorOperator::Exists, &[])],
        };
        assert!(s.matches(&labels(&[("a", "1"), ("b", "")])));
        assert!(!s.matches(&labels(&[("a", "1")])));
        assert!(!s.matches(&labels(&[("b", "")])));
    }

    #[test]
    fn validation_names_the_bad_key() {
        let err = expr(req("tier", SelectorOperator::In, &[]))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("\"tier\""), "{err}");
        let err = expr(req("gpu", SelectorOperator::Exists, &["x"]))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("remove the values"), "{err}");
        assert!(
            expr(req("a", SelectorOperator::NotIn, &["x"]))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn deserializes_kubernetes_shape() {
        let s: Selector = serde_json::from_str(
            r#"{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"c","operator":"DoesNotExist"}]}"#,
        )
        .unwrap();
        assert_eq!(
            s.match_expressions[0].operator,
            SelectorOperator::DoesNotExist
        );
        assert!(s.matches(&labels(&[("a", "b")])));
    }
}
