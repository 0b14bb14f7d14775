//! Sealing and the keyring: a round trip, and every way a datagram is refused.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::membership::keyring::{Keyring, KeyringError, new_items};
use crate::membership::seal::{self, OVERHEAD, REPLAY_WINDOW, Refused, Replays};

const NOW: u64 = 1_800_000_000_000;
const NONCE: [u8; 12] = [9; 12];

fn ring(items: &[(&str, &[u8])]) -> Keyring {
    let items: BTreeMap<String, Vec<u8>> = items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    Keyring::from_items(&items).unwrap()
}

fn one(byte: u8) -> Keyring {
    Keyring::from_items(&new_items(&[byte; 32])).unwrap()
}

fn window_ms() -> u64 {
    REPLAY_WINDOW.as_millis() as u64
}

#[test]
fn a_sealed_datagram_opens_with_the_same_key_only() {
    let sealed = seal::seal(&one(1), b"hello foca", NOW, NONCE).unwrap();
    assert_eq!(sealed.len(), b"hello foca".len() + OVERHEAD);
    assert!(
        !sealed.windows(5).any(|w| w == b"hello"),
        "the payload is encrypted"
    );
    let opened = seal::open(&one(1), &sealed, NOW).unwrap();
    assert_eq!(opened.payload, b"hello foca");
    assert_eq!(opened.sent_ms, NOW);
    assert_eq!(seal::open(&one(2), &sealed, NOW), Err(Refused::UnknownKey));
}

#[test]
fn every_refusal_has_its_reason() {
    let k = one(1);
    let sealed = seal::seal(&k, b"payload", NOW, NONCE).unwrap();
    assert_eq!(seal::open(&k, b"", NOW), Err(Refused::Malformed));
    assert_eq!(
        seal::open(&k, &sealed[..OVERHEAD - 1], NOW),
        Err(Refused::Malformed)
    );
    let mut other_version = sealed.clone();
    other_version[0] = 2;
    assert_eq!(seal::open(&k, &other_version, NOW), Err(Refused::Malformed));
    let mut flipped = sealed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(seal::open(&k, &flipped, NOW), Err(Refused::BadTag));
    let window = window_ms();
    assert!(seal::open(&k, &sealed, NOW + window).is_ok());
    assert!(seal::open(&k, &sealed, NOW - window).is_ok());
    assert_eq!(
        seal::open(&k, &sealed, NOW + window + 1),
        Err(Refused::Stale)
    );
    assert_eq!(
        seal::open(&k, &sealed, NOW - window - 1),
        Err(Refused::Stale)
    );
    let labels: Vec<&str> = [
        Refused::Malformed,
        Refused::UnknownKey,
        Refused::BadTag,
        Refused::Stale,
        Refused::Replayed,
    ]
    .map(Refused::label)
    .to_vec();
    assert_eq!(
        labels,
        ["malformed", "unknown_key", "bad_tag", "stale", "replayed"]
    );
}

#[test]
fn the_send_time_is_authenticated() {
    let k = one(1);
    let mut sealed = seal::seal(&k, b"payload", NOW - 2 * window_ms(), NONCE).unwrap();
    // Moving the send time into the window breaks the tag: an old datagram stays stale.
    sealed[5..13].copy_from_slice(&NOW.to_be_bytes());
    assert_eq!(seal::open(&k, &sealed, NOW), Err(Refused::BadTag));
}

#[test]
fn a_repeat_within_the_window_is_a_replay() {
    let k = one(1);
    let mut replays = Replays::default();
    let first = seal::open(&k, &seal::seal(&k, b"a", NOW, NONCE).unwrap(), NOW).unwrap();
    let other = seal::open(&k, &seal::seal(&k, b"a", NOW, [8; 12]).unwrap(), NOW).unwrap();
    assert_eq!(replays.check(&first, NOW), Ok(()));
    assert_eq!(replays.check(&other, NOW + 1), Ok(()));
    assert_eq!(replays.check(&first, NOW + 2), Err(Refused::Replayed));
    // Forgotten once it could no longer pass the window check anyway.
    let later = NOW + 3 * window_ms();
    assert_eq!(replays.check(&first, later), Ok(()));
}

#[test]
fn rotation_accepts_old_and_new_while_sending_with_the_primary() {
    let old = [1u8; 32];
    let new = [2u8; 32];
    let before = ring(&[("primary", b"key-1"), ("key-1", &old)]);
    let added = ring(&[("primary", b"key-1"), ("key-1", &old), ("key-2", &new)]);
    let switched = ring(&[("primary", b"key-2"), ("key-1", &old), ("key-2", &new)]);
    let after = ring(&[("key-2", &new)]);
    // Step 1: speakers that added key-2 still send with key-1, understood by all.
    let from_added = seal::seal(&added, b"x", NOW, NONCE).unwrap();
    assert!(seal::open(&before, &from_added, NOW).is_ok());
    // Step 2: the new primary is understood by every speaker that has step 1.
    let from_switched = seal::seal(&switched, b"x", NOW, NONCE).unwrap();
    assert!(seal::open(&added, &from_switched, NOW).is_ok());
    assert!(seal::open(&after, &from_switched, NOW).is_ok());
    // Step 3: speakers without key-1 still understand those at step 2.
    let from_after = seal::seal(&after, b"x", NOW, NONCE).unwrap();
    assert!(seal::open(&switched, &from_after, NOW).is_ok());
    // Skipping step 1 is what breaks: the old ring does not know key-2.
    assert_eq!(
        seal::open(&before, &from_switched, NOW),
        Err(Refused::UnknownKey)
    );
    assert_eq!(switched.primary().name(), "key-2");
    assert_eq!(switched.names(), ["key-1", "key-2"]);
}

#[test]
fn the_secret_format_is_checked_with_the_fix_named() {
    let hex = "00".repeat(31) + "ff";
    let k = ring(&[("key-a", format!("  {hex}\n").as_bytes())]);
    assert_eq!(k.primary().name(), "key-a");
    let items = |pairs: &[(&str, &[u8])]| -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect()
    };
    let err = |pairs: &[(&str, &[u8])]| Keyring::from_items(&items(pairs)).unwrap_err();
    assert_eq!(err(&[]), KeyringError::NoKeys);
    assert_eq!(err(&[("primary", b"key-1")]), KeyringError::NoKeys);
    assert_eq!(
        err(&[("key-1", b"short")]),
        KeyringError::BadKey {
            item: "key-1".into(),
            len: 5
        }
    );
    assert!(
        err(&[("key-1", b"short")])
            .to_string()
            .contains("openssl rand -hex 32")
    );
    assert_eq!(
        err(&[("primay", b"key-1"), ("key-1", &[1; 32])]),
        KeyringError::UnknownItem("primay".into())
    );
    assert_eq!(
        err(&[("key-1", &[1; 32]), ("key-2", &[2; 32])]),
        KeyringError::NoPrimary(2)
    );
    assert_eq!(
        err(&[
            ("primary", b"key-3"),
            ("key-1", &[1; 32]),
            ("key-2", &[2; 32])
        ]),
        KeyringError::PrimaryUnknown("key-3".into(), vec!["key-1".into(), "key-2".into()])
    );
    assert_eq!(
        err(&[("key-1", &[1; 32]), ("key-2", &[1; 32])]),
        KeyringError::Duplicate("key-1".into(), "key-2".into())
    );
    let created = new_items(&[0xab; 32]);
    assert_eq!(created["primary"], b"key-1");
    assert_eq!(created["key-1"], "ab".repeat(32).into_bytes());
}

proptest! {
    #[test]
    fn any_changed_byte_is_refused(
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let k = one(1);
        let mut sealed = seal::seal(&k, &payload, NOW, NONCE).unwrap();
        let i = at.index(sealed.len());
        sealed[i] ^= flip;
        prop_assert!(seal::open(&k, &sealed, NOW).is_err());
    }

    #[test]
    fn a_wrong_key_never_opens(
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
        a in any::<[u8; 32]>(),
        b in any::<[u8; 32]>(),
    ) {
        prop_assume!(a != b);
        let sealed = seal::seal(&ring(&[("key-1", &a)]), &payload, NOW, NONCE).unwrap();
        prop_assert_eq!(
            seal::open(&ring(&[("key-1", &b)]), &sealed, NOW),
            Err(Refused::UnknownKey)
        );
        // Even with the id of the right key, the wrong key fails the tag.
        let mut forged = seal::seal(&ring(&[("key-1", &b)]), &payload, NOW, NONCE).unwrap();
        forged[1..5].copy_from_slice(&sealed[1..5]);
        prop_assert_eq!(
            seal::open(&ring(&[("key-1", &a)]), &forged, NOW),
            Err(Refused::BadTag)
        );
    }

    #[test]
    fn junk_never_opens(junk in proptest::collection::vec(any::<u8>(), 0..1500)) {
        prop_assert!(seal::open(&one(1), &junk, NOW).is_err());
    }
}
