//! Catalog forms: a plain typed definition (so the API, Slack modals and
//! Discord modals can all render it) and the validation of answers to it.
//!
//! References to people and configuration items are checked for shape here;
//! whether they exist is the desk's question, answered with
//! [`ValidAnswers::references`].

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::text::FieldError;

/// Most fields in one form; chat modals cannot show many more.
pub const MAX_FIELDS: usize = 50;
/// Most options of a choice field (Slack's static select allows 100).
pub const MAX_OPTIONS: usize = 100;
const MAX_KEY_CHARS: usize = 64;
const MAX_LABEL_CHARS: usize = 100;
const MAX_HELP_CHARS: usize = 500;
/// Longest answer to a text field unless the field says less.
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest answer to a long-text field unless the field says less.
pub const MAX_LONG_TEXT_CHARS: usize = 10_000;
/// A compiled pattern may not exceed this many bytes: patterns are operator
/// input and every order runs them.
const MAX_PATTERN_BYTES: usize = 1 << 16;

/// A form: the fields a catalog item asks for, in display order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FormDefinition {
    pub fields: Vec<FormField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormField {
    /// The answer's key: lowercase letters, digits and `_`, starting with a letter.
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// Used when the answer is missing; must itself be a valid answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// The type of a field and its validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_length: Option<usize>,
        /// A regular expression the whole answer must match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
    },
    LongText {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_length: Option<usize>,
    },
    Number {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        #[serde(default)]
        integer: bool,
    },
    /// A calendar date, answered as `YYYY-MM-DD`.
    Date {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<NaiveDate>,
    },
    Choice {
        options: Vec<FormOption>,
    },
    MultiChoice {
        options: Vec<FormOption>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_selected: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_selected: Option<usize>,
    },
    /// A person of the organization, answered by id or email.
    Person,
    /// A configuration item, answered by id or external id; optionally of one class.
    ConfigurationItem {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormOption {
    pub value: String,
    /// Shown to people; the value when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl FormOption {
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.value)
    }
}

/// What an answer refers to, for the desk to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceKind {
    Person,
    ConfigurationItem { class: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub key: String,
    pub kind: ReferenceKind,
    /// As given: an id, an email or an external id.
    pub value: String,
}

/// Answers that passed the form's rules, normalised (text trimmed, numbers
/// as numbers, dates as `YYYY-MM-DD`, defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidAnswers {
    pub values: BTreeMap<String, Value>,
    pub references: Vec<Reference>,
}

fn error(field: String, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.len() <= MAX_KEY_CHARS
}

impl FormDefinition {
    /// Reads and checks a definition; errors name the place (`form.fields[2].options`).
    pub fn parse(value: &Value) -> Result<Self, Vec<FieldError>> {
        let form: FormDefinition = serde_json::from_value(value.clone())
            .map_err(|e| vec![error("form".into(), e.to_string())])?;
        form.check()?;
        Ok(form)
    }

    fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.fields.len() > MAX_FIELDS {
            errors.push(error(
                "form.fields".into(),
                format!("at most {MAX_FIELDS} fields (got {})", self.fields.len()),
            ));
        }
        let mut keys = HashSet::new();
        for (i, field) in self.fields.iter().enumerate() {
            let place = |what: &str| format!("form.fields[{i}].{what}");
            if !valid_key(&field.key) {
                errors.push(error(
                    place("key"),
                    format!("`{}` must be lowercase letters, digits and _, starting with a letter, at most {MAX_KEY_CHARS} characters", field.key),
                ));
            } else if !keys.insert(field.key.as_str()) {
                errors.push(error(
                    place("key"),
                    format!("`{}` is used by two fields", field.key),
                ));
            }
            let label_chars = field.label.trim().chars().count();
            if label_chars == 0 || label_chars > MAX_LABEL_CHARS {
                errors.push(error(
                    place("label"),
                    format!("must be 1 to {MAX_LABEL_CHARS} characters"),
                ));
            }
            if field
                .help
                .as_ref()
                .is_some_and(|h| h.chars().count() > MAX_HELP_CHARS)
            {
                errors.push(error(
                    place("help"),
                    format!("must be at most {MAX_HELP_CHARS} characters"),
                ));
            }
            check_kind(&field.kind, &place, &mut errors);
            if let Some(default) = &field.default {
                if let Err(message) = field.answer(default) {
                    errors.push(error(
                        place("default"),
                        format!("is not a valid answer: {message}"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Checks answers against the form. Every problem is reported, each
    /// named `answers.<key>`; unknown keys are refused so typos are not lost.
    pub fn validate(&self, answers: &Map<String, Value>) -> Result<ValidAnswers, Vec<FieldError>> {
        let mut errors = Vec::new();
        for key in answers.keys() {
            if !self.fields.iter().any(|f| &f.key == key) {
                errors.push(error(
                    format!("answers.{key}"),
                    "is not a field of this form",
                ));
            }
        }
        let mut values = BTreeMap::new();
        let mut references = Vec::new();
        for field in &self.fields {
            let place = format!("answers.{}", field.key);
            let given = answers.get(&field.key).filter(|v| !is_blank(v));
            let Some(answer) = given.or(field.default.as_ref()) else {
                if field.required {
                    errors.push(error(place, "is required"));
                }
                continue;
            };
            match field.answer(answer) {
                Ok(value) => {
                    let reference = match &field.kind {
                        FieldKind::Person => Some(ReferenceKind::Person),
                        FieldKind::ConfigurationItem { class } => {
                            Some(ReferenceKind::ConfigurationItem {
                                class: class.clone(),
                            })
                        }
                        _ => None,
                    };
                    if let (Some(kind), Some(text)) = (reference, value.as_str()) {
                        references.push(Reference {
                            key: field.key.clone(),
                            kind,
                            value: text.to_string(),
                        });
                    }
                    values.insert(field.key.clone(), value);
                }
                Err(message) => errors.push(error(place, message)),
            }
        }
        if errors.is_empty() {
            Ok(ValidAnswers { values, references })
        } else {
            Err(errors)
        }
    }

    pub fn field(&self, key: &str) -> Option<&FormField> {
        self.fields.iter().find(|f| f.key == key)
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn check_kind(kind: &FieldKind, place: &dyn Fn(&str) -> String, errors: &mut Vec<FieldError>) {
    match kind {
        FieldKind::Text {
            max_length,
            pattern,
        } => {
            if max_length.is_some_and(|m| m == 0 || m > MAX_TEXT_CHARS) {
                errors.push(error(
                    place("max_length"),
                    format!("must be 1 to {MAX_TEXT_CHARS}"),
                ));
            }
            if let Some(pattern) = pattern {
                if let Err(e) = compile(pattern) {
                    errors.push(error(place("pattern"), e));
                }
            }
        }
        FieldKind::LongText { max_length } => {
            if max_length.is_some_and(|m| m == 0 || m > MAX_LONG_TEXT_CHARS) {
                errors.push(error(
                    place("max_length"),
                    format!("must be 1 to {MAX_LONG_TEXT_CHARS}"),
                ));
            }
        }
        FieldKind::Number { min, max, .. } => {
            if min.zip(*max).is_some_and(|(lo, hi)| lo > hi) {
                errors.push(error(place("min"), "must not be greater than max"));
            }
            if min.is_some_and(|v| !v.is_finite()) || max.is_some_and(|v| !v.is_finite()) {
                errors.push(error(place("min"), "bounds must be finite numbers"));
            }
        }
        FieldKind::Date { min, max } => {
            if min.zip(*max).is_some_and(|(lo, hi)| lo > hi) {
                errors.push(error(place("min"), "must not be after max"));
            }
        }
        FieldKind::Choice { options } => check_options(options, place, errors),
        FieldKind::MultiChoice {
            options,
            min_selected,
            max_selected,
        } => {
            check_options(options, place, errors);
            if min_selected
                .zip(*max_selected)
                .is_some_and(|(lo, hi)| lo > hi)
            {
                errors.push(error(
                    place("min_selected"),
                    "must not be greater than max_selected",
                ));
            }
            if min_selected.is_some_and(|m| m > options.len()) {
                errors.push(error(
                    place("min_selected"),
                    "is more than there are options",
                ));
            }
        }
        FieldKind::Person | FieldKind::ConfigurationItem { .. } => {}
    }
}

fn check_options(
    options: &[FormOption],
    place: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) {
    if options.is_empty() || options.len() > MAX_OPTIONS {
        errors.push(error(
            place("options"),
            format!("must have 1 to {MAX_OPTIONS} options"),
        ));
    }
    let mut seen = HashSet::new();
    for option in options {
        if option.value.trim().is_empty() || option.value.chars().count() > MAX_LABEL_CHARS {
            errors.push(error(
                place("options"),
                format!("option values must be 1 to {MAX_LABEL_CHARS} characters"),
            ));
        } else if !seen.insert(option.value.as_str()) {
            errors.push(error(
                place("options"),
                format!("`{}` is listed twice", option.value),
            ));
        }
    }
}

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(MAX_PATTERN_BYTES)
        .build()
        .map_err(|e| format!("is not a valid regular expression: {e}"))
}

impl FormField {
    /// Checks one answer; the normalised value or why it is wrong.
    pub fn answer(&self, value: &Value) -> Result<Value, String> {
        match &self.kind {
            FieldKind::Text {
                max_length,
                pattern,
            } => {
                let text = single_line(value, max_length.unwrap_or(MAX_TEXT_CHARS))?;
                if let Some(pattern) = pattern {
                    let regex = compile(pattern)?;
                    if !regex.is_match(&text) {
                        return Err(format!("must match the pattern {pattern}"));
                    }
                }
                Ok(Value::String(text))
            }
            FieldKind::LongText { max_length } => {
                let text = value.as_str().ok_or("must be text")?.trim().to_string();
                let limit = max_length.unwrap_or(MAX_LONG_TEXT_CHARS);
                if text.chars().count() > limit {
                    return Err(format!("must be at most {limit} characters"));
                }
                if text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
                {
                    return Err("must not contain control characters".into());
                }
                Ok(Value::String(text))
            }
            FieldKind::Number { min, max, integer } => {
                // Chat modals submit everything as text: accept numeric strings.
                let number = match value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|n| n.is_finite())
                .ok_or("must be a number")?;
                if *integer && number.fract() != 0.0 {
                    return Err("must be a whole number".into());
                }
                if min.is_some_and(|m| number < m) || max.is_some_and(|m| number > m) {
                    return Err(range_message(min.map(fmt_number), max.map(fmt_number)));
                }
                let json = if *integer {
                    Value::from(number as i64)
                } else {
                    serde_json::Number::from_f64(number)
                        .map(Value::Number)
                        .ok_or("must be a number")?
                };
                Ok(json)
            }
            FieldKind::Date { min, max } => {
                let text = value.as_str().ok_or("must be a date (YYYY-MM-DD)")?;
                let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map_err(|_| "must be a date (YYYY-MM-DD)".to_string())?;
                if min.is_some_and(|m| date < m) || max.is_some_and(|m| date > m) {
                    return Err(range_message(
                        min.map(|d| d.to_string()),
                        max.map(|d| d.to_string()),
                    ));
                }
                Ok(Value::String(date.to_string()))
            }
            FieldKind::Choice { options } => {
                let text = value.as_str().ok_or("must be one of the options")?.trim();
                option_value(options, text).map(Value::String)
            }
            FieldKind::MultiChoice {
                options,
                min_selected,
                max_selected,
            } => {
                let items = value.as_array().ok_or("must be a list of options")?;
                let mut chosen = Vec::new();
                for item in items {
                    let text = item.as_str().ok_or("must be a list of options")?.trim();
                    let value = option_value(options, text)?;
                    if !chosen.contains(&value) {
                        chosen.push(value);
                    }
                }
                if min_selected.is_some_and(|m| chosen.len() < m) {
                    return Err(format!("choose at least {}", min_selected.unwrap_or(0)));
                }
                if max_selected.is_some_and(|m| chosen.len() > m) {
                    return Err(format!("choose at most {}", max_selected.unwrap_or(0)));
                }
                Ok(Value::from(chosen))
            }
            FieldKind::Person => {
                let text = single_line(value, 320)?;
                Ok(Value::String(text))
            }
            FieldKind::ConfigurationItem { .. } => {
                let text = single_line(value, 200)?;
                Ok(Value::String(text))
            }
        }
    }
}

fn single_line(value: &Value, limit: usize) -> Result<String, String> {
    let text = value.as_str().ok_or("must be text")?.trim().to_string();
    if text.chars().count() > limit {
        return Err(format!("must be at most {limit} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must be a single line without control characters".into());
    }
    Ok(text)
}

fn option_value(options: &[FormOption], given: &str) -> Result<String, String> {
    options
        .iter()
        .find(|o| o.value == given)
        .map(|o| o.value.clone())
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
            format!("`{given}` is not one of: {}", names.join(", "))
        })
}

fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn range_message(min: Option<String>, max: Option<String>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("must be between {lo} and {hi}"),
        (Some(lo), None) => format!("must be at least {lo}"),
        (None, Some(hi)) => format!("must be at most {hi}"),
        (None, None) => "is out of range".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn laptop_form() -> FormDefinition {
        FormDefinition::parse(&json!({ "fields": [
            { "key": "model", "label": "Model", "type": "choice", "required": true,
              "options": [{ "value": "air" }, { "value": "pro", "label": "MacBook Pro" }] },
            { "key": "ram_gb", "label": "Memory (GB)", "type": "number", "integer": true, "min": 8, "max": 64, "default": 16 },
            { "key": "needed_by", "label": "Needed by", "type": "date", "min": "2026-01-01" },
            { "key": "cost_center", "label": "Cost center", "type": "text", "pattern": "CC-[0-9]{4}", "required": true },
            { "key": "extras", "label": "Extras", "type": "multi_choice", "max_selected": 2,
              "options": [{ "value": "dock" }, { "value": "mouse" }, { "value": "bag" }] },
            { "key": "manager", "label": "Approving manager", "type": "person" },
            { "key": "notes", "label": "Notes", "type": "long_text", "max_length": 20 }
        ]}))
        .expect("valid form")
    }

    fn answers(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn fields_of(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(|e| e.field.to_string()).collect()
    }

    #[test]
    fn valid_answers_are_normalised_and_defaults_filled() {
        let valid = laptop_form()
            .validate(&answers(json!({
                "model": "pro", "needed_by": " 2026-12-01 ", "cost_center": "CC-1234",
                "extras": ["dock", "dock", "mouse"], "manager": "boss@example.com", "ram_gb": "32"
            })))
            .expect("valid");
        assert_eq!(valid.values["ram_gb"], json!(32));
        assert_eq!(valid.values["needed_by"], json!("2026-12-01"));
        assert_eq!(valid.values["extras"], json!(["dock", "mouse"]));
        assert_eq!(
            valid.references,
            vec![Reference {
                key: "manager".into(),
                kind: ReferenceKind::Person,
                value: "boss@example.com".into()
            }]
        );
        let defaults = laptop_form()
            .validate(&answers(
                json!({ "model": "air", "cost_center": "CC-0001" }),
            ))
            .expect("valid");
        assert_eq!(defaults.values["ram_gb"], json!(16));
        assert!(!defaults.values.contains_key("needed_by"));
    }

    #[test]
    fn every_wrong_answer_is_reported_by_field() {
        let errors = laptop_form()
            .validate(&answers(json!({
                "model": "thinkpad", "ram_gb": 12.5, "needed_by": "tomorrow",
                "cost_center": "1234", "extras": ["dock", "mouse", "bag"],
                "notes": "far more than twenty characters", "colour": "red"
            })))
            .expect_err("invalid");
        let mut fields = fields_of(&errors);
        fields.sort();
        assert_eq!(
            fields,
            [
                "answers.colour",
                "answers.cost_center",
                "answers.extras",
                "answers.model",
                "answers.needed_by",
                "answers.notes",
                "answers.ram_gb"
            ]
        );
        let model = errors
            .iter()
            .find(|e| e.field == "answers.model")
            .expect("model");
        assert!(model.message.contains("air, pro"), "{}", model.message);
    }

    #[test]
    fn required_answers_are_required_and_blank_counts_as_missing() {
        let errors = laptop_form()
            .validate(&answers(json!({ "model": "  ", "ram_gb": 70 })))
            .expect_err("invalid");
        assert_eq!(
            fields_of(&errors),
            ["answers.model", "answers.ram_gb", "answers.cost_center"]
        );
        assert!(errors[1].message.contains("between 8 and 64"));
    }

    #[test]
    fn wrong_types_are_refused() {
        let form = laptop_form();
        for (key, value) in [
            ("model", json!(3)),
            ("ram_gb", json!("many")),
            ("ram_gb", json!([16])),
            ("needed_by", json!("2025-12-31")),
            ("extras", json!("dock")),
            ("cost_center", json!("CC-1234\nDROP")),
        ] {
            let mut given = answers(json!({ "model": "air", "cost_center": "CC-1234" }));
            given.insert(key.into(), value.clone());
            let errors = form.validate(&given).expect_err("refused");
            assert_eq!(fields_of(&errors), [format!("answers.{key}")], "{value}");
        }
    }

    #[test]
    fn definitions_are_checked_and_errors_name_the_place() {
        let errors = FormDefinition::parse(&json!({ "fields": [
            { "key": "Bad Key", "label": "x", "type": "text" },
            { "key": "a", "label": "", "type": "text", "pattern": "(" },
            { "key": "a", "label": "dup", "type": "choice", "options": [] },
            { "key": "n", "label": "n", "type": "number", "min": 5, "max": 1 },
            { "key": "c", "label": "c", "type": "choice", "options": [{ "value": "x" }], "default": "y" }
        ]}))
        .expect_err("invalid");
        let fields = fields_of(&errors);
        assert_eq!(
            fields,
            [
                "form.fields[0].key",
                "form.fields[1].label",
                "form.fields[1].pattern",
                "form.fields[2].key",
                "form.fields[2].options",
                "form.fields[3].min",
                "form.fields[4].default"
            ]
        );
        let unknown_type = FormDefinition::parse(
            &json!({ "fields": [{ "key": "a", "label": "a", "type": "colour" }] }),
        )
        .expect_err("unknown type");
        assert_eq!(fields_of(&unknown_type), ["form"]);
    }

    #[test]
    fn definitions_roundtrip_as_plain_json() {
        let form = laptop_form();
        let json = serde_json::to_value(&form).expect("serialise");
        assert_eq!(FormDefinition::parse(&json), Ok(form));
    }
}
