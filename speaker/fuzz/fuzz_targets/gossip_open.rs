//! Fuzz the gossip's `open`: any bytes, at any receive time, must be refused or opened without
//! a panic, and what opens must be what the same key sealed (a forgery opening would be a
//! broken tag check).
#![no_main]

use ferrolb_speaker::membership::keyring::{Keyring, new_items};
use ferrolb_speaker::membership::seal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u64, &[u8])| {
    let (now_ms, datagram) = input;
    let Ok(ring) = Keyring::from_items(&new_items(&[7; 32])) else {
        return;
    };
    if let Ok(opened) = seal::open(&ring, datagram, now_ms) {
        // Only a datagram sealed with the key opens: sealing the payload again with the same
        // time and nonce gives the same bytes.
        let again = seal::seal(&ring, &opened.payload, opened.sent_ms, opened.nonce);
        assert_eq!(again.as_deref(), Some(datagram), "a datagram the key did not seal opened");
    }
});
