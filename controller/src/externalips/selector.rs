//! Kubernetes label selectors (`matchLabels` + `matchExpressions`), as used by an
//! ExternalIPPolicy's `namespaceSelector`: the shared implementation in
//! [`ferrolb_api::selector`], re-exported. An invalid selector matches nothing, so a broken
//! policy grants nothing (fail closed).

pub use ferrolb_api::selector::{Selector, SelectorError, SelectorOperator, SelectorRequirement};
