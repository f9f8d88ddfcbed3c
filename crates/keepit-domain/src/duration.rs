//! The one duration grammar of keepit-watch, for command-line flags and API query
//! parameters alike: humantime's (`90s`, `15m`, `1h`, `2h30m`, `7d`, `2w`), with a
//! bare number refused, since `15` could mean seconds as well as minutes.

use std::time::Duration;

/// Why a text is not a duration. The messages name the units, for the person who typed
/// it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing was given.
    #[error("an empty value is not a duration; write a number with a unit, such as 15m")]
    Empty,
    /// A number without a unit.
    #[error("{0:?} has no unit; write it with s, m, h, d or w, such as {0}s or {0}m")]
    NoUnit(String),
    /// Anything else that does not read as a duration.
    #[error("{text:?} is not a duration such as 90s, 15m, 1h, 2h30m or 7d ({problem})")]
    Invalid {
        /// The text given.
        text: String,
        /// What the parser found wrong.
        problem: String,
    },
}

/// Parses a duration such as `90s`, `15m`, `1h`, `2h30m`, `7d` or `2w` (humantime's
/// grammar, fractions such as `1.5h` included; surrounding spaces are ignored). A bare
/// number is refused.
///
/// ```
/// use std::time::Duration;
/// use keepit_domain::{DurationError, parse_duration};
///
/// assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9_000)));
/// assert!(matches!(parse_duration("15"), Err(DurationError::NoUnit(_))));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err(DurationError::NoUnit(text.to_owned()));
    }
    humantime::parse_duration(text).map_err(|error| DurationError::Invalid {
        text: text.to_owned(),
        problem: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_combine_and_bare_numbers_are_refused() {
        for (text, seconds) in [
            ("90s", 90),
            ("15m", 900),
            ("1h", 3_600),
            ("2h30m", 9_000),
            ("2h 30m", 9_000),
            (" 7d ", 604_800),
            ("2w", 1_209_600),
            ("1.5h", 5_400),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("  "), Err(DurationError::Empty));
        let no_unit = parse_duration("15").unwrap_err();
        assert_eq!(no_unit, DurationError::NoUnit("15".into()));
        let message = no_unit.to_string();
        assert!(message.contains("15s or 15m"), "{message}");
        for text in ["forever", "15 parsecs", "-1h", "h", "1h-"] {
            let error = parse_duration(text).unwrap_err();
            assert!(
                matches!(error, DurationError::Invalid { .. }),
                "{text}: {error:?}"
            );
            assert!(error.to_string().contains("such as 90s"), "{error}");
        }
    }
}
