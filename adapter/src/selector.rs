//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) as plain data, shared by the
//! controller (VIPPool `serviceAllocation`, ExternalIPPolicy `namespaceSelector`) and the speaker
//! (L2AnnouncementPolicy `nodeSelector` / `serviceSelector`). Matching is kube's
//! ([`kube::core::Selector`]); this module adds the strict validation Kubernetes applies and
//! kube does not (empty keys, `Exists` with values, `In` without values), with clear errors.
//!
//! Semantics follow `metav1.LabelSelector`:
//! - every `matchLabels` pair and every `matchExpressions` requirement must hold (AND);
//! - an empty selector matches every label set (and `None`, no selector at all, too — see
//!   [`optional_matches`]);
//! - `In` / `NotIn` need at least one value, `Exists` / `DoesNotExist` must have none, and
//!   every key must be non-empty ([`Selector::validate`]);
//! - `NotIn` and `DoesNotExist` match label sets that lack the key.
//!
//! A selector that Kubernetes would reject (`metav1.LabelSelectorAsSelector` returns an error)
//! **matches nothing**: [`Selector::matches`] fails closed, so a typo never widens what a policy
//! selects. Callers that want to tell the user call [`Selector::validate`] and report the
//! [`SelectorError`].
//!
//! The I/O shells convert the CRDs' [`LabelSelector`] with [`Selector::try_from`]; that
//! conversion fails only on an operator outside the four known ones (which [`SelectorOperator`]
//! cannot represent) and otherwise keeps the selector as written, so run
//! [`Selector::validate`] on the result to find the remaining problems.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::core::SelectorExt;
use serde::{Deserialize, Deserializer, Serialize};

/// Labels of an object: key to value.
pub type Labels = BTreeMap<String, String>;

/// A label selector: all of `match_labels` and all of `match_expressions` must hold.
///
/// (De)serializes in the Kubernetes JSON shape (`matchLabels`, `matchExpressions`); missing or
/// `null` fields read as empty, and empty fields are left out when writing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// Labels that must be present with exactly these values.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: Labels,
    /// Set-based requirements, all of which must hold.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions` entry: `key <operator> values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorRequirement {
    /// The label key the requirement is about; must not be empty.
    pub key: String,
    /// How the label is tested.
    pub operator: SelectorOperator,
    /// Values for `In` / `NotIn` (at least one); must be empty for `Exists` / `DoesNotExist`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
}

/// Operator of a [`SelectorRequirement`]. Serialized, parsed ([`FromStr`]) and displayed with
/// the Kubernetes spellings `In`, `NotIn`, `Exists`, `DoesNotExist` (case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

    /// Whether the operator compares against `values` (`In`, `NotIn`) rather than only
    /// testing presence (`Exists`, `DoesNotExist`).
    pub fn takes_values(self) -> bool {
        matches!(self, SelectorOperator::In | SelectorOperator::NotIn)
    }
}

impl fmt::Display for SelectorOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the four operator spellings (see [`SelectorOperator`]'s
/// [`FromStr`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error("selector operator {operator:?} is unknown; use one of In, NotIn, Exists, DoesNotExist")]
pub struct ParseOperatorError {
    /// The operator as written.
    pub operator: String,
}

impl FromStr for SelectorOperator {
    type Err = ParseOperatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "In" => Ok(SelectorOperator::In),
            "NotIn" => Ok(SelectorOperator::NotIn),
            "Exists" => Ok(SelectorOperator::Exists),
            "DoesNotExist" => Ok(SelectorOperator::DoesNotExist),
            other => Err(ParseOperatorError {
                operator: other.to_string(),
            }),
        }
    }
}

/// Why a selector is invalid (Kubernetes would reject it); an invalid selector matches nothing.
///
/// Messages read as the continuation of "…Selector …", name the bad entry and say how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum SelectorError {
    /// A `matchLabels` or `matchExpressions` key is empty.
    #[error("has an empty label key; every matchLabels and matchExpressions entry needs a key")]
    EmptyKey,
    /// `In` / `NotIn` with no values.
    #[error(
        "matchExpressions entry {index} (key {key:?}, operator {operator}) has no values; \
         {operator} needs at least one value"
    )]
    MissingValues {
        /// Position in `matchExpressions`.
        index: usize,
        /// The requirement's key.
        key: String,
        /// The operator used.
        operator: SelectorOperator,
    },
    /// `Exists` / `DoesNotExist` with values.
    #[error(
        "matchExpressions entry {index} (key {key:?}, operator {operator}) has values; \
         remove them, {operator} takes none"
    )]
    UnexpectedValues {
        /// Position in `matchExpressions`.
        index: usize,
        /// The requirement's key.
        key: String,
        /// The operator used.
        operator: SelectorOperator,
    },
    /// An operator other than `In`, `NotIn`, `Exists`, `DoesNotExist` (only from
    /// [`Selector::try_from`], since a [`SelectorOperator`] is always one of the four).
    #[error(
        "matchExpressions entry {index} (key {key:?}) has unknown operator {operator:?}; \
         use one of In, NotIn, Exists, DoesNotExist"
    )]
    UnknownOperator {
        /// Position in `matchExpressions`.
        index: usize,
        /// The requirement's key.
        key: String,
        /// The operator as written.
        operator: String,
    },
}

impl SelectorRequirement {
    /// Checks this term, which sits at `index` in `matchExpressions`.
    fn validate(&self, index: usize) -> Result<(), SelectorError> {
        if self.key.is_empty() {
            return Err(SelectorError::EmptyKey);
        }
        let operator = self.operator;
        match (operator.takes_values(), self.values.is_empty()) {
            (true, true) => Err(SelectorError::MissingValues {
                index,
                key: self.key.clone(),
                operator,
            }),
            (false, false) => Err(SelectorError::UnexpectedValues {
                index,
                key: self.key.clone(),
                operator,
            }),
            _ => Ok(()),
        }
    }
}

impl Selector {
    /// Whether `labels` satisfy every part of the selector. An empty selector matches
    /// everything; an invalid one (see [`Selector::validate`]) matches nothing.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.validate().is_ok()
            && kube::core::Selector::try_from(LabelSelector::from(self))
                .is_ok_and(|selector| selector.matches(labels))
    }

    /// A selector that matches nothing: stands in for one that could not be converted (its
    /// [`validate`](Selector::validate) fails with [`SelectorError::EmptyKey`]), so that a
    /// selector with an unknown operator fails closed.
    pub fn nothing() -> Selector {
        Selector {
            match_labels: Labels::from([(String::new(), String::new())]),
            match_expressions: Vec::new(),
        }
    }

    /// Whether the selector has no requirement at all (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Checks the selector the way the Kubernetes API server would; returns the first problem
    /// (empty `matchLabels` keys first, then `matchExpressions` in order).
    pub fn validate(&self) -> Result<(), SelectorError> {
        if self.match_labels.keys().any(String::is_empty) {
            return Err(SelectorError::EmptyKey);
        }
        self.match_expressions
            .iter()
            .enumerate()
            .try_for_each(|(index, req)| req.validate(index))
    }
}

/// `None` (no selector at all) matches everything; otherwise [`Selector::matches`].
pub fn optional_matches(selector: Option<&Selector>, labels: &Labels) -> bool {
    selector.is_none_or(|s| s.matches(labels))
}

/// Converts a CRD's `metav1.LabelSelector`. Absent `matchLabels` / `matchExpressions` /
/// `values` become empty.
///
/// This is `TryFrom` rather than `From` because an operator outside the four Kubernetes
/// spellings cannot be represented; it fails with [`SelectorError::UnknownOperator`] (the first
/// such entry), just as `metav1.LabelSelectorAsSelector` rejects it. Nothing else is checked
/// here: call [`Selector::validate`] on the result (an invalid selector matches nothing anyway).
impl TryFrom<&LabelSelector> for Selector {
    type Error = SelectorError;
    fn try_from(selector: &LabelSelector) -> Result<Self, Self::Error> {
        let match_expressions = selector
            .match_expressions
            .iter()
            .flatten()
            .enumerate()
            .map(|(index, req)| SelectorRequirement::from_k8s(index, req))
            .collect::<Result<_, _>>()?;
        Ok(Selector {
            match_labels: selector.match_labels.clone().unwrap_or_default(),
            match_expressions,
        })
    }
}

impl SelectorRequirement {
    /// Converts entry `index` of a `metav1.LabelSelector`'s `matchExpressions`.
    fn from_k8s(index: usize, req: &LabelSelectorRequirement) -> Result<Self, SelectorError> {
        let operator = req
            .operator
            .parse()
            .map_err(
                |ParseOperatorError { operator }| SelectorError::UnknownOperator {
                    index,
                    key: req.key.clone(),
                    operator,
                },
            )?;
        Ok(SelectorRequirement {
            key: req.key.clone(),
            operator,
            values: req.values.clone().unwrap_or_default(),
        })
    }
}

/// The CRD shape of a selector (what kube's [`kube::core::Selector`] is built from).
impl From<&Selector> for LabelSelector {
    fn from(selector: &Selector) -> LabelSelector {
        LabelSelector {
            match_labels: Some(selector.match_labels.clone()),
            match_expressions: Some(
                selector
                    .match_expressions
                    .iter()
                    .map(|r| LabelSelectorRequirement {
                        key: r.key.clone(),
                        operator: r.operator.as_str().to_string(),
                        values: Some(r.values.clone()),
                    })
                    .collect(),
            ),
        }
    }
}

/// Reads `null` (as well as a missing field, via `#[serde(default)]`) as the empty value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use SelectorOperator::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> SelectorRequirement {
        SelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn with(expressions: Vec<SelectorRequirement>) -> Selector {
        Selector {
            match_labels: Labels::new(),
            match_expressions: expressions,
        }
    }

    fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> Selector {
        with(vec![req(key, operator, values)])
    }

    // From ipam, externalips and election (all three had it).
    #[test]
    fn empty_selector_and_none_match_everything() {
        assert!(Selector::default().matches(&Labels::new()));
        assert!(Selector::default().matches(&labels(&[("a", "b")])));
        assert!(Selector::default().is_empty());
        assert!(optional_matches(None, &labels(&[("a", "b")])));
        assert!(optional_matches(Some(&Selector::default()), &Labels::new()));
        assert!(!expr("a", Exists, &[]).is_empty());
    }

    // From all three.
    #[test]
    fn match_labels_need_exact_values() {
        let sel = Selector {
            match_labels: labels(&[("team", "web")]),
            ..Selector::default()
        };
        assert!(sel.matches(&labels(&[("team", "web"), ("x", "y")])));
        assert!(!sel.matches(&labels(&[("team", "db")])));
        assert!(!sel.matches(&Labels::new()));
        let two = Selector {
            match_labels: labels(&[("team", "a"), ("env", "prod")]),
            match_expressions: vec![],
        };
        assert!(two.matches(&labels(&[("team", "a"), ("env", "prod"), ("x", "y")])));
        assert!(!two.matches(&labels(&[("team", "a")])));
        assert!(!two.matches(&labels(&[("team", "b"), ("env", "prod")])));
        let empty_value = Selector {
            match_labels: labels(&[("l2", "")]),
            ..Selector::default()
        };
        assert!(empty_value.matches(&labels(&[("l2", "")])));
        assert!(!empty_value.matches(&labels(&[("l2", "x")])));
    }

    // From all three.
    #[test]
    fn operators() {
        let web = labels(&[("team", "web")]);
        let db = labels(&[("team", "db")]);
        let none = Labels::new();
        let in_ = expr("team", In, &["web", "api"]);
        assert!(in_.matches(&web) && !in_.matches(&db) && !in_.matches(&none));
        let not_in = expr("team", NotIn, &["web"]);
        assert!(!not_in.matches(&web) && not_in.matches(&db) && not_in.matches(&none));
        let exists = expr("team", Exists, &[]);
        assert!(exists.matches(&web) && !exists.matches(&none));
        assert!(expr("gpu", Exists, &[]).matches(&labels(&[("gpu", "")])));
        let absent = expr("team", DoesNotExist, &[]);
        assert!(!absent.matches(&web) && absent.matches(&none));
    }

    // From ipam and election.
    #[test]
    fn all_parts_must_hold() {
        let sel = Selector {
            match_labels: labels(&[("tier", "edge")]),
            match_expressions: vec![req("team", In, &["web"])],
        };
        assert!(sel.matches(&labels(&[("tier", "edge"), ("team", "web")])));
        assert!(!sel.matches(&labels(&[("tier", "edge"), ("team", "db")])));
        assert!(!sel.matches(&labels(&[("team", "web")])));
        let s = Selector {
            match_labels: labels(&[("a", "1")]),
            match_expressions: vec![req("b", Exists, &[]), req("c", DoesNotExist, &[])],
        };
        assert!(s.matches(&labels(&[("a", "1"), ("b", "")])));
        assert!(!s.matches(&labels(&[("a", "1")])));
        assert!(!s.matches(&labels(&[("b", "")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", ""), ("c", "")])));
    }

    // From ipam.
    #[test]
    fn operator_parsing_and_display() {
        for op in [In, NotIn, Exists, DoesNotExist] {
            assert_eq!(op.as_str().parse::<SelectorOperator>(), Ok(op));
            assert_eq!(op.to_string(), op.as_str());
        }
        assert_eq!("NotIn".parse::<SelectorOperator>(), Ok(NotIn));
        let err = "in".parse::<SelectorOperator>().unwrap_err();
        assert!(err.to_string().contains("\"in\""), "{err}");
        assert!(err.to_string().contains("use one of In, NotIn"), "{err}");
    }

    // From ipam, externalips and election (validation_names_the_bad_key).
    #[test]
    fn validation() {
        assert!(expr("a", In, &["x"]).validate().is_ok());
        assert!(expr("a", NotIn, &["x"]).validate().is_ok());
        assert!(expr("a", DoesNotExist, &[]).validate().is_ok());
        let missing = expr("a", In, &[]).validate();
        assert!(matches!(missing, Err(SelectorError::MissingValues { .. })));
        let extra = expr("a", Exists, &["x"]).validate();
        assert!(matches!(extra, Err(SelectorError::UnexpectedValues { .. })));
        assert_eq!(
            expr("", Exists, &[]).validate(),
            Err(SelectorError::EmptyKey)
        );
        let err = expr("tier", In, &[]).validate().unwrap_err();
        assert!(err.to_string().contains("\"tier\""), "{err}");
        // The election copy said "remove the values"; the shared wording is externalips'.
        let err = expr("gpu", Exists, &["x"]).validate().unwrap_err();
        assert!(err.to_string().contains("remove them"), "{err}");
        // The first problem wins, and the index points at it.
        let two = with(vec![req("ok", Exists, &[]), req("b", NotIn, &[])]);
        assert_eq!(
            two.validate(),
            Err(SelectorError::MissingValues {
                index: 1,
                key: "b".into(),
                operator: NotIn
            })
        );
    }

    // From externalips.
    #[test]
    fn invalid_selectors_match_nothing() {
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
        assert_eq!(s.validate(), Err(SelectorError::EmptyKey));
        assert!(!s.matches(&labels(&[("", "a")])));
        assert!(!optional_matches(Some(&s), &labels(&[("", "a")])));
    }

    // From election.
    #[test]
    fn deserializes_kubernetes_shape() {
        let s: Selector = serde_json::from_str(
            r#"{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"c","operator":"DoesNotExist"}]}"#,
        )
        .unwrap();
        assert_eq!(s.match_expressions[0].operator, DoesNotExist);
        assert!(s.matches(&labels(&[("a", "b")])));
        let empty: Selector = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        let nulls: Selector = serde_json::from_str(
            r#"{"matchLabels":null,"matchExpressions":[{"key":"c","operator":"Exists","values":null}]}"#,
        )
        .unwrap();
        assert_eq!(nulls, expr("c", Exists, &[]));
        let bad = serde_json::from_str::<Selector>(
            r#"{"matchExpressions":[{"key":"c","operator":"in","values":["x"]}]}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn serializes_kubernetes_shape() {
        let s = Selector {
            match_labels: labels(&[("a", "b")]),
            match_expressions: vec![req("c", In, &["x"]), req("d", Exists, &[])],
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"c","operator":"In","values":["x"]},{"key":"d","operator":"Exists"}]}"#
        );
        assert_eq!(serde_json::to_string(&Selector::default()).unwrap(), "{}");
    }

    #[test]
    fn converts_the_crd_label_selector() {
        let k8s = LabelSelector {
            match_labels: Some(labels(&[("a", "b")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "c".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["x".into()]),
                },
                LabelSelectorRequirement {
                    key: "d".into(),
                    operator: "Exists".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            Selector::try_from(&k8s),
            Ok(Selector {
                match_labels: labels(&[("a", "b")]),
                match_expressions: vec![req("c", NotIn, &["x"]), req("d", Exists, &[])],
            })
        );
        assert_eq!(
            Selector::try_from(&LabelSelector::default()),
            Ok(Selector::default())
        );
        // Invalid but representable: converted as written, caught by validate().
        let no_values = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "c".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..LabelSelector::default()
        };
        let converted = Selector::try_from(&no_values).unwrap();
        assert!(matches!(
            converted.validate(),
            Err(SelectorError::MissingValues { index: 0, .. })
        ));
        // Unknown operator: an error naming the entry.
        let mut unknown = k8s.clone();
        if let Some(exprs) = unknown.match_expressions.as_mut() {
            exprs[1].operator = "exists".into();
        }
        let err = Selector::try_from(&unknown).unwrap_err();
        assert_eq!(
            err,
            SelectorError::UnknownOperator {
                index: 1,
                key: "d".into(),
                operator: "exists".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "matchExpressions entry 1 (key \"d\") has unknown operator \"exists\"; \
             use one of In, NotIn, Exists, DoesNotExist"
        );
    }

    mod props {
        use proptest::collection::{btree_map, vec};
        use proptest::prelude::*;
        use proptest::sample::select;

        use super::*;

        fn key() -> impl Strategy<Value = String> {
            select(vec!["", "a", "b", "c"]).prop_map(String::from)
        }

        fn value() -> impl Strategy<Value = String> {
            select(vec!["", "x", "y"]).prop_map(String::from)
        }

        fn requirement() -> impl Strategy<Value = SelectorRequirement> {
            (
                key(),
                select(vec![In, NotIn, Exists, DoesNotExist]),
                vec(value(), 0..3),
            )
                .prop_map(|(key, operator, values)| SelectorRequirement {
                    key,
                    operator,
                    values,
                })
        }

        fn selector() -> impl Strategy<Value = Selector> {
            (btree_map(key(), value(), 0..3), vec(requirement(), 0..3)).prop_map(
                |(match_labels, match_expressions)| Selector {
                    match_labels,
                    match_expressions,
                },
            )
        }

        /// The Kubernetes rules written out directly, as a reference.
        fn reference(s: &Selector, labels: &Labels) -> bool {
            let valid = s.match_labels.keys().all(|k| !k.is_empty())
                && s.match_expressions.iter().all(|r| {
                    !r.key.is_empty()
                        && match r.operator {
                            In | NotIn => !r.values.is_empty(),
                            Exists | DoesNotExist => r.values.is_empty(),
                        }
                });
            valid
                && s.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                && s.match_expressions.iter().all(|r| match r.operator {
                    In => labels.get(&r.key).is_some_and(|v| r.values.contains(v)),
                    NotIn => !labels.get(&r.key).is_some_and(|v| r.values.contains(v)),
                    Exists => labels.contains_key(&r.key),
                    DoesNotExist => !labels.contains_key(&r.key),
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn matches_follows_kubernetes(s in selector(), labels in btree_map(key(), value(), 0..4)) {
                prop_assert_eq!(s.matches(&labels), reference(&s, &labels));
                prop_assert_eq!(optional_matches(Some(&s), &labels), s.matches(&labels));
                if s.is_empty() {
                    prop_assert!(s.matches(&labels));
                }
            }

            #[test]
            fn json_and_crd_type_agree(s in selector()) {
                let json = serde_json::to_string(&s).unwrap();
                let back: Selector = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &s);
                let k8s: LabelSelector = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(Selector::try_from(&k8s), Ok(s));
            }
        }
    }
}
