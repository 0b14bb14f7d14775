//! Kubernetes-style label selectors (`matchLabels` + `matchExpressions`): the shared
//! implementation in [`ferrolb_adapter::selector`], re-exported for the IPAM model.

pub use ferrolb_adapter::selector::{
    Labels, ParseOperatorError, Selector, SelectorError, SelectorOperator, SelectorRequirement,
};
