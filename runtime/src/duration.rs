//! Duration flags: one format in every binary, humantime's (`150ms`, `2s`, `5m`, `1h 30m`). A
//! bare number has no unit and is refused, so `--resync=300` cannot silently mean seconds in
//! one binary and milliseconds in another.

use std::time::Duration;

/// Parses a duration flag (`value_parser = ferrolb_runtime::duration::parse`).
pub fn parse(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| {
        format!("{s:?} is not a duration ({e}); write a number with a unit, e.g. 150ms, 10s, 5m")
    })
}

/// Parses a duration flag that must be more than zero.
pub fn parse_positive(s: &str) -> Result<Duration, String> {
    match parse(s)? {
        d if d.is_zero() => Err(format!("{s:?}: must be more than 0")),
        d => Ok(d),
    }
}

/// Parses a duration flag of at least `min` (and at most `max`, if given); for flags whose
/// sane range clap's integer ranges used to express.
pub fn parse_within(s: &str, min: Duration, max: Option<Duration>) -> Result<Duration, String> {
    let d = parse(s)?;
    if d < min {
        return Err(format!(
            "{s:?}: must be at least {}",
            humantime::format_duration(min)
        ));
    }
    match max {
        Some(max) if d > max => Err(format!(
            "{s:?}: must be at most {}",
            humantime::format_duration(max)
        )),
        _ => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_required_and_named_in_the_error() {
        assert_eq!(parse("150ms"), Ok(Duration::from_millis(150)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        let bare = parse("300").unwrap_err();
        assert!(bare.contains("\"300\"") && bare.contains("10s"), "{bare}");
    }

    #[test]
    fn positive_and_ranges() {
        assert!(parse_positive("0s").unwrap_err().contains("more than 0"));
        assert_eq!(parse_positive("1ms"), Ok(Duration::from_millis(1)));
        let min = Duration::from_secs(2);
        let max = Some(Duration::from_secs(300));
        assert_eq!(parse_within("2s", min, max), Ok(min));
        assert!(
            parse_within("1s", min, max)
                .unwrap_err()
                .contains("at least 2s")
        );
        assert!(
            parse_within("6m", min, max)
                .unwrap_err()
                .contains("at most 5m")
        );
        assert_eq!(parse_within("1h", min, None), Ok(Duration::from_secs(3600)));
    }
}
