//! The `ServiceAnnouncement` objects as the speaker keeps them: the Service each describes and
//! a digest of its status, which is all the publisher compares
//! ([`publish::changes`](super::publish::changes)). Kept whole, with their metadata and the
//! election's reasons, they were about 0.8 KB each at 10,000 Services (issue 21).
//!
//! The digest ([`StatusDigest`]) is keyed with this process's random keys: nobody who can
//! write a `ServiceAnnouncement` can make its status pass for another one.

use ferrolb_api::ServiceAnnouncement;
use ferrolb_core::ServiceKey;

use crate::nodestate::StatusDigest;

/// A watched `ServiceAnnouncement`: the Service it describes (it has the Service's name and
/// namespace) and its status's digest (`None`: no status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The Service it describes.
    pub service: ServiceKey,
    /// Its status's digest.
    pub status: Option<StatusDigest>,
}

impl From<ServiceAnnouncement> for Announced {
    fn from(sa: ServiceAnnouncement) -> Announced {
        Announced {
            service: ServiceKey::new(
                sa.metadata.namespace.unwrap_or_default(),
                sa.metadata.name.unwrap_or_default(),
            ),
            status: sa.status.as_ref().map(StatusDigest::of),
        }
    }
}

// What the reflector's store needs: the kind is ServiceAnnouncement's, the key its namespace
// and name (its Service's).
ferrolb_adapter::kept_lookup!(Announced, ServiceAnnouncement, |s| (
    &s.service.namespace,
    &s.service.name
));

#[cfg(test)]
mod tests {
    use ferrolb_api::ServiceAnnouncementStatus;
    use kube::runtime::reflector::Lookup;
    use serde_json::json;

    use super::*;

    fn status() -> ServiceAnnouncementStatus {
        crate::nodestate::example_status()
    }

    #[test]
    fn an_object_keeps_its_service_and_digest() {
        let sa: ServiceAnnouncement = serde_json::from_value(json!({
            "apiVersion": "ferrolb.io/v1alpha1", "kind": "ServiceAnnouncement",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7",
                         "managedFields": [{"manager": "ferrolb-speaker"}]},
            "spec": {"serviceName": "web"},
            "status": serde_json::to_value(status()).unwrap(),
        }))
        .unwrap();
        let kept = Announced::from(sa);
        assert_eq!(kept.service, ServiceKey::new("shop", "web"));
        assert_eq!(kept.status, Some(StatusDigest::of(&status())));
        assert_eq!(Lookup::name(&kept).as_deref(), Some("web"));
        assert_eq!(Lookup::namespace(&kept).as_deref(), Some("shop"));
    }
}
