//! Serde helper: maps keyed by Services (or anything printable) are written with the printed
//! key (`namespace/name`), since JSON object keys are strings.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::{Serialize, Serializer};

/// Serializes `map` as an object keyed by each key's `Display` form.
pub fn by_display<K: Display, V: Serialize, S: Serializer>(
    map: &BTreeMap<K, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(map.iter().map(|(k, v)| (k.to_string(), v)))
}
