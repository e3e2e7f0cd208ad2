//! Time logged on tickets (issue 23, item 5): how long one entry may be,
//! and the durations agents type in chat (`/time 1h30m fixed the VPN`).
//! Pure: no I/O.

use std::fmt;

/// The most one entry may record: a day. Longer work is several entries.
pub const MAX_ENTRY_MINUTES: i64 = 24 * 60;

/// Why a duration or a number of minutes is refused; the message names
/// what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

const FORMS: &str = "write minutes (`90`, `30m`), hours (`1h`, `1.5h`) or both (`1h30m`)";

/// Checks the minutes of one entry: more than 0, at most
/// [`MAX_ENTRY_MINUTES`].
pub fn check_minutes(minutes: i64) -> Result<i64, DurationError> {
    if minutes <= 0 {
        Err(DurationError(format!(
            "must be more than 0 minutes (got {minutes})"
        )))
    } else if minutes > MAX_ENTRY_MINUTES {
        Err(DurationError(format!(
            "one entry records at most {MAX_ENTRY_MINUTES} minutes (24 h); got {minutes}: log longer work as several entries"
        )))
    } else {
        Ok(minutes)
    }
}

/// Reads a duration as typed in chat into whole minutes: `90` (minutes),
/// `30m`, `45min`, `1h`, `2hr`, `1.5h`, `1h30m`, `1h 30m`, case-insensitive.
/// Fractions of a minute round to the nearest minute; the result passes
/// [`check_minutes`].
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let compact: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if compact.is_empty() {
        return Err(DurationError(format!("no duration given: {FORMS}")));
    }
    let bad = || DurationError(format!("`{}` is not a duration: {FORMS}", text.trim()));
    // A bare number is minutes.
    if compact.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let value: f64 = compact.parse().map_err(|_| bad())?;
        return check_minutes(round_minutes(value).ok_or_else(bad)?);
    }
    let mut total = 0.0_f64;
    let mut rest = compact.as_str();
    let mut seen_hours = false;
    let mut seen_minutes = false;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if number_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        match unit {
            "h" | "hr" | "hrs" | "hour" | "hours" if !seen_hours && !seen_minutes => {
                seen_hours = true;
                total += value * 60.0;
            }
            "m" | "min" | "mins" | "minute" | "minutes" if !seen_minutes => {
                seen_minutes = true;
                total += value;
            }
            _ => return Err(bad()),
        }
    }
    check_minutes(round_minutes(total).ok_or_else(bad)?)
}

/// Whole minutes of a finite, non-negative amount.
fn round_minutes(value: f64) -> Option<i64> {
    // Anything above a day is refused by check_minutes; cap before casting.
    (value.is_finite() && value >= 0.0).then(|| value.round().min(1e9) as i64)
}

/// Minutes as people read them: `45m`, `2h`, `1h 30m`.
pub fn format_minutes(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_durations_read_as_minutes() {
        for (text, minutes) in [
            ("30m", 30),
            ("1h", 60),
            ("1h30m", 90),
            ("1h 30m", 90),
            ("1.5h", 90),
            ("90", 90),
            ("45min", 45),
            ("2 hours", 120),
            ("0.25h", 15),
            ("1H15M", 75),
            ("24h", 1440),
        ] {
            assert_eq!(parse_duration(text), Ok(minutes), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_duration_is_refused_naming_the_accepted_forms() {
        for text in [
            "", "   ", "abc", "1x", "m30", "1h1h", "30m1h", "1..5h", "-5m", "h", "1h30", "ten",
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.to_string().contains("1h30m"), "{text}: {error}");
        }
    }

    #[test]
    fn zero_and_more_than_a_day_are_refused() {
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("0.2").is_err(), "rounds to 0 minutes");
        assert!(parse_duration("25h")
            .expect_err("refused")
            .to_string()
            .contains("24 h"));
        assert!(parse_duration("1441").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert_eq!(check_minutes(1), Ok(1));
        assert!(check_minutes(-30)
            .expect_err("refused")
            .to_string()
            .contains("more than 0"));
    }

    #[test]
    fn minutes_are_shown_in_hours_and_minutes() {
        assert_eq!(format_minutes(45), "45m");
        assert_eq!(format_minutes(120), "2h");
        assert_eq!(format_minutes(90), "1h 30m");
    }
}
