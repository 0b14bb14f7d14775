//! Interface-name globs: `*` matches any run of characters (including none), `?` exactly one
//! character; everything else matches itself. No classes, no escaping (interface names never
//! contain `*` or `?`). Hand-written backtracking matcher, linear-ish for these short names.

/// Whether `name` matches `pattern` in full.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Position after the last `*` seen, and the name position it is currently absorbing up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == n.get(ni) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                // Let the last `*` absorb one more character and retry.
                Some((after_star, absorbed)) => {
                    pi = after_star;
                    ni = absorbed + 1;
                    star = Some((after_star, absorbed + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
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
