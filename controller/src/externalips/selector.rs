//! Kubernetes label selectors (`matchLabels` + `matchExpressions`), as used by an
//! ExternalIPPolicy's `namespaceSelector`: the shared implementation in
//! [`ferrolb_adapter::selector`], re-exported. An invalid selector matches nothing, so a broken
//! policy grants nothing (fail closed).

pub use ferrolb_adapter::selector::{
    Selector, SelectorError, SelectorOperator, SelectorRequirement,
};
