//! The gossip keys: every key a speaker accepts, and the primary one it seals with, read from
//! the data of Secret `ferrolb-gossip` (pure: the daemon's `gossip_keys` watches the Secret).
//!
//! Secret format: items named `key-<anything>` hold one key each, 32 bytes, raw or as 64
//! hexadecimal characters (`openssl rand -hex 32`; surrounding whitespace ignored); item
//! `primary` names the one to send with (`key-2`). With a single key `primary` may be left
//! out. Other items are refused, so a typo (`primay`) does not go unseen.
//!
//! Rotation without a gap: add the new key (every speaker accepts it, still sending with the
//! old one), make it `primary` once every speaker loaded it, then remove the old key.

use std::collections::BTreeMap;
use std::fmt;

use ring::aead::LessSafeKey;

use super::seal;

/// The Secret's item naming the primary key.
pub const PRIMARY_ITEM: &str = "primary";
/// Prefix of the Secret's key items.
pub const KEY_ITEM_PREFIX: &str = "key-";

/// A key's id on the wire: the first bytes of its SHA-256 (names it without revealing it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; KeyId::LEN]);

impl KeyId {
    /// Bytes of a key id.
    pub const LEN: usize = 4;
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// One gossip key.
pub struct GossipKey {
    name: String,
    id: KeyId,
    aead: LessSafeKey,
}

impl fmt::Debug for GossipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GossipKey({} id {})", self.name, self.id)
    }
}

impl GossipKey {
    /// Bytes of a key.
    pub const LEN: usize = 32;

    /// The key `bytes`, known as `name` (its Secret item).
    pub fn new(name: &str, bytes: &[u8; GossipKey::LEN]) -> Option<GossipKey> {
        Some(GossipKey {
            name: name.to_string(),
            id: KeyId::of(bytes),
            aead: seal::aead_key(bytes)?,
        })
    }

    /// Its id on the wire.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Its Secret item's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }
}

/// The keys a speaker accepts; one of them, the primary, seals what it sends.
#[derive(Debug)]
pub struct Keyring {
    primary: GossipKey,
    /// The other accepted keys.
    others: BTreeMap<KeyId, GossipKey>,
}

/// Why a Secret's data is not a usable keyring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("no key: add an item `key-1` with 32 random bytes (`openssl rand -hex 32`)")]
    NoKeys,
    #[error(
        "item {item:?} is not a key: give 32 bytes, raw or as 64 hexadecimal characters (`openssl rand -hex 32`), got {len} bytes"
    )]
    BadKey { item: String, len: usize },
    #[error("item {0:?} is neither `primary` nor a key (`key-...`): rename or remove it")]
    UnknownItem(String),
    #[error("{0} keys and no `primary` item: set `primary` to the name of the key to send with")]
    NoPrimary(usize),
    #[error("`primary` names {0:?}, which is not a key item here: set it to one of {1:?}")]
    PrimaryUnknown(String, Vec<String>),
    #[error("items {0:?} and {1:?} hold the same key: remove one")]
    Duplicate(String, String),
}

impl Keyring {
    /// The keyring in a Secret's `data`.
    pub fn from_items(items: &BTreeMap<String, Vec<u8>>) -> Result<Keyring, KeyringError> {
        let mut keys: BTreeMap<KeyId, GossipKey> = BTreeMap::new();
        let mut primary_name = None;
        for (item, value) in items {
            if item == PRIMARY_ITEM {
                primary_name = Some(String::from_utf8_lossy(value).trim().to_string());
                continue;
            }
            if !item.starts_with(KEY_ITEM_PREFIX) {
                return Err(KeyringError::UnknownItem(item.clone()));
            }
            let bytes = key_bytes(value).ok_or_else(|| KeyringError::BadKey {
                item: item.clone(),
                len: value.len(),
            })?;
            let bad = || KeyringError::BadKey {
                item: item.clone(),
                len: value.len(),
            };
            let key = GossipKey::new(item, &bytes).ok_or_else(bad)?;
            if let Some(other) = keys.get(&key.id()) {
                return Err(KeyringError::Duplicate(other.name.clone(), item.clone()));
            }
            keys.insert(key.id(), key);
        }
        let mut names: Vec<String> = keys.values().map(|k| k.name.clone()).collect();
        names.sort();
        let primary_id = match (&primary_name, keys.len()) {
            (_, 0) => return Err(KeyringError::NoKeys),
            (None, 1) => keys.keys().next().copied(),
            (None, n) => return Err(KeyringError::NoPrimary(n)),
            (Some(name), _) => keys.values().find(|k| &k.name == name).map(GossipKey::id),
        };
        let Some(primary) = primary_id.and_then(|id| keys.remove(&id)) else {
            return Err(KeyringError::PrimaryUnknown(
                primary_name.unwrap_or_default(),
                names,
            ));
        };
        Ok(Keyring {
            primary,
            others: keys,
        })
    }

    /// The key that seals what this speaker sends.
    pub fn primary(&self) -> &GossipKey {
        &self.primary
    }

    /// The key with id `id`, if accepted.
    pub fn get(&self, id: KeyId) -> Option<&GossipKey> {
        if id == self.primary.id {
            return Some(&self.primary);
        }
        self.others.get(&id)
    }

    /// Every accepted key's item name (sorted).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = std::iter::once(&self.primary)
            .chain(self.others.values())
            .map(GossipKey::name)
            .collect();
        names.sort_unstable();
        names
    }

    /// How many keys are accepted (at least one, the primary).
    pub fn len(&self) -> usize {
        1 + self.others.len()
    }

    /// Always false: a keyring has its primary key (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// A one-line description for logs: `primary key-2 (id 1a2b3c4d), accepting key-1, key-2`.
    pub fn describe(&self) -> String {
        let p = self.primary();
        format!(
            "primary {} (id {}), accepting {}",
            p.name,
            p.id,
            self.names().join(", ")
        )
    }
}

/// The items of a new Secret: `key-1` = `random` as hex, `primary` = `key-1`.
pub fn new_items(random: &[u8; GossipKey::LEN]) -> BTreeMap<String, Vec<u8>> {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let first = format!("{KEY_ITEM_PREFIX}1");
    BTreeMap::from([
        (PRIMARY_ITEM.to_string(), first.clone().into_bytes()),
        (first, hex.into_bytes()),
    ])
}

/// 32 raw bytes, or 64 hexadecimal characters (whitespace around them ignored).
fn key_bytes(value: &[u8]) -> Option<[u8; GossipKey::LEN]> {
    if let Ok(raw) = <[u8; GossipKey::LEN]>::try_from(value) {
        return Some(raw);
    }
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.len() != 2 * GossipKey::LEN || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; GossipKey::LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}
