//! The configuration management database: CI classes and their attribute
//! schemas, CI lifecycle and criticality, relationship kinds, and the impact
//! traversal over relationships.
//!
//! Classes are data, not code: each has a [`ClassSchema`] stored as JSON, so
//! operators can add attributes without a release. The schema is therefore
//! parsed and checked here like any other user input, and it in turn checks
//! (and normalises) the attributes of every CI of that class.
//!
//! The traversal is written against a callback rather than a store so it
//! stays pure: the caller supplies the edges one BFS level at a time, which
//! lets a database answer each level with a single query.
//!
//! Why one file: nearly half of it is the unit and property tests (`mod
//! tests`), which build classes, lifecycles and relationships together to
//! check validation and the traversal; the code is five marked sections
//! (attribute schemas, built-in classes, lifecycle and criticality,
//! relationships, impact traversal) read top to bottom, and a split would
//! split those shared fixtures with it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use uuid::Uuid;

use super::text::FieldError;

/// The `field` of errors about a schema definition itself.
const SCHEMA_FIELD: &str = "schema";
/// The `field` of errors about a CI's attribute values; the message names
/// the attribute, because `FieldError::field` must be `'static`.
const ATTRIBUTES_FIELD: &str = "attributes";

/// Longest attribute name; also enforced by the name pattern.
const MAX_NAME_CHARS: usize = 64;
/// Longest string attribute value, in characters.
pub const MAX_STRING_CHARS: usize = 1000;
/// Most attributes in one class. Schemas are operator input and every CI
/// write walks the whole schema, so the size is bounded.
pub const MAX_ATTRIBUTES: usize = 200;
/// Most values in one enum attribute.
const MAX_ENUM_VALUES: usize = 100;
/// Longest enum value, in characters.
const MAX_ENUM_VALUE_CHARS: usize = 100;
/// Longest attribute description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// How much of an offending value is echoed back in an error message.
const MAX_ECHO_CHARS: usize = 60;

/// URL schemes refused even though they fit `scheme://host`: links are
/// rendered in the web UI and chat, and these run code or embed content
/// rather than point somewhere.
const FORBIDDEN_URL_SCHEMES: [&str; 3] = ["javascript", "vbscript", "data"];

// ---------------------------------------------------------------------------
// Attribute schemas
// ---------------------------------------------------------------------------

/// The type of one attribute, and so what values it accepts.
///
/// Serialised internally tagged, e.g. `{"type":"integer"}` or
/// `{"type":"enum","values":["router","switch"]}`. `Enum` is a struct
/// variant because serde cannot tag a bare sequence internally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AttributeType {
    /// Free text, trimmed, at most [`MAX_STRING_CHARS`] characters.
    String,
    /// A whole number that fits in an `i64`.
    Integer,
    /// Any finite number (`f64`).
    Number,
    Boolean,
    /// A calendar date, stored as `YYYY-MM-DD`.
    Date,
    /// An IPv4 or IPv6 address, stored in its canonical text form.
    IpAddress,
    /// A `scheme://host…` URL.
    Url,
    /// One of a fixed list of strings.
    Enum {
        values: Vec<String>,
    },
}

impl AttributeType {
    /// The type's wire name (the `type` tag), for messages.
    pub const fn name(&self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Integer => "integer",
            AttributeType::Number => "number",
            AttributeType::Boolean => "boolean",
            AttributeType::Date => "date",
            AttributeType::IpAddress => "ip_address",
            AttributeType::Url => "url",
            AttributeType::Enum { .. } => "enum",
        }
    }
}

/// One attribute of a CI class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDef {
    /// Matches `[a-z][a-z0-9_]{0,63}`, so it is safe as a JSON key, a query
    /// parameter and a chat `key=value` token alike.
    pub name: String,
    pub kind: AttributeType,
    /// Every CI of the class must have a (non-empty) value.
    #[serde(default)]
    pub required: bool,
    /// No two CIs of the class may share a value. Enforced by the store;
    /// see [`ClassSchema::unique_keys`].
    #[serde(default)]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The attributes a CI class defines.
///
/// Build one from untrusted JSON with [`ClassSchema::parse`], which checks
/// what serde alone cannot (names, duplicates, empty enums).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSchema {
    pub attributes: Vec<AttributeDef>,
}

impl ClassSchema {
    /// Parses and checks a schema, reporting every problem at once so an
    /// operator editing a class fixes them in one round.
    ///
    /// The expected shape is `{"attributes": [{"name": "hostname", "kind":
    /// {"type": "string"}, "required": true, "unique": true}, …]}`; a missing
    /// `attributes` means a class without attributes. Errors use the field
    /// `"schema"` and number attributes from 1.
    pub fn parse(value: &Value) -> Result<ClassSchema, Vec<FieldError>> {
        let error = |message: String| FieldError {
            field: SCHEMA_FIELD.into(),
            message,
        };
        let Some(object) = value.as_object() else {
            return Err(vec![error(
                "must be a JSON object with an `attributes` array".to_owned(),
            )]);
        };
        let mut errors = Vec::new();
        for key in object.keys().filter(|k| k.as_str() != "attributes") {
            errors.push(error(format!(
                "unknown key `{}`; expected only `attributes`",
                echo_str(key)
            )));
        }
        let items: &[Value] = match object.get("attributes") {
            None => &[],
            Some(Value::Array(items)) => items,
            Some(other) => {
                errors.push(error(format!(
                    "`attributes` must be an array (got {})",
                    echo(other)
                )));
                &[]
            }
        };
        if items.len() > MAX_ATTRIBUTES {
            errors.push(error(format!(
                "at most {MAX_ATTRIBUTES} attributes are allowed (got {})",
                items.len()
            )));
            return Err(errors);
        }

        let mut attributes = Vec::with_capacity(items.len());
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let position = i + 1;
            let def: AttributeDef = match serde_json::from_value(item.clone()) {
                Ok(def) => def,
                Err(e) => {
                    errors.push(error(format!("attribute #{position}: {e}")));
                    continue;
                }
            };
            let label = format!("attribute #{position} (`{}`)", echo_str(&def.name));
            if !is_valid_name(&def.name) {
                errors.push(error(format!(
                    "{label}: name must match [a-z][a-z0-9_]{{0,{}}}",
                    MAX_NAME_CHARS - 1
                )));
            } else if !seen.insert(def.name.clone()) {
                errors.push(error(format!("{label}: duplicate name")));
            }
            if let AttributeType::Enum { values } = &def.kind {
                errors.extend(check_enum_values(values).map(|m| error(format!("{label}: {m}"))));
            } else if let Some(extra) = item
                .get("kind")
                .and_then(Value::as_object)
                .and_then(|kind| kind.keys().find(|k| k.as_str() != "type"))
            {
                // serde ignores stray keys next to the tag of a unit variant
                // despite `deny_unknown_fields`; a `values` list on a string
                // attribute is a mistake worth pointing out.
                errors.push(error(format!(
                    "{label}: unknown key `{}` for type {}",
                    echo_str(extra),
                    def.kind.name()
                )));
            }
            if let Some(description) = &def.description {
                let chars = description.chars().count();
                if chars > MAX_DESCRIPTION_CHARS {
                    errors.push(error(format!(
                        "{label}: description must be at most \
                         {MAX_DESCRIPTION_CHARS} characters (got {chars})"
                    )));
                }
            }
            attributes.push(def);
        }
        if errors.is_empty() {
            Ok(ClassSchema { attributes })
        } else {
            Err(errors)
        }
    }

    /// The definition of the attribute called `name`, if any.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Names of the attributes whose values must be unique within the class,
    /// in schema order.
    pub fn unique_keys(&self) -> Vec<&str> {
        self.attributes
            .iter()
            .filter(|a| a.unique)
            .map(|a| a.name.as_str())
            .collect()
    }

    /// Checks a CI's attributes against the schema and returns them
    /// normalised, reporting every problem at once.
    ///
    /// Normalisation: strings are trimmed; dates become `YYYY-MM-DD`; IP
    /// addresses take their canonical form; URL schemes are lower-cased; enum
    /// values take the schema's spelling (matching ignores ASCII case).
    /// Integers, numbers and booleans may also be given as strings
    /// (`"4"`, `"16.5"`, `"true"`), because chat commands only carry text.
    /// `null` and blank strings mean "no value", so they are dropped (and
    /// count as missing for required attributes).
    ///
    /// Errors use the field `"attributes"` and name the attribute in the
    /// message, e.g. ``"`hostname` is required"``.
    pub fn validate(
        &self,
        attrs: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        let error = |message: String| FieldError {
            field: ATTRIBUTES_FIELD.into(),
            message,
        };
        let mut errors = Vec::new();

        let mut unknown: Vec<&String> = attrs
            .keys()
            .filter(|k| self.attribute(k).is_none())
            .collect();
        unknown.sort();
        for key in unknown {
            let known = if self.attributes.is_empty() {
                "none".to_owned()
            } else {
                self.attributes
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            errors.push(error(format!(
                "unknown attribute `{}`; known attributes: {known}",
                echo_str(key)
            )));
        }

        let mut normalized = Map::new();
        for def in &self.attributes {
            let value = attrs.get(&def.name).filter(|v| !is_blank(v));
            match value {
                None if def.required => {
                    errors.push(error(format!("`{}` is required", def.name)));
                }
                None => {}
                Some(value) => match normalize_value(&def.kind, value) {
                    Ok(clean) => {
                        normalized.insert(def.name.clone(), clean);
                    }
                    Err(problem) => {
                        errors.push(error(format!("`{}` {problem}", def.name)));
                    }
                },
            }
        }
        if errors.is_empty() {
            Ok(normalized)
        } else {
            Err(errors)
        }
    }
}

/// `[a-z][a-z0-9_]{0,63}`, written out because the crate has no regex.
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME_CHARS
}

/// Problems with an enum's value list, as message fragments.
fn check_enum_values(values: &[String]) -> impl Iterator<Item = String> {
    let mut problems = Vec::new();
    if values.is_empty() {
        problems.push("an enum needs at least one value".to_owned());
    }
    if values.len() > MAX_ENUM_VALUES {
        problems.push(format!(
            "an enum may have at most {MAX_ENUM_VALUES} values (got {})",
            values.len()
        ));
    }
    let mut seen = HashSet::new();
    for value in values {
        if value.trim().is_empty() {
            problems.push("enum values must not be blank".to_owned());
        } else if value.trim() != value {
            problems.push(format!(
                "enum value `{}` has surrounding whitespace",
                echo_str(value)
            ));
        } else if value.chars().count() > MAX_ENUM_VALUE_CHARS {
            problems.push(format!(
                "enum values must be at most {MAX_ENUM_VALUE_CHARS} characters"
            ));
        } else if value.chars().any(char::is_control) {
            problems.push("enum values must not contain control characters".to_owned());
        } else if !seen.insert(value.to_ascii_lowercase()) {
            // Matching ignores ASCII case, so values differing only in case
            // would be ambiguous.
            problems.push(format!("duplicate enum value `{}`", echo_str(value)));
        }
    }
    problems.into_iter()
}

/// `null`, or a string with nothing but whitespace.
fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Checks one non-blank value against its type. The error is the message
/// after the attribute name, e.g. ``must be an integer (got "four")``.
fn normalize_value(kind: &AttributeType, value: &Value) -> Result<Value, String> {
    let text = value.as_str().map(str::trim);
    let wrong = |expected: &str| format!("must be {expected} (got {})", echo(value));
    match kind {
        AttributeType::String => {
            let Some(text) = text else {
                return Err(wrong("a string"));
            };
            let chars = text.chars().count();
            if chars > MAX_STRING_CHARS {
                return Err(format!(
                    "must be at most {MAX_STRING_CHARS} characters (got {chars})"
                ));
            }
            // Newlines and tabs are fine in notes; other control characters
            // (NUL above all) cannot be stored or displayed sensibly.
            if text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                return Err(
                    "must not contain control characters other than newlines and tabs".to_owned(),
                );
            }
            Ok(Value::from(text))
        }
        AttributeType::Integer => {
            let parsed = match value {
                Value::Number(n) => n.as_i64(),
                _ => text.and_then(|t| t.parse::<i64>().ok()),
            };
            parsed.map(Value::from).ok_or_else(|| wrong("an integer"))
        }
        AttributeType::Number => {
            let parsed = match value {
                Value::Number(_) => return Ok(value.clone()),
                _ => text.and_then(|t| t.parse::<f64>().ok()),
            };
            parsed
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| wrong("a number"))
        }
        AttributeType::Boolean => {
            let parsed = match value {
                Value::Bool(b) => Some(*b),
                _ => text.and_then(|t| {
                    if t.eq_ignore_ascii_case("true") {
                        Some(true)
                    } else if t.eq_ignore_ascii_case("false") {
                        Some(false)
                    } else {
                        None
                    }
                }),
            };
            parsed
                .map(Value::Bool)
                .ok_or_else(|| wrong("true or false"))
        }
        AttributeType::Date => text
            .and_then(parse_date)
            .map(Value::from)
            .ok_or_else(|| wrong("a date in YYYY-MM-DD form")),
        AttributeType::IpAddress => text
            .and_then(|t| t.parse::<IpAddr>().ok())
            .map(|ip| Value::from(ip.to_string()))
            .ok_or_else(|| wrong("an IP address")),
        AttributeType::Url => {
            let Some(text) = text else {
                return Err(wrong("a URL like https://host/path"));
            };
            let chars = text.chars().count();
            if chars > MAX_STRING_CHARS {
                return Err(format!(
                    "must be at most {MAX_STRING_CHARS} characters (got {chars})"
                ));
            }
            normalize_url(text)
                .map(Value::from)
                .ok_or_else(|| wrong("a URL like https://host/path"))
        }
        AttributeType::Enum { values } => text
            .and_then(|t| values.iter().find(|v| v.eq_ignore_ascii_case(t)))
            .map(|v| Value::from(v.as_str()))
            .ok_or_else(|| {
                format!(
                    "must be one of: {} (got {})",
                    values.join(", "),
                    echo(value)
                )
            }),
    }
}

/// A `YYYY-MM-DD` date (chrono also takes unpadded month and day) in its
/// canonical form. Years are limited to four digits so the canonical form
/// sorts as text.
fn parse_date(text: &str) -> Option<String> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let year = chrono::Datelike::year(&date);
    (1..=9999)
        .contains(&year)
        .then(|| date.format("%Y-%m-%d").to_string())
}

/// A deliberately simple URL check: `scheme://host…` with an RFC 3986
/// scheme, a non-empty host and no whitespace. Full URL parsing would accept
/// far more than anyone means to store as a CI's link. Returns the URL with
/// its scheme lower-cased.
fn normalize_url(text: &str) -> Option<String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = text.split_once("://")?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let scheme = scheme.to_ascii_lowercase();
    if !scheme_ok || FORBIDDEN_URL_SCHEMES.contains(&scheme.as_str()) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    // `[::1]:8080` splits at the first colon into `[`, which is still a
    // non-empty host; good enough for a sanity check.
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{rest}"))
}

/// A value as JSON, shortened so an error cannot echo a megabyte back.
fn echo(value: &Value) -> String {
    shorten(&value.to_string())
}

/// A user-supplied string for an error message, shortened.
fn echo_str(text: &str) -> String {
    shorten(text)
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(MAX_ECHO_CHARS).collect();
        short.push('…');
        short
    }
}

// ---------------------------------------------------------------------------
// Built-in classes
// ---------------------------------------------------------------------------

fn attr(name: &str, kind: AttributeType) -> AttributeDef {
    AttributeDef {
        name: name.to_owned(),
        kind,
        required: false,
        unique: false,
        description: None,
    }
}

fn one_of(values: &[&str]) -> AttributeType {
    AttributeType::Enum {
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

/// The identifying hostname of a machine: required and unique, since it is
/// how people and monitoring alerts refer to it.
fn hostname() -> AttributeDef {
    AttributeDef {
        required: true,
        unique: true,
        ..attr("hostname", AttributeType::String)
    }
}

/// The classes a fresh installation starts with, as `(name, label,
/// schema)`. Names are stable identifiers; labels are for display.
pub fn default_classes() -> Vec<(&'static str, &'static str, ClassSchema)> {
    use AttributeType as T;
    let schema = |attributes: Vec<AttributeDef>| ClassSchema { attributes };
    vec![
        (
            "service",
            "Service",
            schema(vec![attr("url", T::Url), attr("support_hours", T::String)]),
        ),
        (
            "application",
            "Application",
            schema(vec![
                attr("vendor", T::String),
                attr("version", T::String),
                attr("url", T::Url),
            ]),
        ),
        (
            "server",
            "Server",
            schema(vec![
                hostname(),
                attr("ip_address", T::IpAddress),
                attr("os", T::String),
                attr("cpu_count", T::Integer),
                attr("memory_gb", T::Number),
                attr("location", T::String),
            ]),
        ),
        (
            "virtual_machine",
            "Virtual machine",
            schema(vec![
                hostname(),
                attr("ip_address", T::IpAddress),
                attr("hypervisor", T::String),
                attr("os", T::String),
                attr("cpu_count", T::Integer),
                attr("memory_gb", T::Number),
            ]),
        ),
        (
            "database",
            "Database",
            schema(vec![
                attr(
                    "engine",
                    one_of(&[
                        "postgres", "mysql", "mssql", "oracle", "sqlite", "mongodb", "other",
                    ]),
                ),
                attr("version", T::String),
                attr("port", T::Integer),
            ]),
        ),
        (
            "network_device",
            "Network device",
            schema(vec![
                hostname(),
                AttributeDef {
                    unique: true,
                    ..attr("serial", T::String)
                },
                attr(
                    "kind",
                    one_of(&[
                        "router",
                        "switch",
                        "firewall",
                        "access_point",
                        "load_balancer",
                    ]),
                ),
                attr("ip_address", T::IpAddress),
                attr("vendor", T::String),
                attr("model", T::String),
            ]),
        ),
        (
            "saas",
            "SaaS",
            schema(vec![
                attr("vendor", T::String),
                attr("url", T::Url),
                attr("contract_end", T::Date),
            ]),
        ),
        (
            "storage",
            "Storage",
            schema(vec![
                attr("kind", one_of(&["san", "nas", "object", "block", "backup"])),
                attr("vendor", T::String),
                attr("capacity_tb", T::Number),
            ]),
        ),
        (
            "container_cluster",
            "Container cluster",
            schema(vec![
                attr(
                    "platform",
                    one_of(&["kubernetes", "openshift", "nomad", "ecs", "other"]),
                ),
                attr("version", T::String),
                attr("api_url", T::Url),
            ]),
        ),
    ]
}

// ---------------------------------------------------------------------------
// Lifecycle and criticality
// ---------------------------------------------------------------------------

/// Where a configuration item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Ordered or being built; not yet serving.
    Planned,
    InUse,
    /// Temporarily out of service, expected back.
    Maintenance,
    /// Out of service for good, but still exists (and may be revived).
    Retired,
    /// Physically or logically gone; the record is kept for history only.
    Disposed,
}

string_enum!(Lifecycle, "lifecycle", {
    Planned => "planned",
    InUse => "in_use",
    Maintenance => "maintenance",
    Retired => "retired",
    Disposed => "disposed",
});

impl Lifecycle {
    /// The stage every new CI starts in.
    pub const fn initial() -> Lifecycle {
        Lifecycle::Planned
    }

    /// Whether the CI is, or is about to be, part of the live estate, and
    /// so belongs in impact analysis and pickers.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            Lifecycle::Planned | Lifecycle::InUse | Lifecycle::Maintenance
        )
    }

    /// The stages a CI may move to from `self`.
    pub const fn allowed_next(self) -> &'static [Lifecycle] {
        use Lifecycle::*;
        match self {
            Planned => &[InUse, Retired],
            InUse => &[Maintenance, Retired],
            Maintenance => &[InUse, Retired],
            // Retired hardware is sometimes pressed back into service;
            // disposal is the point of no return.
            Retired => &[Disposed, InUse],
            Disposed => &[],
        }
    }

    /// Checks that a CI may move from `from` to `to`.
    pub fn transition(from: Lifecycle, to: Lifecycle) -> Result<(), LifecycleError> {
        let allowed = from.allowed_next();
        if allowed.contains(&to) {
            Ok(())
        } else {
            Err(LifecycleError {
                from,
                to,
                allowed: allowed.to_vec(),
            })
        }
    }
}

/// A lifecycle change that is not allowed, with the legal alternatives so
/// the message can say what is possible instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a configuration item cannot move from {from} to {to}; allowed from {from}: {}",
    list_stages(.allowed)
)]
pub struct LifecycleError {
    pub from: Lifecycle,
    pub to: Lifecycle,
    pub allowed: Vec<Lifecycle>,
}

fn list_stages(stages: &[Lifecycle]) -> String {
    if stages.is_empty() {
        "none".to_owned()
    } else {
        stages
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How much the business suffers when a CI fails. Ordered, so `Critical` is
/// the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

string_enum!(Criticality, "criticality", {
    Low => "low",
    Medium => "medium",
    High => "high",
    Critical => "critical",
});

// ---------------------------------------------------------------------------
// Relationships
// ---------------------------------------------------------------------------

/// A directed relationship, read "source <kind> target", e.g. "app
/// depends_on db".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    DependsOn,
    /// The source is software running on the target host.
    RunsOn,
    /// A network link; symmetric in meaning, whichever way it was recorded.
    ConnectedTo,
    /// The source is a component of the target.
    PartOf,
    Uses,
    /// The source holds backups of the target.
    BacksUp,
}

string_enum!(RelationKind, "relation kind", {
    DependsOn => "depends_on",
    RunsOn => "runs_on",
    ConnectedTo => "connected_to",
    PartOf => "part_of",
    Uses => "uses",
    BacksUp => "backs_up",
});

/// Which way a failure spreads along a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Propagation {
    /// A failing target affects the source (the consumer), not vice versa.
    ToSource,
    /// A failure at either end affects the other.
    Both,
    /// Failures do not spread along this relationship.
    None,
}

impl RelationKind {
    /// The relationship read forwards, for sentences: "app *depends on* db".
    pub const fn label(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "depends on",
            RelationKind::RunsOn => "runs on",
            RelationKind::ConnectedTo => "connected to",
            RelationKind::PartOf => "part of",
            RelationKind::Uses => "uses",
            RelationKind::BacksUp => "backs up",
        }
    }

    /// The relationship read backwards, for showing it from the target's
    /// side: "db *is depended on by* app".
    pub const fn inverse_label(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "is depended on by",
            RelationKind::RunsOn => "hosts",
            RelationKind::ConnectedTo => "connected to",
            RelationKind::PartOf => "contains",
            RelationKind::Uses => "used by",
            RelationKind::BacksUp => "backed up by",
        }
    }

    /// Which way a failure spreads along this relationship.
    pub const fn propagates(self) -> Propagation {
        match self {
            RelationKind::DependsOn
            | RelationKind::RunsOn
            | RelationKind::PartOf
            | RelationKind::Uses => Propagation::ToSource,
            RelationKind::ConnectedTo => Propagation::Both,
            // A broken backup target does not take down what it backs up,
            // and the reverse is a data-protection question, not an outage.
            RelationKind::BacksUp => Propagation::None,
        }
    }
}

// ---------------------------------------------------------------------------
// Impact traversal
// ---------------------------------------------------------------------------

/// A stored relationship: `source <kind> target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    pub source: Uuid,
    pub target: Uuid,
    pub kind: RelationKind,
}

/// Which question a traversal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Who is affected if the start fails: follows failures the way they
    /// spread (from a `DependsOn` target to its source, etc.).
    Upstream,
    /// What the start depends on: the reverse, i.e. whose failure would
    /// reach the start.
    Downstream,
}

string_enum!(Direction, "direction", {
    Upstream => "upstream",
    Downstream => "downstream",
});

/// One CI found by a traversal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    pub ci: Uuid,
    /// Number of relationships between the start and `ci`; at least 1.
    pub depth: u32,
    /// The relationships walked from the start to `ci`, in walking order,
    /// each as stored: `(source, kind, target)`. The first touches the
    /// start, the last touches `ci`, consecutive ones share a CI, and
    /// `path.len() == depth`. Edges keep their stored orientation (the walk
    /// may cross them target-to-source) so each reads as a true sentence.
    pub path: Vec<(Uuid, RelationKind, Uuid)>,
}

/// The result of [`traverse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Traversal {
    /// Every CI reached, each once at its shortest depth, sorted by depth
    /// then id. The start is not included.
    pub reached: Vec<Reached>,
    /// The node cap was hit: there are more CIs within `max_depth` than
    /// `reached` lists.
    pub truncated: bool,
}

/// The CI at the other end of `edge` if a walk in `direction` standing on
/// `from` may cross it, else `None`.
fn next_hop(edge: &Edge, from: Uuid, direction: Direction) -> Option<Uuid> {
    if edge.source == edge.target {
        return None;
    }
    let other = if edge.source == from {
        edge.target
    } else if edge.target == from {
        edge.source
    } else {
        return None;
    };
    match (edge.kind.propagates(), direction) {
        (Propagation::None, _) => None,
        (Propagation::Both, _) => Some(other),
        // A failing target affects the source: walking upstream we stand on
        // the target and step to the source; downstream is the mirror image.
        (Propagation::ToSource, Direction::Upstream) => (edge.target == from).then_some(other),
        (Propagation::ToSource, Direction::Downstream) => (edge.source == from).then_some(other),
    }
}

/// Breadth-first walk of the relationship graph from `start`.
///
/// `edges_of_many` is called once per BFS level with that level's CIs (the
/// first call gets just `[start]`, sorted by id after that) and must return
/// every edge that touches any of them — as source or target — regardless
/// of kind; the walk decides which to follow per [`Direction`] and
/// [`RelationKind::propagates`]. That lets a store answer each level with a
/// single `WHERE source = ANY($1) OR target = ANY($1)` query. Extra edges
/// (touching none of the given CIs), duplicates and self-loops are
/// tolerated and ignored. No CI is ever passed twice, and CIs at
/// `max_depth` are never expanded, so there are at most `max_depth` calls.
///
/// Each CI is reported once, at its shortest depth. Among equally short
/// paths the choice is deterministic whatever order the edges arrive in:
/// the level's CIs are expanded in id order, and each one's edges in order
/// of (kind name, other CI's id, source, target).
///
/// `max_depth == 0` returns nothing without calling `edges_of_many`. At
/// most `max_nodes` CIs are reported; finding one more stops the walk and
/// sets [`Traversal::truncated`], which bounds both the work and the answer.
pub fn traverse(
    start: Uuid,
    direction: Direction,
    max_depth: u32,
    max_nodes: usize,
    mut edges_of_many: impl FnMut(&[Uuid]) -> Vec<Edge>,
) -> Traversal {
    let mut walker = Traverser::new(start, direction, max_depth, max_nodes);
    while let Some(frontier) = walker.frontier() {
        let edges = edges_of_many(&frontier);
        walker.advance(edges);
    }
    walker.finish()
}

/// [`traverse`] one level at a time, for callers whose edge lookups are
/// asynchronous (the store): ask for the [`Traverser::frontier`], fetch the
/// edges touching it, [`Traverser::advance`], repeat, then
/// [`Traverser::finish`].
pub struct Traverser {
    direction: Direction,
    max_depth: u32,
    max_nodes: usize,
    reached: Vec<Reached>,
    /// Every CI seen, with its index in `reached` (none for the start).
    seen: HashMap<Uuid, Option<usize>>,
    frontier: Vec<Uuid>,
    depth: u32,
    truncated: bool,
}

impl Traverser {
    pub fn new(start: Uuid, direction: Direction, max_depth: u32, max_nodes: usize) -> Self {
        Self {
            direction,
            max_depth,
            max_nodes,
            reached: Vec::new(),
            seen: HashMap::from([(start, None)]),
            frontier: vec![start],
            depth: 0,
            truncated: false,
        }
    }

    /// The CIs whose edges the next level needs, or `None` when done.
    pub fn frontier(&self) -> Option<Vec<Uuid>> {
        let more = !self.frontier.is_empty() && self.depth < self.max_depth && !self.truncated;
        more.then(|| self.frontier.clone())
    }

    /// Takes the edges touching the current frontier and moves one level on.
    pub fn advance(&mut self, edges: Vec<Edge>) {
        let direction = self.direction;
        // Followable edges per frontier CI, as (kind, next CI, edge).
        let mut candidates: HashMap<Uuid, Vec<(RelationKind, Uuid, Edge)>> =
            self.frontier.iter().map(|&ci| (ci, Vec::new())).collect();
        for edge in edges {
            // An edge between two frontier CIs is considered from both ends.
            for from in [edge.source, edge.target] {
                if let (Some(list), Some(to)) =
                    (candidates.get_mut(&from), next_hop(&edge, from, direction))
                {
                    list.push((edge.kind, to, edge));
                }
            }
        }
        self.depth += 1;

        let mut next = Vec::new();
        let frontier = std::mem::take(&mut self.frontier);
        'level: for from in &frontier {
            let mut list = candidates.remove(from).unwrap_or_default();
            list.sort_by(|a, b| {
                (a.0.as_str(), a.1, a.2.source, a.2.target).cmp(&(
                    b.0.as_str(),
                    b.1,
                    b.2.source,
                    b.2.target,
                ))
            });
            for (kind, to, edge) in list {
                if self.seen.contains_key(&to) {
                    continue;
                }
                if self.reached.len() >= self.max_nodes {
                    self.truncated = true;
                    break 'level;
                }
                let mut path = self
                    .seen
                    .get(from)
                    .copied()
                    .flatten()
                    .and_then(|i| self.reached.get(i))
                    .map(|r| r.path.clone())
                    .unwrap_or_default();
                path.push((edge.source, kind, edge.target));
                self.seen.insert(to, Some(self.reached.len()));
                self.reached.push(Reached {
                    ci: to,
                    depth: self.depth,
                    path,
                });
                next.push(to);
            }
        }
        next.sort_unstable();
        self.frontier = next;
    }

    /// The CIs reached, by depth then id.
    pub fn finish(mut self) -> Traversal {
        self.reached.sort_by_key(|r| (r.depth, r.ci));
        Traversal {
            reached: self.reached,
            truncated: self.truncated,
        }
    }
}

/// Which classes a relationship kind may join, for the built-in classes
/// (organization-defined classes may relate freely). Keeps the graph
/// meaningful: only something that executes can run on a host, and only
/// infrastructure is cabled together.
pub fn relation_allowed(
    kind: RelationKind,
    source_class: &str,
    target_class: &str,
) -> Result<(), String> {
    const BUILTIN: &[&str] = &[
        "service",
        "application",
        "server",
        "virtual_machine",
        "database",
        "network_device",
        "saas",
        "storage",
        "container_cluster",
    ];
    const HOSTS: &[&str] = &["server", "virtual_machine", "container_cluster"];
    const RUNS: &[&str] = &[
        "application",
        "database",
        "virtual_machine",
        "container_cluster",
        "service",
    ];
    const WIRED: &[&str] = &[
        "server",
        "virtual_machine",
        "network_device",
        "storage",
        "container_cluster",
    ];
    if !BUILTIN.contains(&source_class) || !BUILTIN.contains(&target_class) {
        return Ok(());
    }
    let refuse = |why: &str| {
        Err(format!(
            "{source_class} {} {target_class} is not allowed: {why}",
            kind.label()
        ))
    };
    match kind {
        RelationKind::RunsOn if !RUNS.contains(&source_class) => refuse("only applications, databases, VMs, clusters and services run on something"),
        RelationKind::RunsOn if !HOSTS.contains(&target_class) => refuse("only servers, virtual machines and container clusters host things"),
        RelationKind::ConnectedTo if !(WIRED.contains(&source_class) && WIRED.contains(&target_class)) => {
            refuse("only infrastructure (servers, VMs, network devices, storage, clusters) is connected")
        }
        RelationKind::BacksUp if source_class != "storage" && source_class != "saas" && source_class != "server" => {
            refuse("backups come from storage, a server or a backup service")
        }
        _ => Ok(()),
    }
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.source, self.kind.label(), self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    // ----- helpers -------------------------------------------------------

    fn schema(value: Value) -> ClassSchema {
        match ClassSchema::parse(&value) {
            Ok(schema) => schema,
            Err(errors) => panic!("schema did not parse: {errors:?}"),
        }
    }

    fn parse_errors(value: Value) -> Vec<String> {
        ClassSchema::parse(&value)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn server() -> ClassSchema {
        default_classes()
            .into_iter()
            .find(|(name, _, _)| *name == "server")
            .map(|(_, _, schema)| schema)
            .unwrap_or_default()
    }

    fn validate_errors(schema: &ClassSchema, attrs: Value) -> Vec<String> {
        schema
            .validate(&object(attrs))
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// A schema with one optional attribute of each type.
    fn every_type() -> ClassSchema {
        schema(json!({"attributes": [
            {"name": "s", "kind": {"type": "string"}},
            {"name": "i", "kind": {"type": "integer"}},
            {"name": "n", "kind": {"type": "number"}},
            {"name": "b", "kind": {"type": "boolean"}},
            {"name": "d", "kind": {"type": "date"}},
            {"name": "ip", "kind": {"type": "ip_address"}},
            {"name": "u", "kind": {"type": "url"}},
            {"name": "e", "kind": {"type": "enum", "values": ["red", "Green"]}},
        ]}))
    }

    // ----- schema parsing ------------------------------------------------

    #[test]
    fn attribute_type_serde_shape() {
        assert_eq!(
            serde_json::to_value(AttributeType::IpAddress).ok(),
            Some(json!({"type": "ip_address"}))
        );
        let kind = AttributeType::Enum {
            values: vec!["a".to_owned(), "b".to_owned()],
        };
        assert_eq!(
            serde_json::to_value(&kind).ok(),
            Some(json!({"type": "enum", "values": ["a", "b"]}))
        );
        assert_eq!(
            serde_json::from_value::<AttributeType>(json!({"type": "string"})).ok(),
            Some(AttributeType::String)
        );
        // Stray keys are refused rather than silently ignored.
        assert!(serde_json::from_value::<AttributeType>(
            json!({"type": "enum", "values": ["a"], "extra": 1})
        )
        .is_err());
        assert_eq!(
            parse_errors(json!({"attributes": [
                {"name": "os", "kind": {"type": "string", "values": ["linux"]}}
            ]})),
            vec!["schema: attribute #1 (`os`): unknown key `values` for type string"]
        );
        for kind in [
            AttributeType::String,
            AttributeType::Integer,
            AttributeType::Number,
            AttributeType::Boolean,
            AttributeType::Date,
            AttributeType::IpAddress,
            AttributeType::Url,
            kind.clone(),
        ] {
            let tag = serde_json::to_value(&kind)
                .ok()
                .and_then(|v| v.get("type").cloned());
            assert_eq!(tag, Some(Value::from(kind.name())));
        }
    }

    #[test]
    fn parse_happy_path_with_defaults() {
        let parsed = schema(json!({"attributes": [
            {"name": "hostname", "kind": {"type": "string"}, "required": true, "unique": true,
             "description": "FQDN"},
            {"name": "cpu_count", "kind": {"type": "integer"}},
        ]}));
        assert_eq!(parsed.attributes.len(), 2);
        assert_eq!(
            parsed.attribute("cpu_count"),
            Some(&AttributeDef {
                name: "cpu_count".to_owned(),
                kind: AttributeType::Integer,
                required: false,
                unique: false,
                description: None,
            })
        );
        assert_eq!(parsed.unique_keys(), vec!["hostname"]);
        assert_eq!(schema(json!({})), ClassSchema::default());
        assert_eq!(schema(json!({"attributes": []})), ClassSchema::default());
    }

    #[test]
    fn parse_rejects_bad_names() {
        for bad in ["", "Hostname", "1st", "_x", "with space", "dash-ed", "é"] {
            let errors = parse_errors(json!({"attributes": [
                {"name": bad, "kind": {"type": "string"}}
            ]}));
            assert_eq!(errors.len(), 1, "{bad:?}: {errors:?}");
            assert!(errors[0].contains("name must match"), "{errors:?}");
        }
        let longest = format!("a{}", "b".repeat(63));
        assert!(ClassSchema::parse(&json!({"attributes": [
            {"name": longest, "kind": {"type": "string"}}
        ]}))
        .is_ok());
        let too_long = format!("a{}", "b".repeat(64));
        assert_eq!(
            parse_errors(json!({"attributes": [{"name": too_long, "kind": {"type": "string"}}]}))
                .len(),
            1
        );
    }

    #[test]
    fn parse_rejects_duplicates_and_empty_enums_all_at_once() {
        let errors = parse_errors(json!({"attributes": [
            {"name": "os", "kind": {"type": "string"}},
            {"name": "os", "kind": {"type": "integer"}},
            {"name": "tier", "kind": {"type": "enum", "values": []}},
            {"name": "size", "kind": {"type": "enum", "values": ["s", "S", " m"]}},
        ]}));
        assert_eq!(
            errors,
            vec![
                "schema: attribute #2 (`os`): duplicate name",
                "schema: attribute #3 (`tier`): an enum needs at least one value",
                "schema: attribute #4 (`size`): duplicate enum value `S`",
                "schema: attribute #4 (`size`): enum value ` m` has surrounding whitespace",
            ]
        );
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        assert_eq!(
            parse_errors(json!([])),
            vec!["schema: must be a JSON object with an `attributes` array"]
        );
        assert_eq!(
            parse_errors(json!({"attributes": 3})),
            vec!["schema: `attributes` must be an array (got 3)"]
        );
        assert_eq!(
            parse_errors(json!({"attributes": [], "extra": 1})),
            vec!["schema: unknown key `extra`; expected only `attributes`"]
        );
        let errors = parse_errors(json!({"attributes": [
            {"name": "a", "kind": {"type": "colour"}},
            {"name": "b"},
            {"name": "c", "kind": {"type": "string"}, "requried": true},
        ]}));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("schema: attribute #1: unknown variant `colour`"));
        assert!(errors[1].starts_with("schema: attribute #2: missing field `kind`"));
        assert!(errors[2].starts_with("schema: attribute #3: unknown field `requried`"));
    }

    #[test]
    fn parse_bounds_the_schema() {
        let many: Vec<Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| json!({"name": format!("a{i}"), "kind": {"type": "string"}}))
            .collect();
        assert_eq!(
            parse_errors(json!({ "attributes": many })),
            vec![format!(
                "schema: at most {MAX_ATTRIBUTES} attributes are allowed (got {})",
                MAX_ATTRIBUTES + 1
            )]
        );
    }

    #[test]
    fn schemas_roundtrip_through_json() {
        let original = every_type();
        let json = serde_json::to_value(&original).ok().unwrap_or_default();
        assert_eq!(ClassSchema::parse(&json), Ok(original));
    }

    #[test]
    fn default_classes_parse_and_have_unique_names() {
        let classes = default_classes();
        let names: HashSet<_> = classes.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names.len(), classes.len());
        for expected in [
            "service",
            "application",
            "server",
            "virtual_machine",
            "database",
            "network_device",
            "saas",
            "storage",
            "container_cluster",
        ] {
            assert!(names.contains(expected), "{expected}");
        }
        for (name, label, class) in classes {
            assert!(is_valid_name(name), "{name}");
            assert!(!label.is_empty());
            let json = serde_json::to_value(&class).ok().unwrap_or_default();
            assert_eq!(ClassSchema::parse(&json), Ok(class), "{name}");
        }
        assert_eq!(server().unique_keys(), vec!["hostname"]);
        let network = default_classes()
            .into_iter()
            .find(|(name, _, _)| *name == "network_device")
            .map(|(_, _, schema)| schema)
            .unwrap_or_default();
        assert_eq!(network.unique_keys(), vec!["hostname", "serial"]);
    }

    // ----- attribute validation -------------------------------------------

    #[test]
    fn validate_happy_path_normalizes() {
        let result = every_type().validate(&object(json!({
            "s": "  padded  ",
            "i": 42,
            "n": 2.5,
            "b": false,
            "d": "2024-3-5",
            "ip": "2001:DB8:0:0:0:0:0:1",
            "u": "HTTPS://Example.com/a?b#c",
            "e": "GREEN",
        })));
        assert_eq!(
            result,
            Ok(object(json!({
                "s": "padded",
                "i": 42,
                "n": 2.5,
                "b": false,
                "d": "2024-03-05",
                "ip": "2001:db8::1",
                "u": "https://Example.com/a?b#c",
                "e": "Green",
            })))
        );
    }

    #[test]
    fn validate_accepts_text_forms_from_chat() {
        let result = every_type().validate(&object(json!({
            "i": " -7 ",
            "n": "16",
            "b": "TRUE",
        })));
        assert_eq!(result, Ok(object(json!({"i": -7, "n": 16.0, "b": true}))));
    }

    #[test]
    fn validate_drops_blank_values() {
        let result = every_type().validate(&object(json!({"s": "   ", "i": null, "d": ""})));
        assert_eq!(result, Ok(Map::new()));
    }

    #[test]
    fn validate_required() {
        let server = server();
        assert_eq!(
            validate_errors(&server, json!({})),
            vec!["attributes: `hostname` is required"]
        );
        assert_eq!(
            validate_errors(&server, json!({"hostname": "  "})),
            vec!["attributes: `hostname` is required"]
        );
        assert_eq!(
            validate_errors(&server, json!({"hostname": null})),
            vec!["attributes: `hostname` is required"]
        );
        assert!(server
            .validate(&object(json!({"hostname": "web-01"})))
            .is_ok());
    }

    #[test]
    fn unknown_attribute_lists_known_ones() {
        assert_eq!(
            validate_errors(&server(), json!({"hostname": "web-01", "colour": "red"})),
            vec![
                "attributes: unknown attribute `colour`; known attributes: \
                 hostname, ip_address, os, cpu_count, memory_gb, location"
            ]
        );
        assert_eq!(
            validate_errors(&ClassSchema::default(), json!({"x": 1})),
            vec!["attributes: unknown attribute `x`; known attributes: none"]
        );
    }

    #[test]
    fn type_errors() {
        let schema = every_type();
        let cases = [
            (json!({"s": 5}), "`s` must be a string (got 5)"),
            (
                json!({"i": "four"}),
                "`i` must be an integer (got \"four\")",
            ),
            (json!({"i": 4.5}), "`i` must be an integer (got 4.5)"),
            (
                json!({"i": 9_223_372_036_854_775_808u64}),
                "`i` must be an integer (got 9223372036854775808)",
            ),
            (json!({"n": "lots"}), "`n` must be a number (got \"lots\")"),
            (json!({"n": "NaN"}), "`n` must be a number (got \"NaN\")"),
            (
                json!({"b": "yes"}),
                "`b` must be true or false (got \"yes\")",
            ),
            (json!({"b": 1}), "`b` must be true or false (got 1)"),
            (
                json!({"d": "2024-02-30"}),
                "`d` must be a date in YYYY-MM-DD form (got \"2024-02-30\")",
            ),
            (
                json!({"d": "05/03/2024"}),
                "`d` must be a date in YYYY-MM-DD form (got \"05/03/2024\")",
            ),
            (
                json!({"ip": "10.0.0.256"}),
                "`ip` must be an IP address (got \"10.0.0.256\")",
            ),
            (
                json!({"u": "example.com"}),
                "`u` must be a URL like https://host/path (got \"example.com\")",
            ),
            (
                json!({"e": "blue"}),
                "`e` must be one of: red, Green (got \"blue\")",
            ),
            (json!({"e": 1}), "`e` must be one of: red, Green (got 1)"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                validate_errors(&schema, input.clone()),
                vec![format!("attributes: {expected}")],
                "{input}"
            );
        }
    }

    #[test]
    fn all_errors_are_reported_together() {
        let errors = validate_errors(
            &server(),
            json!({"cpu_count": "four", "memory_gb": true, "zzz": 1, "aaa": 2}),
        );
        assert_eq!(
            errors.len(),
            5,
            "unknown aaa, unknown zzz, hostname, cpu_count, memory_gb: {errors:?}"
        );
        assert!(errors[0].contains("`aaa`"));
        assert!(errors[1].contains("`zzz`"));
    }

    #[test]
    fn string_limits() {
        let schema = every_type();
        assert!(schema
            .validate(&object(json!({"s": "x".repeat(MAX_STRING_CHARS)})))
            .is_ok());
        assert_eq!(
            validate_errors(&schema, json!({"s": "é".repeat(MAX_STRING_CHARS + 1)})),
            vec![format!(
                "attributes: `s` must be at most {MAX_STRING_CHARS} characters (got {})",
                MAX_STRING_CHARS + 1
            )]
        );
        assert!(schema
            .validate(&object(json!({"s": "line\nline\ttab"})))
            .is_ok());
        assert_eq!(validate_errors(&schema, json!({"s": "nul\u{0}"})).len(), 1);
    }

    #[test]
    fn long_values_are_not_echoed_in_full() {
        let errors = validate_errors(&every_type(), json!({"i": "9".repeat(5000)}));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].chars().count() < 200, "{}", errors[0]);
        assert!(errors[0].contains('…'));
    }

    #[test]
    fn url_checks() {
        for good in [
            "http://h",
            "https://user:pw@host:8443/x",
            "ssh://git@example.com/repo.git",
            "svn+ssh://host/x",
            "https://[::1]:8080/",
        ] {
            assert!(normalize_url(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "https://",
            "https:///path",
            "file:///etc/passwd",
            "://host",
            "1http://host",
            "ht tp://host",
            "https://host/with space",
            "javascript://%0aalert(1)",
            "JavaScript://x",
            "data://text/plain,hi",
            "mailto:someone@example.com",
        ] {
            assert_eq!(normalize_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_four_digit_years() {
        assert_eq!(parse_date("0999-12-31").as_deref(), Some("0999-12-31"));
        assert_eq!(parse_date("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("+12024-01-01"), None);
        assert_eq!(parse_date("2024-01-01T00:00:00"), None);
    }

    // ----- lifecycle, criticality, relation kinds --------------------------

    #[test]
    fn lifecycle_machine() {
        use Lifecycle::*;
        let expected: HashSet<(Lifecycle, Lifecycle)> = [
            (Planned, InUse),
            (Planned, Retired),
            (InUse, Maintenance),
            (InUse, Retired),
            (Maintenance, InUse),
            (Maintenance, Retired),
            (Retired, Disposed),
            (Retired, InUse),
        ]
        .into_iter()
        .collect();
        for from in Lifecycle::ALL {
            for to in Lifecycle::ALL {
                assert_eq!(
                    Lifecycle::transition(from, to).is_ok(),
                    expected.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert_eq!(Lifecycle::initial(), Planned);
    }

    #[test]
    fn lifecycle_error_lists_allowed() {
        assert_eq!(
            Lifecycle::transition(Lifecycle::Planned, Lifecycle::Disposed)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "a configuration item cannot move from planned to disposed; \
                 allowed from planned: in_use, retired"
            )
        );
        assert_eq!(
            Lifecycle::transition(Lifecycle::Disposed, Lifecycle::InUse)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "a configuration item cannot move from disposed to in_use; \
                 allowed from disposed: none"
            )
        );
    }

    #[test]
    fn lifecycle_activity() {
        let active: Vec<_> = Lifecycle::ALL
            .into_iter()
            .filter(|l| l.is_active())
            .collect();
        assert_eq!(
            active,
            vec![Lifecycle::Planned, Lifecycle::InUse, Lifecycle::Maintenance]
        );
    }

    #[test]
    fn names_roundtrip_and_match_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + Serialize + PartialEq + fmt::Debug + std::str::FromStr,
            T::Err: fmt::Debug,
        {
            for &value in all {
                let name = value.to_string();
                assert_eq!(name.parse::<T>().ok(), Some(value));
                assert_eq!(serde_json::to_value(value).ok(), Some(Value::from(name)));
            }
        }
        check(&Lifecycle::ALL);
        check(&Criticality::ALL);
        check(&RelationKind::ALL);
        check(&Direction::ALL);
        assert_eq!(Lifecycle::parse(" In_Use "), Ok(Lifecycle::InUse));
        assert!(Criticality::parse("urgent")
            .err()
            .is_some_and(|e| e.to_string().contains("low, medium, high, critical")));
    }

    #[test]
    fn criticality_is_ordered() {
        assert!(Criticality::Low < Criticality::Medium);
        assert!(Criticality::High < Criticality::Critical);
        assert_eq!(Criticality::ALL.iter().max(), Some(&Criticality::Critical));
    }

    #[test]
    fn relation_labels() {
        let pairs: Vec<_> = RelationKind::ALL
            .iter()
            .map(|k| (k.label(), k.inverse_label()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("depends on", "is depended on by"),
                ("runs on", "hosts"),
                ("connected to", "connected to"),
                ("part of", "contains"),
                ("uses", "used by"),
                ("backs up", "backed up by"),
            ]
        );
        assert_eq!(RelationKind::ConnectedTo.propagates(), Propagation::Both);
        assert_eq!(RelationKind::BacksUp.propagates(), Propagation::None);
        assert_eq!(RelationKind::RunsOn.propagates(), Propagation::ToSource);
    }

    // ----- traversal -------------------------------------------------------

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn edge(source: u128, kind: RelationKind, target: u128) -> Edge {
        Edge {
            source: id(source),
            target: id(target),
            kind,
        }
    }

    /// Serves `edges` the way a store would: everything touching the asked
    /// CIs. Also records the calls.
    fn run(
        edges: &[Edge],
        start: u128,
        direction: Direction,
        max_depth: u32,
        max_nodes: usize,
    ) -> (Traversal, Vec<Vec<Uuid>>) {
        let mut calls = Vec::new();
        let result = traverse(id(start), direction, max_depth, max_nodes, |cis| {
            calls.push(cis.to_vec());
            edges
                .iter()
                .filter(|e| cis.contains(&e.source) || cis.contains(&e.target))
                .copied()
                .collect()
        });
        (result, calls)
    }

    fn depths(t: &Traversal) -> Vec<(u128, u32)> {
        t.reached
            .iter()
            .map(|r| (r.ci.as_u128(), r.depth))
            .collect()
    }

    use RelationKind::*;

    #[test]
    fn chain_upstream_and_downstream() {
        // service(1) depends_on app(2) runs_on vm(3) runs_on host(4)
        let edges = [
            edge(1, DependsOn, 2),
            edge(2, RunsOn, 3),
            edge(3, RunsOn, 4),
        ];
        let (up, calls) = run(&edges, 4, Direction::Upstream, 10, 100);
        assert_eq!(depths(&up), vec![(3, 1), (2, 2), (1, 3)]);
        assert!(!up.truncated);
        assert_eq!(
            calls,
            vec![vec![id(4)], vec![id(3)], vec![id(2)], vec![id(1)]]
        );
        assert_eq!(
            up.reached[2].path,
            vec![
                (id(3), RunsOn, id(4)),
                (id(2), RunsOn, id(3)),
                (id(1), DependsOn, id(2)),
            ]
        );

        let (down, _) = run(&edges, 1, Direction::Downstream, 10, 100);
        assert_eq!(depths(&down), vec![(2, 1), (3, 2), (4, 3)]);
        // The same graph read the other way finds nothing.
        assert!(run(&edges, 1, Direction::Upstream, 10, 100)
            .0
            .reached
            .is_empty());
        assert!(run(&edges, 4, Direction::Downstream, 10, 100)
            .0
            .reached
            .is_empty());
    }

    #[test]
    fn middle_of_chain_goes_both_ways_depending_on_direction() {
        let edges = [edge(1, DependsOn, 2), edge(2, DependsOn, 3)];
        assert_eq!(
            depths(&run(&edges, 2, Direction::Upstream, 5, 100).0),
            vec![(1, 1)]
        );
        assert_eq!(
            depths(&run(&edges, 2, Direction::Downstream, 5, 100).0),
            vec![(3, 1)]
        );
    }

    #[test]
    fn depth_limits() {
        let edges = [
            edge(1, DependsOn, 2),
            edge(2, DependsOn, 3),
            edge(3, DependsOn, 4),
        ];
        let (zero, calls) = run(&edges, 4, Direction::Upstream, 0, 100);
        assert!(zero.reached.is_empty() && !zero.truncated);
        assert!(calls.is_empty());
        assert_eq!(
            depths(&run(&edges, 4, Direction::Upstream, 1, 100).0),
            vec![(3, 1)]
        );
        let (exact, calls) = run(&edges, 4, Direction::Upstream, 3, 100);
        assert_eq!(depths(&exact), vec![(3, 1), (2, 2), (1, 3)]);
        // The last level is never expanded.
        assert_eq!(calls.len(), 3);
    }

    #[test]
    fn diamond_reaches_each_once_at_shortest_depth() {
        // 1 and 2 both depend on 3 and 4; 3 and 4 run on 5; 1 also uses 5.
        let edges = [
            edge(1, DependsOn, 3),
            edge(1, DependsOn, 4),
            edge(2, DependsOn, 3),
            edge(2, DependsOn, 4),
            edge(3, RunsOn, 5),
            edge(4, RunsOn, 5),
            edge(1, Uses, 5),
        ];
        let (up, _) = run(&edges, 5, Direction::Upstream, 10, 100);
        assert_eq!(depths(&up), vec![(1, 1), (3, 1), (4, 1), (2, 2)]);
        // 2 is reachable via 3 and via 4; the lower id wins.
        assert_eq!(
            up.reached[3].path,
            vec![(id(3), RunsOn, id(5)), (id(2), DependsOn, id(3))]
        );
    }

    #[test]
    fn tie_between_edges_is_broken_by_kind_name() {
        // 1 reaches 2 by two kinds of edge; "depends_on" < "uses".
        let edges = [edge(2, Uses, 1), edge(2, DependsOn, 1)];
        let (up, _) = run(&edges, 1, Direction::Upstream, 1, 100);
        assert_eq!(up.reached[0].path, vec![(id(2), DependsOn, id(1))]);
    }

    #[test]
    fn cycles_terminate_and_reach_each_once() {
        let edges = [
            edge(1, DependsOn, 2),
            edge(2, DependsOn, 3),
            edge(3, DependsOn, 1),
            edge(3, DependsOn, 3),
            edge(2, DependsOn, 1),
        ];
        let (up, calls) = run(&edges, 1, Direction::Upstream, 100, 100);
        assert_eq!(depths(&up), vec![(2, 1), (3, 1)]);
        assert_eq!(calls.len(), 2);
        let (down, _) = run(&edges, 1, Direction::Downstream, 100, 100);
        assert_eq!(depths(&down), vec![(2, 1), (3, 2)]);
    }

    #[test]
    fn connected_to_goes_both_ways() {
        let edges = [edge(1, ConnectedTo, 2), edge(3, ConnectedTo, 2)];
        for direction in Direction::ALL {
            assert_eq!(
                depths(&run(&edges, 1, direction, 5, 100).0),
                vec![(2, 1), (3, 2)]
            );
            assert_eq!(
                depths(&run(&edges, 3, direction, 5, 100).0),
                vec![(2, 1), (1, 2)]
            );
        }
        let (from_three, _) = run(&edges, 3, Direction::Upstream, 5, 100);
        assert_eq!(
            from_three.reached[1].path,
            vec![(id(3), ConnectedTo, id(2)), (id(1), ConnectedTo, id(2))]
        );
    }

    #[test]
    fn backs_up_does_not_propagate() {
        let edges = [edge(1, BacksUp, 2)];
        for direction in Direction::ALL {
            assert!(run(&edges, 1, direction, 5, 100).0.reached.is_empty());
            assert!(run(&edges, 2, direction, 5, 100).0.reached.is_empty());
        }
    }

    #[test]
    fn truncates_at_max_nodes() {
        let edges: Vec<Edge> = (2..=10).map(|n| edge(n, DependsOn, 1)).collect();
        let (capped, calls) = run(&edges, 1, Direction::Upstream, 5, 4);
        assert!(capped.truncated);
        assert_eq!(depths(&capped), vec![(2, 1), (3, 1), (4, 1), (5, 1)]);
        assert_eq!(calls.len(), 1);
        let (exact, _) = run(&edges, 1, Direction::Upstream, 5, 9);
        assert!(!exact.truncated);
        assert_eq!(exact.reached.len(), 9);
        let (none, _) = run(&edges, 1, Direction::Upstream, 5, 0);
        assert!(none.truncated && none.reached.is_empty());
    }

    #[test]
    fn ignores_irrelevant_and_duplicate_edges() {
        let edges = [edge(1, DependsOn, 2), edge(1, DependsOn, 2)];
        let result = traverse(id(2), Direction::Upstream, 5, 100, |_| {
            let mut all = edges.to_vec();
            all.push(edge(7, DependsOn, 8));
            all
        });
        assert_eq!(depths(&result), vec![(1, 1)]);
    }

    #[test]
    fn deterministic_whatever_the_edge_order() {
        let mut edges = vec![
            edge(5, DependsOn, 1),
            edge(4, RunsOn, 1),
            edge(3, ConnectedTo, 1),
            edge(6, Uses, 5),
            edge(6, PartOf, 4),
            edge(6, DependsOn, 3),
            edge(7, ConnectedTo, 6),
        ];
        let (first, _) = run(&edges, 1, Direction::Upstream, 10, 100);
        let (again, _) = run(&edges, 1, Direction::Upstream, 10, 100);
        edges.reverse();
        let (reversed, _) = run(&edges, 1, Direction::Upstream, 10, 100);
        assert_eq!(first, again);
        assert_eq!(first, reversed);
        let keys: Vec<_> = first.reached.iter().map(|r| (r.depth, r.ci)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    // ----- traversal properties --------------------------------------------

    /// Whether a failure spreads from `from` to `to` across `e`, when walking
    /// in `direction`. Written as an explicit table, independently of
    /// `propagates`/`next_hop`, so the property test checks them.
    fn arc(e: &Edge, from: Uuid, to: Uuid, direction: Direction) -> bool {
        if from == to {
            return false;
        }
        let forward = e.source == from && e.target == to;
        let backward = e.target == from && e.source == to;
        match (e.kind, direction) {
            (BacksUp, _) => false,
            (ConnectedTo, _) => forward || backward,
            (DependsOn | RunsOn | PartOf | Uses, Direction::Upstream) => backward,
            (DependsOn | RunsOn | PartOf | Uses, Direction::Downstream) => forward,
        }
    }

    /// Shortest distances from `start` within `max_depth`, by repeated
    /// relaxation over all edges (Bellman–Ford on unit weights).
    fn reference(
        edges: &[Edge],
        start: Uuid,
        direction: Direction,
        max_depth: u32,
    ) -> BTreeMap<Uuid, u32> {
        let mut dist = BTreeMap::from([(start, 0u32)]);
        for _ in 0..max_depth {
            let mut changed = false;
            for e in edges {
                for (from, to) in [(e.source, e.target), (e.target, e.source)] {
                    if !arc(e, from, to, direction) {
                        continue;
                    }
                    let Some(&d) = dist.get(&from) else { continue };
                    if d < max_depth && dist.get(&to).is_none_or(|&old| d + 1 < old) {
                        dist.insert(to, d + 1);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        dist.remove(&start);
        dist
    }

    fn any_graph() -> impl Strategy<Value = (u128, Vec<Edge>)> {
        (1u128..=30).prop_flat_map(|nodes| {
            let edge = (
                0..nodes,
                0..nodes,
                proptest::sample::select(RelationKind::ALL.to_vec()),
            )
                .prop_map(|(s, t, kind)| edge(s, kind, t));
            (0..nodes, proptest::collection::vec(edge, 0..=80))
        })
    }

    fn any_direction() -> impl Strategy<Value = Direction> {
        proptest::sample::select(Direction::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn traversal_matches_reference(
            (start, edges) in any_graph(),
            direction in any_direction(),
            max_depth in 0u32..8,
        ) {
            let (result, calls) = run(&edges, start, direction, max_depth, 100_000);
            prop_assert!(!result.truncated);
            let start = id(start);

            let found: BTreeMap<Uuid, u32> =
                result.reached.iter().map(|r| (r.ci, r.depth)).collect();
            prop_assert_eq!(found.len(), result.reached.len(), "duplicates");
            prop_assert_eq!(&found, &reference(&edges, start, direction, max_depth));

            for r in &result.reached {
                prop_assert!(r.ci != start);
                prop_assert!(r.depth >= 1 && r.depth <= max_depth);
                prop_assert_eq!(r.path.len(), r.depth as usize);
                let mut at = start;
                for (step, &(source, kind, target)) in r.path.iter().enumerate() {
                    let e = Edge { source, target, kind };
                    prop_assert!(edges.contains(&e), "{} is not an edge", e);
                    let next = if source == at { target } else { source };
                    prop_assert!(arc(&e, at, next, direction), "cannot cross {} from {}", e, at);
                    // Every prefix of a shortest path is a shortest path.
                    if next != r.ci {
                        prop_assert_eq!(found.get(&next), Some(&(step as u32 + 1)));
                    }
                    at = next;
                }
                prop_assert_eq!(at, r.ci);
            }

            // Sorted by depth then id.
            let keys: Vec<_> = result.reached.iter().map(|r| (r.depth, r.ci)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            prop_assert_eq!(keys, sorted);

            // Each CI is expanded at most once, the start first.
            let asked: Vec<Uuid> = calls.concat();
            let distinct: HashSet<Uuid> = asked.iter().copied().collect();
            prop_assert_eq!(distinct.len(), asked.len());
            prop_assert!(calls.len() <= max_depth as usize);
            if let Some(first) = calls.first() {
                prop_assert_eq!(first.as_slice(), &[start]);
            }
        }

        #[test]
        fn truncation_is_a_prefix_of_the_full_walk(
            (start, edges) in any_graph(),
            direction in any_direction(),
            max_depth in 1u32..8,
            max_nodes in 0usize..10,
        ) {
            let (full, _) = run(&edges, start, direction, max_depth, 100_000);
            let (capped, _) = run(&edges, start, direction, max_depth, max_nodes);
            prop_assert_eq!(capped.truncated, full.reached.len() > max_nodes);
            prop_assert_eq!(capped.reached.len(), full.reached.len().min(max_nodes));
            for r in &capped.reached {
                prop_assert!(full.reached.contains(r), "{:?} differs from the full walk", r);
            }
        }

        #[test]
        fn validated_attributes_revalidate_unchanged(
            s in "\\PC{0,40}",
            i in any::<i64>(),
            date in (1i32..=9999, 1u32..=12, 1u32..=28),
            ip in any::<[u8; 4]>(),
        ) {
            let input = object(json!({
                "s": format!(" {s} "),
                "i": i.to_string(),
                "d": format!("{}-{}-{}", date.0, date.1, date.2),
                "ip": std::net::Ipv4Addr::from(ip).to_string(),
            }));
            let schema = every_type();
            let once = schema.validate(&input);
            prop_assert!(once.is_ok(), "{:?}", once);
            let once = once.unwrap_or_default();
            prop_assert_eq!(schema.validate(&once), Ok(once.clone()));
            prop_assert_eq!(once.get("i"), Some(&Value::from(i)));
        }
    }
}
