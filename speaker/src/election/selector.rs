//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) for L2AnnouncementPolicy
//! `nodeSelector` / `serviceSelector`: the shared implementation in [`ferrolb_adapter::selector`],
//! re-exported. `None` and an empty selector match everything; an invalid one matches nothing.

pub use ferrolb_adapter::selector::{
    Selector, SelectorError, SelectorOperator, SelectorRequirement, optional_matches,
};
