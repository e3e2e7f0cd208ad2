//! Validated text newtypes.
//!
//! Each type's `parse` is its only constructor, so holding a [`Title`] (etc.)
//! proves the text was checked. Lengths count Unicode scalar values, which is
//! what people mean by "characters" far more often than bytes are.

use serde::Serialize;
use std::{borrow::Cow, fmt};

/// A text field failed validation. `field` is the name the caller gave, so
/// the message can point at the right input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The input's name; a dotted path for nested input (`answers.laptop`).
    pub field: Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How a kind of text is checked.
struct Rules {
    /// Strip surrounding whitespace before checking, and store the result.
    trim: bool,
    allow_empty: bool,
    max_chars: usize,
    /// Permit newlines and tabs; other control characters are always refused
    /// (NUL, for one, cannot even be stored in PostgreSQL text).
    multiline: bool,
}

fn validate(field: &'static str, input: &str, rules: Rules) -> Result<String, FieldError> {
    let error = |message: String| FieldError::new(field, message);
    let text = if rules.trim { input.trim() } else { input };
    if text.is_empty() && !rules.allow_empty {
        return Err(error("must not be empty".to_owned()));
    }
    let chars = text.chars().count();
    if chars > rules.max_chars {
        return Err(error(format!(
            "must be at most {} characters (got {chars})",
            rules.max_chars
        )));
    }
    let allowed_control = |c: char| rules.multiline && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed_control(c)) {
        let message = if rules.multiline {
            "must not contain control characters other than newlines and tabs"
        } else {
            "must not contain control characters (including newlines)"
        };
        return Err(error(message.to_owned()));
    }
    Ok(text.to_owned())
}

/// Defines a newtype over `String` whose only constructor validates with the
/// given rules.
macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $rules:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `input`; `field` names it in the error.
            pub fn parse(field: &'static str, input: &str) -> Result<Self, FieldError> {
                validate(field, input, $rules).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// A ticket's one-line summary: trimmed, 1–200 characters, single line.
    Title,
    Rules {
        trim: true,
        allow_empty: false,
        max_chars: 200,
        multiline: false,
    }
);

text_type!(
    /// A ticket's free-form body: up to 50 000 characters, possibly empty.
    /// Not trimmed, because leading indentation can be meaningful (pasted
    /// logs, code).
    Description,
    Rules {
        trim: false,
        allow_empty: true,
        max_chars: 50_000,
        multiline: true,
    }
);

text_type!(
    /// A comment on a ticket: trimmed, non-empty, up to 50 000 characters.
    CommentBody,
    Rules {
        trim: true,
        allow_empty: false,
        max_chars: 50_000,
        multiline: true,
    }
);

text_type!(
    /// The name of a person, team or category: trimmed, 1–120 characters,
    /// single line.
    Name,
    Rules {
        trim: true,
        allow_empty: false,
        max_chars: 120,
        multiline: false,
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message<T>(result: Result<T, FieldError>) -> String {
        result.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn title_is_trimmed() {
        let title = Title::parse("title", "  Printer on fire \n");
        assert_eq!(
            title.map(Title::into_inner).ok().as_deref(),
            Some("Printer on fire")
        );
    }

    #[test]
    fn title_rules() {
        assert_eq!(
            message(Title::parse("title", "   ")),
            "title: must not be empty"
        );
        assert_eq!(
            message(Title::parse("title", &"x".repeat(340))),
            "title: must be at most 200 characters (got 340)"
        );
        assert!(Title::parse("title", &"é".repeat(200)).is_ok());
        assert!(Title::parse("title", "two\nlines").is_err());
        assert!(Title::parse("title", "nul\0").is_err());
    }

    #[test]
    fn description_rules() {
        assert_eq!(
            Description::parse("description", "").map(|d| d.into_inner()),
            Ok(String::new())
        );
        let indented = "    at main.rs:1\n\tcaused by";
        assert_eq!(
            Description::parse("description", indented)
                .ok()
                .as_ref()
                .map(Description::as_str),
            Some(indented)
        );
        assert!(Description::parse("description", &"x".repeat(50_000)).is_ok());
        assert!(Description::parse("description", &"x".repeat(50_001)).is_err());
        assert!(Description::parse("description", "bell\u{7}").is_err());
    }

    #[test]
    fn comment_rules() {
        assert_eq!(
            message(CommentBody::parse("body", " \n ")),
            "body: must not be empty"
        );
        assert!(CommentBody::parse("body", "line one\nline two").is_ok());
        assert!(CommentBody::parse("body", &"x".repeat(50_001)).is_err());
    }

    #[test]
    fn name_rules() {
        assert_eq!(
            Name::parse("team", " Network Ops ")
                .ok()
                .map(|n| n.to_string())
                .as_deref(),
            Some("Network Ops")
        );
        assert!(Name::parse("team", "").is_err());
        assert!(Name::parse("team", &"x".repeat(121)).is_err());
    }

    #[test]
    fn serializes_as_plain_string() {
        let name = Name::parse("name", "Ada").ok();
        assert_eq!(
            serde_json::to_value(name).ok(),
            Some(serde_json::json!("Ada"))
        );
    }

    proptest! {
        #[test]
        fn accepted_titles_are_clean(input in "\\PC{0,250}") {
            if let Ok(title) = Title::parse("title", &input) {
                let s = title.as_str();
                prop_assert_eq!(s, s.trim());
                prop_assert!(!s.is_empty() && s.chars().count() <= 200);
                // Parsing is idempotent on its own output.
                prop_assert_eq!(Title::parse("title", s), Ok(title.clone()));
            }
        }
    }
}
