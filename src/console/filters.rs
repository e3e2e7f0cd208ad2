//! Template filters: how times, durations and the desk's snake_case words
//! read on a page. Templates name them `{{ value|when }}`.

use std::fmt::Display;

use askama::{Result, Values};
use chrono::{DateTime, Utc};

/// A value however many references deep templates hand it over.
pub trait Plain<T> {
    fn plain(&self) -> T;
}

impl Plain<DateTime<Utc>> for DateTime<Utc> {
    fn plain(&self) -> DateTime<Utc> {
        *self
    }
}

impl Plain<i64> for i64 {
    fn plain(&self) -> i64 {
        *self
    }
}

impl<T, V: Plain<T> + ?Sized> Plain<T> for &V {
    fn plain(&self) -> T {
        (**self).plain()
    }
}

/// `resolved`, `service_request` → `Resolved`, `Service request`.
#[askama::filter_fn]
pub fn label<T: Display>(value: T, _: &dyn Values) -> Result<String> {
    Ok(words(&value.to_string()))
}

pub fn words(value: &str) -> String {
    let spaced = value.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An instant as people read it on a desk that spans time zones (UTC,
/// minutes; the `title` of the element carries the full RFC 3339 form).
#[askama::filter_fn]
pub fn when<T: Plain<DateTime<Utc>>>(value: T, _: &dyn Values) -> Result<String> {
    Ok(value.plain().format("%Y-%m-%d %H:%M UTC").to_string())
}

/// Seconds as "2 d 3 h", "3 h 20 min", "45 s"; negative as "… over".
#[askama::filter_fn]
pub fn span<T: Plain<i64>>(value: T, _: &dyn Values) -> Result<String> {
    Ok(duration(value.plain()))
}

pub fn duration(seconds: i64) -> String {
    let over = seconds < 0;
    let s = seconds.unsigned_abs();
    let text = if s >= 86_400 {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    };
    if over {
        format!("{text} over")
    } else {
        text
    }
}

/// Where a message came from, as the conversation names it.
#[askama::filter_fn]
pub fn channel<T: Display>(value: T, _: &dyn Values) -> Result<String> {
    Ok(match value.to_string().as_str() {
        "web" => "console".to_string(),
        "api" => "API".to_string(),
        other => words(other),
    })
}

/// The badge class of a ticket state (colour plus the state's name in
/// text, so colour is never the only signal).
#[askama::filter_fn]
pub fn state_class<T: Display>(value: T, _: &dyn Values) -> Result<&'static str> {
    Ok(match value.to_string().as_str() {
        "new" | "open" => "state-open",
        "in_progress" => "state-progress",
        "on_hold" | "awaiting_approval" | "pending" => "state-waiting",
        "resolved" | "closed" | "completed" => "state-done",
        _ => "state-other",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(3 * 3600 + 20 * 60), "3 h 20 min");
        assert_eq!(duration(2 * 86_400 + 3 * 3600), "2 d 3 h");
        assert_eq!(duration(-600), "10 min over");
    }

    #[test]
    fn words_are_capitalised_and_spaced() {
        assert_eq!(words("service_request"), "Service request");
        assert_eq!(words(""), "");
    }
}
