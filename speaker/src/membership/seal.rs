//! Sealing gossip datagrams: authenticated encryption (ChaCha20-Poly1305, `ring`) with a key
//! of the [`Keyring`], pure (the caller gives the time and the nonce).
//!
//! Wire format of one datagram (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, [`VERSION`] |
//! | 4 | key id: the first 4 bytes of SHA-256 of the key ([`KeyId`]) |
//! | 8 | send time, milliseconds since the Unix epoch |
//! | 12 | nonce (random per datagram) |
//! | n + 16 | the foca datagram, encrypted, and the Poly1305 tag |
//!
//! The first 13 bytes (version, key id, send time) are the associated data: authenticated, not
//! encrypted. A datagram is refused ([`Refused`]) when it is too short or of another version,
//! sealed with a key not in the ring, fails the tag, was sent more than [`REPLAY_WINDOW`] before
//! or after the receiver's clock says, or repeats one accepted within that window ([`Replays`]).
//! Speakers' clocks must therefore agree within the window (NTP does much better).

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

use super::keyring::{GossipKey, KeyId, Keyring};

/// The wire format's version byte.
pub const VERSION: u8 = 1;
/// Bytes before the sealed payload: version, key id, send time, nonce.
pub const HEADER_LEN: usize = 1 + KeyId::LEN + 8 + NONCE_LEN;
/// Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a datagram.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// An authentic datagram sent longer ago (or further ahead) than this is refused as stale;
/// within it, a repeated one is refused as replayed.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(30);
/// Datagrams remembered against replays (a few seconds of gossip of a large cluster; when
/// full the oldest are forgotten first).
pub const REPLAY_MEMORY: usize = 65536;

const AAD_LEN: usize = 1 + KeyId::LEN + 8;

/// Why a datagram was dropped (the metric's `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refused {
    #[error("malformed (too short or another version)")]
    Malformed,
    #[error("sealed with a key this speaker does not hold")]
    UnknownKey,
    #[error("authentication failed (forged or corrupted)")]
    BadTag,
    #[error("sent outside the replay window (or the clocks disagree)")]
    Stale,
    #[error("a repeat of an accepted datagram")]
    Replayed,
}

impl Refused {
    /// The `reason` label of `ferrolb_speaker_gossip_dropped_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::UnknownKey => "unknown_key",
            Refused::BadTag => "bad_tag",
            Refused::Stale => "stale",
            Refused::Replayed => "replayed",
        }
    }
}

impl KeyId {
    /// The id of `key`: the first bytes of its SHA-256.
    pub fn of(key: &[u8; GossipKey::LEN]) -> KeyId {
        let digest = Sha256::digest(key);
        let mut id = [0u8; KeyId::LEN];
        id.copy_from_slice(&digest[..KeyId::LEN]);
        KeyId(id)
    }
}

/// The AEAD key of 32 key bytes (`None` only if `ring` refused a 32-byte key, which it
/// does not for ChaCha20-Poly1305).
pub(super) fn aead_key(bytes: &[u8; GossipKey::LEN]) -> Option<LessSafeKey> {
    UnboundKey::new(&CHACHA20_POLY1305, bytes)
        .ok()
        .map(LessSafeKey::new)
}

fn aad(id: KeyId, sent_ms: u64) -> [u8; AAD_LEN] {
    let mut a = [0u8; AAD_LEN];
    a[0] = VERSION;
    a[1..1 + KeyId::LEN].copy_from_slice(&id.0);
    a[1 + KeyId::LEN..].copy_from_slice(&sent_ms.to_be_bytes());
    a
}

/// `payload` sealed with the ring's primary key, sent at `now_ms`, with `nonce` (random, never
/// reused with one key: 96 random bits). `None` only for a payload beyond the AEAD's limit
/// (256 GiB).
pub fn seal(
    ring: &Keyring,
    payload: &[u8],
    now_ms: u64,
    nonce: [u8; NONCE_LEN],
) -> Option<Vec<u8>> {
    let key = ring.primary();
    let header = aad(key.id(), now_ms);
    let mut out = Vec::with_capacity(payload.len() + OVERHEAD);
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    let mut body = payload.to_vec();
    key.aead()
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(header),
            &mut body,
        )
        .ok()?;
    out.extend_from_slice(&body);
    Some(out)
}

/// The payload of `datagram` when a key of the ring authenticates it and it was sent within
/// [`REPLAY_WINDOW`] of `now_ms`. Replays within the window are the caller's ([`Replays`]).
pub fn open(ring: &Keyring, datagram: &[u8], now_ms: u64) -> Result<Opened, Refused> {
    if datagram.len() < OVERHEAD || datagram[0] != VERSION {
        return Err(Refused::Malformed);
    }
    let (header, rest) = datagram.split_at(AAD_LEN);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let mut id = [0u8; KeyId::LEN];
    id.copy_from_slice(&header[1..1 + KeyId::LEN]);
    let key = ring.get(KeyId(id)).ok_or(Refused::UnknownKey)?;
    let mut sent = [0u8; 8];
    sent.copy_from_slice(&header[1 + KeyId::LEN..]);
    let sent_ms = u64::from_be_bytes(sent);
    let mut nonce_bytes = [0u8; NONCE_LEN];
    nonce_bytes.copy_from_slice(nonce);
    let mut body = sealed.to_vec();
    let plain_len = key
        .aead()
        .open_in_place(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(header),
            &mut body,
        )
        .map_err(|_| Refused::BadTag)?
        .len();
    if now_ms.abs_diff(sent_ms) > window_ms() {
        return Err(Refused::Stale);
    }
    body.truncate(plain_len);
    Ok(Opened {
        payload: body,
        sent_ms,
        nonce: nonce_bytes,
    })
}

fn window_ms() -> u64 {
    u64::try_from(REPLAY_WINDOW.as_millis()).unwrap_or(u64::MAX)
}

/// An authentic datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The foca datagram.
    pub payload: Vec<u8>,
    /// When it was sent (ms since the Unix epoch, the sender's clock).
    pub sent_ms: u64,
    /// Its nonce: with the send time, what tells a replay.
    pub nonce: [u8; NONCE_LEN],
}

/// The datagrams accepted within the replay window (by nonce), to refuse repeats. Bounded by
/// [`REPLAY_MEMORY`].
#[derive(Debug, Default)]
pub struct Replays {
    order: VecDeque<(u64, [u8; NONCE_LEN])>,
    seen: HashSet<[u8; NONCE_LEN]>,
}

impl Replays {
    /// Accepts `opened` unless its nonce was accepted within the window before `now_ms`.
    pub fn check(&mut self, opened: &Opened, now_ms: u64) -> Result<(), Refused> {
        let horizon = now_ms.saturating_sub(window_ms().saturating_mul(2));
        while let Some(&(at, nonce)) = self.order.front() {
            if at >= horizon && self.order.len() < REPLAY_MEMORY {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&nonce);
        }
        if !self.seen.insert(opened.nonce) {
            return Err(Refused::Replayed);
        }
        self.order.push_back((now_ms, opened.nonce));
        Ok(())
    }
}
