//! Who admitted a Service's externalIPs, signed so nobody else can claim it.
//!
//! ExternalIPPolicies may be limited to users and groups, but only the admission request
//! knows who is asking. The mutating webhook therefore stamps each Service that has
//! externalIPs with annotation [`ANN_ADMITTED`]: the requester's name and groups and the
//! addresses, with an HMAC-SHA256 under a key only the controller holds (kept in the webhook's
//! Secret). The reconcile-time review uses the stamp's requester when the HMAC verifies and the
//! addresses still match; otherwise it reviews with no requester, and user-limited policies do
//! not apply (fail closed). Pure: the key is a value ([`StampKey`]) that the I/O shells load
//! from the Secret and pass in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::externalips::UserInfo;

/// The key that signs and verifies stamps (at least 32 random bytes, kept in the webhook's
/// Secret). Its bytes never show in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct StampKey(Vec<u8>);

impl StampKey {
    /// Shortest accepted key, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from stored bytes; `None` when shorter than [`StampKey::MIN_LEN`].
    pub fn from_bytes(bytes: Vec<u8>) -> Option<StampKey> {
        (bytes.len() >= Self::MIN_LEN).then_some(StampKey(bytes))
    }

    /// A fresh random key; `None` when the system has no random numbers.
    pub fn generate() -> Option<StampKey> {
        use ring::rand::SecureRandom;
        let mut key = vec![0u8; Self::MIN_LEN];
        ring::rand::SystemRandom::new().fill(&mut key).ok()?;
        Some(StampKey(key))
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn hmac(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.0)
    }
}

impl std::fmt::Debug for StampKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StampKey({} bytes)", self.0.len())
    }
}

/// The annotation holding the stamp.
pub const ANN_ADMITTED: &str = "ferrolb.io/external-ips-admitted-by";

/// The stamp's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The requester's username.
    pub user: String,
    /// The requester's groups.
    pub groups: Vec<String>,
    /// `spec.externalIPs` as admitted.
    pub ips: Vec<String>,
    /// HMAC-SHA256 over namespace, name and the fields above (base64url).
    pub mac: String,
}

fn message(namespace: &str, name: &str, user: &str, groups: &[String], ips: &[String]) -> Vec<u8> {
    // Length-prefixed fields: no two inputs give the same bytes.
    let mut out = Vec::new();
    let mut push = |s: &str| {
        out.extend_from_slice(&(s.len() as u64).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    push(namespace);
    push(name);
    push(user);
    push(&groups.len().to_string());
    groups.iter().for_each(|g| push(g));
    push(&ips.len().to_string());
    ips.iter().for_each(|i| push(i));
    out
}

/// The annotation value for a requester and the admitted addresses.
pub fn stamp(
    key: &StampKey,
    namespace: &str,
    name: &str,
    who: &UserInfo,
    ips: &[String],
) -> String {
    let tag = hmac::sign(
        &key.hmac(),
        &message(namespace, name, &who.username, &who.groups, ips),
    );
    let s = Stamp {
        user: who.username.clone(),
        groups: who.groups.clone(),
        ips: ips.to_vec(),
        mac: URL_SAFE_NO_PAD.encode(tag.as_ref()),
    };
    serde_json::to_string(&s).unwrap_or_default()
}

/// The requester of a stamp that verifies under `key` for this Service and these addresses.
pub fn verify(
    key: &StampKey,
    namespace: &str,
    name: &str,
    ips: &[String],
    value: &str,
) -> Option<UserInfo> {
    let s: Stamp = serde_json::from_str(value).ok()?;
    if s.ips != ips {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(s.mac.as_bytes()).ok()?;
    hmac::verify(
        &key.hmac(),
        &message(namespace, name, &s.user, &s.groups, &s.ips),
        &tag,
    )
    .ok()?;
    Some(UserInfo {
        username: s.user,
        groups: s.groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserInfo {
        UserInfo {
            username: "alice".into(),
            groups: vec!["ops".into()],
        }
    }

    #[test]
    fn a_stamp_verifies_only_unchanged_and_under_its_key() {
        let key = StampKey::generate().expect("key");
        let ips = vec!["192.0.2.241".to_string()];
        let v = stamp(&key, "tenant-a", "web", &alice(), &ips);
        assert_eq!(verify(&key, "tenant-a", "web", &ips, &v), Some(alice()));
        assert_eq!(
            verify(&key, "tenant-a", "other", &ips, &v),
            None,
            "another Service"
        );
        let more = vec!["192.0.2.241".to_string(), "192.0.2.242".to_string()];
        assert_eq!(
            verify(&key, "tenant-a", "web", &more, &v),
            None,
            "other addresses"
        );
        let other_key = StampKey::generate().expect("key");
        assert_eq!(
            verify(&other_key, "tenant-a", "web", &ips, &v),
            None,
            "forged"
        );
        let mut forged: Stamp = serde_json::from_str(&v).expect("json");
        forged.groups.push("admins".into());
        let forged = serde_json::to_string(&forged).expect("json");
        assert_eq!(
            verify(&key, "tenant-a", "web", &ips, &forged),
            None,
            "edited groups"
        );
        assert_eq!(verify(&key, "tenant-a", "web", &ips, "garbage"), None);
    }

    #[test]
    fn a_short_key_is_refused_and_debug_hides_the_bytes() {
        assert_eq!(StampKey::from_bytes(vec![7; 31]), None);
        let key = StampKey::from_bytes(vec![7; 32]).expect("32 bytes");
        assert_eq!(format!("{key:?}"), "StampKey(32 bytes)");
    }
}
