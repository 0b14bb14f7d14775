//! ferrolb's Kubernetes API: the CRD types of group `ferrolb.io`, version `v1alpha1`, and the
//! Kubernetes strings (annotations, labels, finalizer, class) every component shares.
//!
//! The domain vocabulary (Service keys, address entries, condition and field-manager names)
//! lives in `ferrolb-core`; reading Kubernetes objects into it in `ferrolb-adapter`.
//!
//! The YAML under `crds/` is generated from these types (`cargo xtask crds`); `kubectl explain`
//! text comes from the doc comments on the fields.
#![forbid(unsafe_code)]

pub mod crdgen;
pub mod externalippolicy;
pub mod l2announcementpolicy;
pub mod names;
mod schema;
pub mod serviceannouncement;
pub mod vippool;

pub use externalippolicy::{ExternalIPPolicy, ExternalIPPolicySpec};
pub use l2announcementpolicy::{L2AnnouncementPolicy, L2AnnouncementPolicySpec};
pub use serviceannouncement::{
    Announcement, AnnouncementKind, ServiceAnnouncement, ServiceAnnouncementSpec,
    ServiceAnnouncementStatus, SilentAddress,
};
pub use vippool::{
    AdoptedAddress, FamilyCounts, ServiceAllocation, VIPPool, VIPPoolSpec, VIPPoolStatus,
};

/// The API group of every ferrolb CRD.
pub const GROUP: &str = "ferrolb.io";
/// The API version of every ferrolb CRD.
pub const VERSION: &str = "v1alpha1";
