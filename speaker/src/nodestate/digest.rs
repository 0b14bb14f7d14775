//! A keyed digest of a `ServiceAnnouncement`'s status: what the publisher compares the
//! statuses this node writes with the watched objects' by ([`super::publication`],
//! `daemon::announced`).
//!
//! The digest is keyed with this process's random keys (SipHash, [`std::hash::RandomState`]):
//! nobody who can write a `ServiceAnnouncement` can make its status pass for another one.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::LazyLock;

use ferrolb_api::{Announcement, AnnouncementKind, ServiceAnnouncementStatus, SilentAddress};

/// The keys of every digest this process makes.
static DIGEST_KEYS: LazyLock<std::hash::RandomState> = LazyLock::new(Default::default);

/// A keyed digest of a `ServiceAnnouncement`'s status: equal statuses have equal digests; two
/// different ones have the same with a chance of 2⁻⁶⁴, which nobody can raise without the
/// process's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDigest(u64);

impl StatusDigest {
    /// The digest of `status`. Every field is read by destructuring, so a field added to the
    /// status does not compile until it is hashed too.
    pub fn of(status: &ServiceAnnouncementStatus) -> StatusDigest {
        let mut h = DIGEST_KEYS.build_hasher();
        let ServiceAnnouncementStatus {
            announcements,
            silent,
        } = status;
        announcements.len().hash(&mut h);
        for announcement in announcements {
            let Announcement {
                ip,
                kind,
                node,
                interfaces,
                since,
                reason,
            } = announcement;
            ip.hash(&mut h);
            match kind {
                AnnouncementKind::LoadBalancerIP => 0u8,
                AnnouncementKind::ExternalIP => 1u8,
            }
            .hash(&mut h);
            node.hash(&mut h);
            interfaces.hash(&mut h);
            since.as_ref().map(|t| t.0).hash(&mut h);
            reason.hash(&mut h);
        }
        silent.len().hash(&mut h);
        for address in silent {
            let SilentAddress { ip, reason } = address;
            ip.hash(&mut h);
            reason.hash(&mut h);
        }
        StatusDigest(h.finish())
    }
}

/// A status with one announcement and one silent address, every field set (for tests).
#[cfg(test)]
pub(crate) fn example_status() -> ServiceAnnouncementStatus {
    ServiceAnnouncementStatus {
        announcements: vec![Announcement {
            ip: "192.0.2.10".into(),
            kind: AnnouncementKind::LoadBalancerIP,
            node: "node-a".into(),
            interfaces: vec!["eth0".into()],
            since: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-01-01T00:00:00Z".parse().unwrap(),
            )),
            reason: "highest score".into(),
        }],
        silent: vec![SilentAddress {
            ip: "192.0.2.11".into(),
            reason: "no policy".into(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> ServiceAnnouncementStatus {
        example_status()
    }

    #[test]
    fn equal_statuses_have_equal_digests() {
        assert_eq!(StatusDigest::of(&status()), StatusDigest::of(&status()));
    }

    /// Each field, changed alone, changes the digest.
    #[test]
    fn every_field_counts() {
        let base = StatusDigest::of(&status());
        let changes: [fn(&mut ServiceAnnouncementStatus); 9] = [
            |s| s.announcements[0].ip = "192.0.2.12".into(),
            |s| s.announcements[0].kind = AnnouncementKind::ExternalIP,
            |s| s.announcements[0].node = "node-b".into(),
            |s| s.announcements[0].interfaces.push("eth1".into()),
            |s| s.announcements[0].since = None,
            |s| s.announcements[0].reason = "outranked".into(),
            |s| s.silent[0].ip = "192.0.2.13".into(),
            |s| s.silent[0].reason = "no endpoint".into(),
            |s| {
                let a = s.announcements.remove(0);
                s.silent.clear();
                s.announcements.push(a);
            },
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut s = status();
            change(&mut s);
            assert_ne!(StatusDigest::of(&s), base, "change {i}");
        }
        // Moving an entry's text between fields is a different status too.
        let mut moved = status();
        moved.silent[0].ip = String::new();
        moved.silent[0].reason = "192.0.2.11no policy".into();
        assert_ne!(StatusDigest::of(&moved), base);
    }
}
