//! Kubernetes label selectors (`matchLabels` + `matchExpressions`), as used by
//! an ExternalIPPolicy's `namespaceSelector`.
//!
//! Semantics follow `metav1.LabelSelector`: every `matchLabels` pair and every
//! requirement must hold; an empty selector matches every label set. A selector
//! that Kubernetes would reject as invalid (see [`Selector::validate`]) matches
//! nothing, so a broken policy grants nothing (fail closed).

use std::collections::BTreeMap;

/// A Kubernetes label selector: `matchLabels` plus `matchExpressions`, all ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Labels that must be present with exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements that must all hold.
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry: `key <operator> values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key the requirement is about.
    pub key: String,
    /// How the label's value is compared with `values`.
    pub operator: SelectorOperator,
    /// Values for `In`/`NotIn` (must be non-empty); must be empty for `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

/// The operator of a [`Requirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// The operator as spelled in Kubernetes manifests (`In`, `NotIn`, `Exists`, `DoesNotExist`).
    pub fn as_str(self) -> &'static str {
        match self {
            SelectorOperator::In => "In",
            SelectorOperator::NotIn => "NotIn",
            SelectorOperator::Exists => "Exists",
            SelectorOperator::DoesNotExist => "DoesNotExist",
        }
    }
}

/// Why a selector is invalid; an invalid selector matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum SelectorError {
    /// A `matchLabels` or `matchExpressions` key is empty.
    #[error("has an empty label key; every matchLabels and matchExpressions entry needs a key")]
    EmptyKey,
    /// `In`/`NotIn` with no values.
    #[error(
        "matchExpressions entry {index} (key {key:?}, operator {operator}) has no values; \
         {operator} needs at least one value"
    )]
    MissingValues {
        /// Position in `matchExpressions`.
        index: usize,
        /// The requirement's key.
        key: String,
        /// The operator, as spelled in manifests.
        operator: &'static str,
    },
    /// `Exists`/`DoesNotExist` with values.
    #[error(
        "matchExpressions entry {index} (key {key:?}, operator {operator}) has values; \
         remove them, {operator} takes none"
    )]
    UnexpectedValues {
        /// Position in `matchExpressions`.
        index: usize,
        /// The requirement's key.
        key: String,
        /// The operator, as spelled in manifests.
        operator: &'static str,
    },
}

impl Requirement {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
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
    /// Checks the selector the way the apiserver would; the first problem found is returned.
    pub fn validate(&self) -> Result<(), SelectorError> {
        if self.match_labels.keys().any(String::is_empty) {
            return Err(SelectorError::EmptyKey);
        }
        for (index, req) in self.match_expressions.iter().enumerate() {
            if req.key.is_empty() {
                return Err(SelectorError::EmptyKey);
            }
            let operator = req.operator.as_str();
            let key = req.key.clone();
            match req.operator {
                SelectorOperator::In | SelectorOperator::NotIn if req.values.is_empty() => {
                    return Err(SelectorError::MissingValues {
                        index,
                        key,
                        operator,
                    });
                }
                SelectorOperator::Exists | SelectorOperator::DoesNotExist
                    if !req.values.is_empty() =>
                {
                    return Err(SelectorError::UnexpectedValues {
                        index,
                        key,
                        operator,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `labels` satisfy the selector. An empty selector matches everything;
    /// an invalid one (see [`Selector::validate`]) matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.validate().is_ok()
            && self
                .match_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.holds(labels))
    }
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

    fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> Selector {
        Selector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![Requirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(Selector::default().matches(&labels(&[])));
        assert!(Selector::default().matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_need_exact_values() {
        let s = Selector {
            match_labels: labels(&[("team", "a"), ("env", "prod")]),
            match_expressions: vec![],
        };
        assert!(s.matches(&labels(&[("team", "a"), ("env", "prod"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("team", "a")])));
        assert!(!s.matches(&labels(&[("team", "b"), ("env", "prod")])));
    }

    #[test]
    fn operators() {
        use SelectorOperator::*;
        let ab = labels(&[("team", "a")]);
        let none = labels(&[]);
        assert!(expr("team", In, &["a", "b"]).matches(&ab));
        assert!(!expr("team", In, &["b"]).matches(&ab));
        assert!(!expr("team", In, &["a"]).matches(&none));
        assert!(expr("team", NotIn, &["b"]).matches(&ab));
        assert!(!expr("team", NotIn, &["a"]).matches(&ab));
        assert!(expr("team", NotIn, &["a"]).matches(&none));
        assert!(expr("team", Exists, &[]).matches(&ab));
        assert!(!expr("team", Exists, &[]).matches(&none));
        assert!(expr("team", DoesNotExist, &[]).matches(&none));
        assert!(!expr("team", DoesNotExist, &[]).matches(&ab));
    }

    #[test]
    fn invalid_selectors_match_nothing() {
        use SelectorOperator::*;
        let any = labels(&[("team", "a")]);
        let s = expr("team", NotIn, &[]);
        assert!(!s.matches(&labels(&[])));
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "matchExpressions entry 0 (key \"team\", operator NotIn) has no values; \
             NotIn needs at least one value"
        );
        let s = expr("team", Exists, &["a"]);
        assert!(!s.matches(&any));
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "matchExpressions entry 0 (key \"team\", operator Exists) has values; \
             remove them, Exists takes none"
        );
        let s = expr("", DoesNotExist, &[]);
        assert_eq!(s.validate(), Err(SelectorError::EmptyKey));
        assert!(!s.matches(&any));
        let s = Selector {
            match_labels: labels(&[("", "a")]),
            match_expressions: vec![],
        };
        assert!(!s.matches(&labels(&[("", "a")])));
    }
}
