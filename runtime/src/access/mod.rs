//! Access to the daemons' private endpoints (`/metrics`, `/debug/state`), as kube-rbac-proxy
//! guards them: the request's bearer token is checked with a `TokenReview`, then the user it
//! names must be allowed the non-resource URL (`get /metrics`) by a `SubjectAccessReview`. So
//! Prometheus scrapes with its ServiceAccount token, and nobody on the LAN reads a node's
//! whole state. Both reviews are cached briefly ([`cache`]).
//!
//! - [`decide`]: pure: the credential of a request, the verb of a method, the answer of each
//!   outcome;
//! - [`cache`]: pure: a bounded cache whose entries expire;
//! - [`review`]: the reviews against the apiserver ([`KubeReviewer`]);
//! - [`gate`]: the check of one request and the listener serving a router behind it.

pub mod cache;
pub mod decide;
pub mod gate;
pub mod review;

#[cfg(test)]
mod tests;

pub use decide::{Attributes, Credential, User, Verdict};
pub use gate::{Gate, ListenError, protect, serve};
pub use review::{KubeReviewer, PRIVATE_ENDPOINTS_AUDIENCE, ReviewError, Reviewer};
