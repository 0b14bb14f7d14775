//! The signatures already verified, so that a loop deciding from every Service on every change
//! checks each proof once, not once per pass: with 10,000 Services an Ed25519 verification per
//! Service per pass was the cost of any change, however small.
//!
//! An entry is the SHA-256 of everything the verification depends on (public key, signed
//! message, signature), so a hit is the same verification with the same answer: nothing to
//! invalidate when keys, Services or proofs change. Only successes are kept. Two generations
//! bound the memory: when the current one is full it becomes the previous one, and entries
//! found there move back, so what every pass uses stays.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The digest of one verification's inputs.
type Entry = [u8; 32];

/// Entries per generation: twice the Services of the largest clusters measured (issue 21),
/// each proof kind counted (allocation and externalIPs).
const GENERATION: usize = 32_768;

/// Verifications that succeeded, shared by every clone of the keys.
#[derive(Debug, Clone, Default)]
pub(super) struct Verified(Arc<Mutex<Generations>>);

#[derive(Debug, Default)]
struct Generations {
    current: HashSet<Entry>,
    previous: HashSet<Entry>,
}

impl Verified {
    /// Whether `verify` succeeds for these inputs: remembered, or run (and remembered when it
    /// succeeds).
    pub(super) fn check<E>(
        &self,
        key: &[u8],
        message: &[u8],
        signature: &[u8],
        verify: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let entry = digest(key, message, signature);
        if self.remembered(&entry) {
            return Ok(());
        }
        verify()?;
        if let Ok(mut g) = self.0.lock() {
            g.insert(entry);
        }
        Ok(())
    }

    fn remembered(&self, entry: &Entry) -> bool {
        let Ok(mut g) = self.0.lock() else {
            return false;
        };
        if g.current.contains(entry) {
            return true;
        }
        if g.previous.remove(entry) {
            g.insert(*entry);
            return true;
        }
        false
    }

    /// How many verifications are remembered.
    pub(super) fn len(&self) -> usize {
        self.0
            .lock()
            .map_or(0, |g| g.current.len() + g.previous.len())
    }
}

impl Generations {
    fn insert(&mut self, entry: Entry) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(entry);
    }
}

/// SHA-256 over the three inputs, each preceded by its length (no two different inputs give
/// the same bytes).
fn digest(key: &[u8], message: &[u8], signature: &[u8]) -> Entry {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [key, message, signature] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut entry = [0; 32];
    entry.copy_from_slice(ctx.finish().as_ref());
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_is_remembered_a_failure_never() {
        let verified = Verified::default();
        let mut runs = 0;
        for _ in 0..3 {
            let r: Result<(), ()> = verified.check(b"k", b"m", b"s", || {
                runs += 1;
                Ok(())
            });
            assert_eq!(r, Ok(()));
        }
        assert_eq!(runs, 1, "verified once");
        let mut fails = 0;
        for _ in 0..2 {
            let r = verified.check(b"k", b"m", b"other", || {
                fails += 1;
                Err("bad")
            });
            assert_eq!(r, Err("bad"));
        }
        assert_eq!(fails, 2, "a failure is checked again every time");
        // Moving bytes between the parts is another verification.
        let r: Result<(), &str> = verified.check(b"km", b"", b"s", || Err("bad"));
        assert_eq!(r, Err("bad"));
    }

    #[test]
    fn memory_is_bounded_and_what_is_used_stays() {
        let verified = Verified::default();
        let kept = b"used every pass";
        for i in 0..(3 * GENERATION) {
            let key = (i as u64).to_be_bytes();
            let _: Result<(), ()> = verified.check(&key, b"m", b"s", || Ok(()));
            let mut ran = false;
            let _: Result<(), ()> = verified.check(kept, b"m", b"s", || {
                ran = true;
                Ok(())
            });
            assert!(
                !ran || i == 0,
                "the entry used every pass was forgotten at {i}"
            );
        }
        assert!(verified.len() <= 2 * GENERATION, "{}", verified.len());
    }
}
