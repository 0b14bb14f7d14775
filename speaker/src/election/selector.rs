//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) for L2Announcement
//! `nodeSelector` / `serviceSelector`: the shared implementation in [`ferrolb_api::selector`],
//! re-exported. `None` and an empty selector match everything; an invalid one matches nothing.

pub use ferrolb_api::selector::{
    Selector, SelectorError, SelectorOperator, SelectorRequirement, optional_matches,
};
