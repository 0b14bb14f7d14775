//! A small cache of review results: each entry lives for a fixed time, and the cache never
//! holds more than a bound (when full, expired entries go, then everything: reviews are cheap
//! to redo, memory held by strangers' tokens is not).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Entries `K → V`, each valid for `ttl` after it was put.
#[derive(Debug)]
pub struct Cache<K, V> {
    ttl: Duration,
    max: usize,
    entries: HashMap<K, (Instant, V)>,
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    /// An empty cache keeping entries for `ttl`, at most `max` of them.
    pub fn new(ttl: Duration, max: usize) -> Cache<K, V> {
        Cache {
            ttl,
            max: max.max(1),
            entries: HashMap::new(),
        }
    }

    /// The value put for `key` less than `ttl` before `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Remembers `value` for `key` from `now`.
    pub fn put(&mut self, key: K, value: V, now: Instant) {
        if self.entries.len() >= self.max && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            if self.entries.len() >= self.max {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (now, value));
    }

    /// How many entries are held (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
