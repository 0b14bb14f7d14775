//! Interface-name globs: `*` matches any run of characters (including none), `?` exactly one
//! character; everything else matches itself. No classes, no escaping (interface names never
//! contain `*` or `?`). These are exactly `wildmatch`'s patterns.

use wildmatch::WildMatch;

/// Whether `name` matches `pattern` in full.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    WildMatch::new(pattern).matches(name)
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn literal_names_match_exactly() {
        assert!(glob_matches("eth0", "eth0"));
        assert!(!glob_matches("eth0", "eth01"));
        assert!(!glob_matches("eth0", "eth"));
        assert!(!glob_matches("", "eth0"));
    }

    #[test]
    fn star_matches_any_run() {
        assert!(glob_matches("eth*", "eth"));
        assert!(glob_matches("eth*", "eth0"));
        assert!(glob_matches("eth*", "eth0.100"));
        assert!(!glob_matches("eth*", "ens3"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("*0", "bond0"));
        assert!(glob_matches("e*h*0", "eth0"));
        assert!(glob_matches("*.*", "bond0.42"));
        assert!(!glob_matches("*.*", "bond0"));
        assert!(glob_matches("a*b*c", "aXbYbZc"));
        assert!(!glob_matches("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn question_mark_matches_one_char() {
        assert!(glob_matches("en?0", "enp0"));
        assert!(!glob_matches("en?0", "en0"));
        assert!(!glob_matches("en?0", "enpp0"));
        assert!(glob_matches("??", "lo"));
        assert!(glob_matches("br-?*", "br-1a2b"));
    }

    /// Obviously-correct exponential reference matcher.
    fn reference(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, _) => n.is_empty(),
            (Some('*'), _) => reference(&p[1..], n) || (!n.is_empty() && reference(p, &n[1..])),
            (Some(&c), Some(&d)) => (c == '?' || c == d) && reference(&p[1..], &n[1..]),
            (Some(_), None) => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_reference(pattern in "[ab*?]{0,8}", name in "[ab]{0,8}") {
            let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
            proptest::prop_assert_eq!(glob_matches(&pattern, &name), reference(&p, &n));
        }
    }
}
