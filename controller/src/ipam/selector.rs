//! Kubernetes-style label selectors (`matchLabels` + `matchExpressions`): the shared
//! implementation in [`ferrolb_api::selector`], re-exported for the IPAM model.

pub use ferrolb_api::selector::{
    Labels, ParseOperatorError, Selector, SelectorError, SelectorOperator, SelectorRequirement,
};
