//! Human-facing ticket numbers such as `INC0000042`.

use super::Kind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A ticket's kind plus its per-kind sequence number.
///
/// Sequence numbers start at 1; `new` does not check this because they come
/// from the store's counters, whereas [`TicketNumber::parse`], which handles
/// user input, does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketNumber {
    kind: Kind,
    seq: u64,
}

/// Input that does not look like a ticket number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a ticket number (expected e.g. INC0000042)")]
pub struct NumberError {
    pub input: String,
}

impl TicketNumber {
    pub const fn new(kind: Kind, seq: u64) -> Self {
        Self { kind, seq }
    }

    /// The number a ticket counter's value stands for: the one place a
    /// counter (a `BIGINT` from 1) becomes the number shown and stored.
    /// Nothing in SQL formats numbers; the store binds this one's text.
    pub fn from_counter(kind: Kind, value: i64) -> Result<Self, NumberError> {
        match u64::try_from(value) {
            Ok(seq) if seq >= 1 => Ok(Self { kind, seq }),
            _ => Err(NumberError {
                input: format!("{}{value}", kind.prefix()),
            }),
        }
    }

    pub const fn kind(self) -> Kind {
        self.kind
    }

    pub const fn seq(self) -> u64 {
        self.seq
    }

    /// Parses e.g. `INC0000042`. The prefix is case-insensitive and the zero
    /// padding optional (`inc42` works), since people type these by hand.
    pub fn parse(input: &str) -> Result<Self, NumberError> {
        let error = || NumberError {
            input: input.to_owned(),
        };
        let (prefix, digits) = input.trim().split_at_checked(3).ok_or_else(error)?;
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.prefix().eq_ignore_ascii_case(prefix))
            .ok_or_else(error)?;
        // `u64::from_str` alone would also accept a leading `+`.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error());
        }
        match digits.parse::<u64>() {
            Ok(seq) if seq >= 1 => Ok(Self { kind, seq }),
            _ => Err(error()),
        }
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:07}", self.kind.prefix(), self.seq)
    }
}

impl FromStr for TicketNumber {
    type Err = NumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for TicketNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TicketNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_zero_padded() {
        assert_eq!(
            TicketNumber::new(Kind::Incident, 42).to_string(),
            "INC0000042"
        );
        assert_eq!(
            TicketNumber::new(Kind::ServiceRequest, 1).to_string(),
            "REQ0000001"
        );
        assert_eq!(
            TicketNumber::new(Kind::Change, 123_456_789).to_string(),
            "CHG123456789"
        );
    }

    #[test]
    fn parses_leniently() {
        let expected = Ok(TicketNumber::new(Kind::Problem, 7));
        assert_eq!(TicketNumber::parse("PRB0000007"), expected);
        assert_eq!(TicketNumber::parse("prb7"), expected);
        assert_eq!(TicketNumber::parse(" Prb07 "), expected);
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "",
            "INC",
            "INC0000000",
            "INC+42",
            "INC42a",
            "XYZ0000001",
            "INC 42",
            "é",
            "INC99999999999999999999",
        ] {
            assert!(TicketNumber::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            TicketNumber::parse("foo")
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("`foo` is not a ticket number (expected e.g. INC0000042)")
        );
    }

    #[test]
    fn counter_values_from_one_are_numbers() {
        assert_eq!(
            TicketNumber::from_counter(Kind::Incident, 42).map(|n| n.to_string()),
            Ok("INC0000042".to_string())
        );
        for bad in [0, -1, i64::MIN] {
            assert!(
                TicketNumber::from_counter(Kind::Change, bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn serializes_as_string() {
        let n = TicketNumber::new(Kind::Incident, 42);
        assert_eq!(
            serde_json::to_value(n).ok(),
            Some(serde_json::json!("INC0000042"))
        );
        assert_eq!(
            serde_json::from_value(serde_json::json!("INC0000042")).ok(),
            Some(n)
        );
    }

    proptest! {
        #[test]
        fn display_parse_roundtrip(
            kind in proptest::sample::select(Kind::ALL.to_vec()),
            seq in 1u64..1_000_000_000,
        ) {
            let number = TicketNumber::new(kind, seq);
            let text = number.to_string();
            prop_assert!(text.len() >= 10);
            prop_assert_eq!(TicketNumber::parse(&text), Ok(number));
            prop_assert_eq!(TicketNumber::parse(&text.to_lowercase()), Ok(number));
        }
    }
}
