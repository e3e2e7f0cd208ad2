//! Agents' absences: what happens to their tickets when one starts, and
//! reading `/away until friday` as typed in chat, in the agent's own time
//! zone (DST-exact: "until Monday" ends at Monday's local midnight).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::notify::local_instant;

/// What happens to an agent's open tickets when their absence starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Handover {
    /// They stay assigned; the agent only gets no new ones.
    #[default]
    Keep,
    /// They go back to their team, which assigns them again by its strategy
    /// (or leaves them in its queue).
    Queue,
    /// They go to the absence's delegate.
    Delegate,
}

string_enum!(Handover, "handover", {
    Keep => "keep",
    Queue => "queue",
    Delegate => "delegate",
});

/// The longest absence one can record: a year.
pub const MAX_ABSENCE_DAYS: i64 = 366;

/// An absence read from chat: from now until `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Away {
    pub ends_at: DateTime<Utc>,
    pub note: String,
}

/// What `/away …` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwayCommand {
    Away(Away),
    /// `/away back`: ends the current absence now.
    Back,
}

/// How to use `/away`, for an empty or unreadable command.
pub const AWAY_HELP: &str = "Try `/away until friday`, `/away until 2026-12-24 offsite`, \
     `/away for 3 days`, `/away for 4h dentist`, or `/away back`.";

/// Reads `/away` text. `until DAY [HH:MM]` ends at that local time (the
/// day's start by default); a weekday is the next one after today;
/// `for N (m|h|d|w)` counts from now. Words after the date are the note.
pub fn read_away(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<AwayCommand, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let first = words.first().map(|w| w.to_lowercase());
    match first.as_deref() {
        Some("back" | "off" | "return" | "returned") if words.len() == 1 => Ok(AwayCommand::Back),
        Some("until" | "till" | "til") => {
            let (day, rest) = read_day(&words[1..], now, tz).ok_or_else(|| help(text))?;
            let (time, rest) = match rest.first().and_then(|w| read_time(w)) {
                Some(time) => (time, &rest[1..]),
                None => (NaiveTime::MIN, rest),
            };
            let ends_at = local_instant(tz, day, time, now);
            finish(ends_at, rest, now)
        }
        Some("for") => {
            let (length, rest) = read_length(&words[1..]).ok_or_else(|| help(text))?;
            finish(now + length, rest, now)
        }
        _ => Err(help(text)),
    }
}

fn help(text: &str) -> String {
    if text.trim().is_empty() {
        AWAY_HELP.to_string()
    } else {
        format!("I could not read `{}`. {AWAY_HELP}", text.trim())
    }
}

fn finish(
    ends_at: DateTime<Utc>,
    note: &[&str],
    now: DateTime<Utc>,
) -> Result<AwayCommand, String> {
    if ends_at <= now {
        return Err(format!(
            "that is not in the future ({}). {AWAY_HELP}",
            ends_at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if ends_at - now > Duration::days(MAX_ABSENCE_DAYS) {
        return Err(format!("an absence lasts at most {MAX_ABSENCE_DAYS} days"));
    }
    Ok(AwayCommand::Away(Away {
        ends_at,
        note: note.join(" "),
    }))
}

/// A day: `today`, `tomorrow`, a weekday (the next one, never today),
/// `YYYY-MM-DD`, or `24 dec` / `dec 24` (this year, or next if passed).
fn read_day<'a>(
    words: &'a [&'a str],
    now: DateTime<Utc>,
    tz: Tz,
) -> Option<(NaiveDate, &'a [&'a str])> {
    let today = now.with_timezone(&tz).date_naive();
    let first = words.first()?.to_lowercase();
    let first = first.trim_end_matches(',');
    match first {
        "today" => return Some((today, &words[1..])),
        "tomorrow" => return Some((today.succ_opt()?, &words[1..])),
        _ => {}
    }
    if let Some(weekday) = read_weekday(first) {
        let ahead = (7 + weekday.num_days_from_monday() as i64
            - today.weekday().num_days_from_monday() as i64)
            % 7;
        let ahead = if ahead == 0 { 7 } else { ahead };
        return Some((today + Duration::days(ahead), &words[1..]));
    }
    if let Ok(date) = NaiveDate::parse_from_str(first, "%Y-%m-%d") {
        return Some((date, &words[1..]));
    }
    let second = words.get(1)?.to_lowercase();
    let (day, month) = match (first.parse::<u32>(), read_month(first)) {
        (Ok(day), _) => (day, read_month(&second)?),
        (_, Some(month)) => (second.trim_end_matches(',').parse::<u32>().ok()?, month),
        _ => return None,
    };
    let this_year = NaiveDate::from_ymd_opt(today.year(), month, day)?;
    let date = if this_year < today {
        NaiveDate::from_ymd_opt(today.year() + 1, month, day)?
    } else {
        this_year
    };
    Some((date, &words[2..]))
}

fn read_weekday(word: &str) -> Option<Weekday> {
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    DAYS.iter()
        .find(|(name, _)| word.len() >= 3 && name.starts_with(word))
        .map(|(_, day)| *day)
}

fn read_month(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let word = word.trim_end_matches([',', '.']);
    MONTHS
        .iter()
        .position(|name| word.len() >= 3 && name.starts_with(word))
        .map(|i| i as u32 + 1)
}

fn read_time(word: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(word, "%H:%M").ok()
}

/// `3 days`, `3d`, `4h`, `90m`, `2 weeks`.
fn read_length<'a>(words: &'a [&'a str]) -> Option<(Duration, &'a [&'a str])> {
    let first = words.first()?.to_lowercase();
    let digits: String = first.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().ok()?;
    let (unit, rest) = if digits.len() == first.len() {
        (words.get(1)?.to_lowercase(), &words[2..])
    } else {
        (first[digits.len()..].to_string(), &words[1..])
    };
    let length = match unit.as_str() {
        "m" | "min" | "mins" | "minute" | "minutes" => Duration::minutes(n),
        "h" | "hr" | "hrs" | "hour" | "hours" => Duration::hours(n),
        "d" | "day" | "days" => Duration::days(n),
        "w" | "wk" | "week" | "weeks" => Duration::weeks(n),
        _ => return None,
    };
    (n > 0).then_some((length, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn away(text: &str, now: &str, tz: Tz) -> Away {
        match read_away(text, at(now), tz) {
            Ok(AwayCommand::Away(away)) => away,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn until_a_weekday_ends_at_its_local_midnight() {
        // Monday 7 December 2026, 10:00 in Berlin (UTC+1).
        let a = away(
            "until friday",
            "2026-12-07T09:00:00Z",
            chrono_tz::Europe::Berlin,
        );
        assert_eq!(a.ends_at, at("2026-12-10T23:00:00Z"));
        // On a Friday, "until friday" is next week's.
        let a = away(
            "until fri",
            "2026-12-11T09:00:00Z",
            chrono_tz::Europe::Berlin,
        );
        assert_eq!(a.ends_at, at("2026-12-17T23:00:00Z"));
    }

    #[test]
    fn dates_times_and_notes() {
        let a = away(
            "until 2026-12-24 14:30 offsite in Lyon",
            "2026-12-07T09:00:00Z",
            chrono_tz::America::New_York,
        );
        assert_eq!(a.ends_at, at("2026-12-24T19:30:00Z"));
        assert_eq!(a.note, "offsite in Lyon");
        let a = away("until 3 jan", "2026-12-07T09:00:00Z", chrono_tz::UTC);
        assert_eq!(a.ends_at, at("2027-01-03T00:00:00Z"));
        let a = away("until dec 9", "2026-12-07T09:00:00Z", chrono_tz::UTC);
        assert_eq!(a.ends_at, at("2026-12-09T00:00:00Z"));
    }

    #[test]
    fn the_day_after_a_dst_change_is_exact() {
        // Saturday 28 March 2026 in Berlin; clocks go forward on Sunday.
        let a = away(
            "until monday",
            "2026-03-28T12:00:00Z",
            chrono_tz::Europe::Berlin,
        );
        assert_eq!(
            a.ends_at,
            chrono_tz::Europe::Berlin
                .with_ymd_and_hms(2026, 3, 30, 0, 0, 0)
                .single()
                .expect("local")
                .with_timezone(&Utc)
        );
        assert_eq!(a.ends_at, at("2026-03-29T22:00:00Z"));
    }

    #[test]
    fn lengths() {
        let now = "2026-12-07T09:00:00Z";
        assert_eq!(
            away("for 3 days", now, chrono_tz::UTC).ends_at,
            at("2026-12-10T09:00:00Z")
        );
        assert_eq!(away("for 4h dentist", now, chrono_tz::UTC).note, "dentist");
        assert_eq!(
            away("for 90m", now, chrono_tz::UTC).ends_at,
            at("2026-12-07T10:30:00Z")
        );
        assert_eq!(
            away("for 1 week", now, chrono_tz::UTC).ends_at,
            at("2026-12-14T09:00:00Z")
        );
    }

    #[test]
    fn refusals_say_how() {
        let now = at("2026-12-07T09:00:00Z");
        for bad in [
            "",
            "tomorrowish",
            "until",
            "until someday",
            "for 0h",
            "for 2 parsecs",
        ] {
            let err = read_away(bad, now, chrono_tz::UTC).expect_err(bad);
            assert!(err.contains("/away until friday"), "{bad}: {err}");
        }
        let err = read_away("until today", now, chrono_tz::UTC).expect_err("past");
        assert!(err.contains("not in the future"), "{err}");
        assert!(read_away("for 400 days", now, chrono_tz::UTC).is_err());
        assert_eq!(
            read_away("back", now, chrono_tz::UTC),
            Ok(AwayCommand::Back)
        );
    }

    #[test]
    fn handover_names() {
        for h in Handover::ALL {
            assert_eq!(Handover::parse(h.as_str()), Ok(h));
            assert_eq!(serde_json::to_value(h).expect("json"), h.as_str());
        }
    }
}
