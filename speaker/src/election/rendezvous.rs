//! Rendezvous (highest-random-weight) hashing.
//!
//! `score(ip, node) = SHA-256(ip octets || node name bytes)` — 4 octets for IPv4, 16 for IPv6,
//! then the UTF-8 name, no separator or length prefix (the IP part has a fixed length per
//! family, and scores are only ever compared between nodes for the same IP). The node with the
//! greatest score (compared as big-endian bytes) wins; on an exact tie the lexicographically
//! smallest name wins.
//!
//! Keying by the IP (not the Service) puts every Service sharing an IP on the same node.
//! Each node's score is independent of the others, so adding a node only takes the IPs it now
//! out-scores everyone on, and removing a node only moves the IPs it was winning.
//! SHA-256 is a fixed standard: the score is identical across crate versions, platforms and
//! processes, which is what lets every speaker agree without talking.

use std::cmp::Ordering;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// A node's rendezvous score for one IP: a SHA-256 digest; greater wins.
pub type Score = [u8; 32];

/// Computes `SHA-256(ip octets || node)`.
pub fn rendezvous_score(ip: IpAddr, node: &str) -> Score {
    let mut hasher = Sha256::new();
    match ip {
        IpAddr::V4(v4) => hasher.update(v4.octets()),
        IpAddr::V6(v6) => hasher.update(v6.octets()),
    }
    hasher.update(node.as_bytes());
    hasher.finalize().into()
}

/// The winner among `candidates` for `ip`: highest score, ties to the smallest name.
/// `None` when there are no candidates.
pub fn rendezvous_winner<'a, I>(ip: IpAddr, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .map(|name| (rendezvous_score(ip, name), name))
        .max_by(|a, b| preference(*a, *b))
        .map(|(_, name)| name)
}

/// Orders `(score, name)` pairs so that the preferred one is greater: higher score first,
/// then the smaller name (names compare in reverse).
fn preference((score_a, name_a): (Score, &str), (score_b, name_b): (Score, &str)) -> Ordering {
    score_a.cmp(&score_b).then_with(|| name_b.cmp(name_a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Pinned vectors (computed with `printf '\x0a\x00\x00\x01node-a' | sha256sum`): if this
    /// fails, the hash changed and a mixed-version cluster would disagree on winners.
    #[test]
    fn score_is_pinned_sha256_of_octets_and_name() {
        let v4 = rendezvous_score("10.0.0.1".parse().unwrap(), "node-a");
        assert_eq!(
            hex(&v4),
            "0a20f0aff0fc6e433ff29186932c9a9ad285b43e335c8ca9bf069995e5eee785"
        );
        let v6 = rendezvous_score("2001:db8::1".parse().unwrap(), "node-b");
        assert_eq!(
            hex(&v6),
            "3356e0e28bff7b73b3d9c229092048710c1f782cf4f9d31d0f1a3f2370d149f6"
        );
    }

    #[test]
    fn winner_has_the_highest_score_and_ignores_order() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let names = ["a", "b", "c", "d", "e"];
        let best = names
            .iter()
            .copied()
            .max_by_key(|n| rendezvous_score(ip, n))
            .unwrap();
        assert_eq!(rendezvous_winner(ip, names), Some(best));
        assert_eq!(
            rendezvous_winner(ip, names.iter().rev().copied()),
            Some(best)
        );
        assert_eq!(rendezvous_winner(ip, std::iter::empty()), None);
    }

    #[test]
    fn exact_tie_goes_to_smallest_name() {
        // The same name twice has identical scores; a duplicate must not change the result.
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(rendezvous_winner(ip, ["x", "x"]), Some("x"));
        // Equal scores: the smaller name is preferred; otherwise the score decides.
        assert_eq!(
            preference(([7; 32], "a"), ([7; 32], "b")),
            Ordering::Greater
        );
        assert_eq!(preference(([7; 32], "b"), ([7; 32], "a")), Ordering::Less);
        assert_eq!(preference(([1; 32], "a"), ([2; 32], "b")), Ordering::Less);
    }
}
