//! Macros (canned responses, issue 23 item 4): the reply text's
//! placeholders — which exist, checking a text when a macro is saved, and
//! filling them in when it is applied — and the field changes a macro
//! carries. Pure: no I/O.

use serde::{Deserialize, Serialize};

use super::text::FieldError;

/// Every placeholder a reply may use, as written between `{{` and `}}`.
pub const PLACEHOLDERS: &[&str] = &[
    "requester.name",
    "ticket.number",
    "ticket.title",
    "ticket.state",
    "ticket.priority",
    "agent.name",
];

/// The longest macro name.
pub const MAX_NAME_CHARS: usize = 100;

/// What the placeholders stand for on one ticket, for one agent.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub requester_name: String,
    pub ticket_number: String,
    pub ticket_title: String,
    pub ticket_state: String,
    pub ticket_priority: String,
    pub agent_name: String,
}

impl Context {
    fn value(&self, placeholder: &str) -> Option<&str> {
        Some(match placeholder {
            "requester.name" => &self.requester_name,
            "ticket.number" => &self.ticket_number,
            "ticket.title" => &self.ticket_title,
            "ticket.state" => &self.ticket_state,
            "ticket.priority" => &self.ticket_priority,
            "agent.name" => &self.agent_name,
            _ => return None,
        })
    }
}

/// One piece of a reply text: literal text or a placeholder's name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits a text into literal text and `{{ name }}` placeholders.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            format!(
                "a `{{{{` at character {} is never closed with `}}}}`",
                text.len() - rest.len() + open + 1
            )
        })?;
        out.push(Piece::Placeholder(after[..close].trim()));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Checks a reply text: every `{{ … }}` closed and known. The message
/// names the known placeholders.
pub fn check_template(field: &'static str, text: &str) -> Result<(), FieldError> {
    let known = || {
        PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{{{p}}}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pieces = pieces(text).map_err(|m| FieldError::new(field, m))?;
    let unknown: Vec<&str> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name) if !PLACEHOLDERS.contains(name) => Some(*name),
            _ => None,
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = unknown.iter().map(|n| format!("{{{{{n}}}}}")).collect();
        Err(FieldError::new(
            field,
            format!(
                "unknown placeholder{} {}; known: {}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                known()
            ),
        ))
    }
}

/// Fills in a reply text checked by [`check_template`]; anything that
/// would not pass it (saved before a placeholder was dropped) is left as
/// written.
pub fn render(text: &str, context: &Context) -> String {
    let Ok(pieces) = pieces(text) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(name) => match context.value(name) {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str("{{");
                    out.push_str(name);
                    out.push_str("}}");
                }
            },
        }
    }
    out
}

/// Checks a macro's name: 1 to [`MAX_NAME_CHARS`] characters, not a UUID
/// (a macro is applied by id or by name, so a name must not read as an id).
pub fn check_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(FieldError::new("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.len() == 36 && name.chars().filter(|c| *c == '-').count() == 4 {
        return Err(FieldError::new(
            "name",
            "must not look like an id (macros are applied by id or name)",
        ));
    }
    Ok(name.to_string())
}

/// The field changes a macro makes when applied; each `None` leaves the
/// field alone. Names (state, level, person, team) are checked when the
/// macro is saved and again, against the ticket, when it is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacroChanges {
    /// A state to move to (must be a legal transition when applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `high`, `medium` or `low`; the priority follows the matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    /// A person (email or id), or `me`: whoever applies the macro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// A team name or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Tags to add (normalized like every ticket tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
    /// Tags to take off; a tag in both lists is refused when saved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_tags: Vec<String>,
}

impl MacroChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The tags a ticket carries once these changes are made: removals
    /// first, additions kept in the order given, after the ticket's own.
    pub fn apply_tags(&self, current: &[String]) -> Vec<String> {
        let mut tags: Vec<String> = current
            .iter()
            .filter(|t| !self.remove_tags.contains(t))
            .cloned()
            .collect();
        for tag in &self.add_tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context {
            requester_name: "Ada".into(),
            ticket_number: "INC0000042".into(),
            ticket_title: "VPN drops".into(),
            ticket_state: "in_progress".into(),
            ticket_priority: "p3".into(),
            agent_name: "Grace".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_in() {
        let text = "Hi {{requester.name}}, {{ ticket.number }} ({{ticket.title}}) is {{ticket.state}} at {{ticket.priority}}. — {{agent.name}}";
        assert!(check_template("body", text).is_ok());
        assert_eq!(
            render(text, &context()),
            "Hi Ada, INC0000042 (VPN drops) is in_progress at p3. — Grace"
        );
        assert_eq!(render("no placeholders", &context()), "no placeholders");
        assert_eq!(render("{single} braces", &context()), "{single} braces");
    }

    #[test]
    fn unknown_placeholders_are_refused_naming_the_known_ones() {
        let error =
            check_template("body", "Hi {{requester.email}} and {{foo}}").expect_err("refused");
        assert_eq!(error.field, "body");
        assert!(
            error.message.contains("{{requester.email}}, {{foo}}"),
            "{}",
            error.message
        );
        for known in PLACEHOLDERS {
            assert!(error.message.contains(known), "{}", error.message);
        }
        let unclosed = check_template("body", "Hi {{requester.name").expect_err("refused");
        assert!(
            unclosed.message.contains("never closed"),
            "{}",
            unclosed.message
        );
        assert!(
            check_template("body", "{{}}").is_err(),
            "an empty placeholder"
        );
    }

    #[test]
    fn a_text_saved_before_a_placeholder_went_away_is_left_as_written() {
        assert_eq!(render("x {{gone}} y", &context()), "x {{gone}} y");
        assert_eq!(render("x {{open", &context()), "x {{open");
    }

    #[test]
    fn names_are_short_and_do_not_read_as_ids() {
        assert_eq!(
            check_name("  Password reset ").expect("accepted"),
            "Password reset"
        );
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_name("0b7e9a52-7a4e-4c57-9d7b-2a9a3c1f0e11").is_err());
    }

    #[test]
    fn changes_refuse_unknown_fields() {
        let parsed: MacroChanges =
            serde_json::from_value(serde_json::json!({ "state": "resolved", "assignee": "me" }))
                .expect("accepted");
        assert_eq!(parsed.state.as_deref(), Some("resolved"));
        assert!(!parsed.is_empty());
        assert!(
            serde_json::from_value::<MacroChanges>(serde_json::json!({ "colour": "red" })).is_err()
        );
        assert!(MacroChanges::default().is_empty());
    }

    #[test]
    fn tags_are_removed_then_added_once() {
        let changes = MacroChanges {
            add_tags: vec!["vpn".into(), "remote".into()],
            remove_tags: vec!["triage".into()],
            ..MacroChanges::default()
        };
        let current = vec!["triage".to_string(), "remote".to_string()];
        assert_eq!(changes.apply_tags(&current), vec!["remote", "vpn"]);
        assert_eq!(changes.apply_tags(&[]), vec!["vpn", "remote"]);
    }
}
