//! Alerts from monitoring: the kinds of integration, how an integration maps
//! an alert into an incident (severity → impact and urgency, labels →
//! category and CI), and the rules of a group's incident — when a firing
//! opens, reopens or joins one, when a group flaps, and what a generic JSON
//! body says through its JSON Pointers.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{FieldError, Level};

/// Who sends the alerts, and so which endpoint and format they use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// Prometheus Alertmanager's webhook (version 4).
    Alertmanager,
    /// PagerDuty's Events API v2, at `/v2/enqueue`.
    EventsV2,
    /// Any JSON, read through the integration's JSON Pointers.
    Generic,
}

string_enum!(IntegrationKind, "integration kind", {
    Alertmanager => "alertmanager",
    EventsV2 => "events_v2",
    Generic => "generic",
});

/// An alert's own state as its sender reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

string_enum!(AlertStatus, "alert status", {
    Firing => "firing",
    Resolved => "resolved",
});

/// Impact and urgency of a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    pub impact: Level,
    pub urgency: Level,
}

/// Where a generic body keeps what an alert needs (RFC 6901 JSON Pointers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericPointers {
    /// The incident's title; required in every body.
    pub title: String,
    /// What makes two bodies the same alert; without it the title does.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// The alert's status; without it every body fires.
    #[serde(default)]
    pub status: Option<String>,
    /// The status value (compared without case) that means resolved.
    #[serde(default = "default_resolved_value")]
    pub resolved_value: String,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

fn default_resolved_value() -> String {
    "resolved".into()
}

/// An HMAC-SHA256 signature of the body the sender adds in a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureCheck {
    /// e.g. `X-Signature`; the value is hex, optionally after `sha256=`.
    pub header: String,
    pub secret: String,
}

/// How an integration turns alerts into incidents. Every field has a
/// default, so `{}` is a working mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// The team the incidents go to.
    pub team_id: Option<Uuid>,
    /// The escalation policy that starts on each incident (else the first
    /// policy whose selector matches, as for any ticket).
    pub escalation_policy_id: Option<Uuid>,
    /// A category for every incident, by name …
    pub category: Option<String>,
    /// … or the label (annotation, custom detail) that names it.
    pub category_label: Option<String>,
    /// Labels whose value names a CI (by name or external id), first found wins.
    pub ci_labels: Vec<String>,
    /// The label that carries the severity.
    pub severity_label: String,
    /// Severity (lower case) → impact and urgency; unknown ones take `default_severity`.
    pub severities: BTreeMap<String, Levels>,
    pub default_severity: String,
    /// Resolve the incident when every one of its alerts has resolved.
    pub auto_resolve: bool,
    /// A group firing again within this many minutes of its incident's
    /// resolution reopens it; later, a new incident opens.
    pub reopen_window_minutes: u32,
    /// A group that opened (or reopened) its incident `flap_opens` times
    /// within `flap_minutes` flaps: its incident is no longer resolved by
    /// its alerts, only by a person.
    pub flap_opens: u32,
    pub flap_minutes: u32,
    /// Resolve an incident whose group sent nothing for this long.
    pub resolve_after_quiet_minutes: Option<u32>,
    /// Events accepted per minute; more get 429.
    pub rate_limit_per_minute: u32,
    /// Generic integrations only.
    pub pointers: Option<GenericPointers>,
    /// Generic integrations only: a signed body needs no bearer secret.
    pub signature: Option<SignatureCheck>,
}

impl Default for Mapping {
    fn default() -> Self {
        let level = |impact, urgency| Levels { impact, urgency };
        let severities = [
            ("critical", level(Level::High, Level::High)),
            ("error", level(Level::High, Level::Medium)),
            ("warning", level(Level::Medium, Level::Medium)),
            ("info", level(Level::Low, Level::Low)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Self {
            team_id: None,
            escalation_policy_id: None,
            category: None,
            category_label: None,
            ci_labels: vec!["service".into(), "instance".into()],
            severity_label: "severity".into(),
            severities,
            default_severity: "warning".into(),
            auto_resolve: true,
            reopen_window_minutes: 60,
            flap_opens: 4,
            flap_minutes: 60,
            resolve_after_quiet_minutes: None,
            rate_limit_per_minute: 6000,
            pointers: None,
            signature: None,
        }
    }
}

impl Mapping {
    /// Checks the mapping for `kind`, naming each field that is wrong.
    pub fn validate(&mut self, kind: IntegrationKind) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let err = |errors: &mut Vec<FieldError>, field: &'static str, message: String| {
            errors.push(FieldError::new(format!("settings.{field}"), message));
        };
        self.severities = std::mem::take(&mut self.severities)
            .into_iter()
            .map(|(k, v)| (k.trim().to_lowercase(), v))
            .collect();
        self.default_severity = self.default_severity.trim().to_lowercase();
        if !self.severities.contains_key(&self.default_severity) {
            err(
                &mut errors,
                "default_severity",
                format!(
                    "`{}` is not among the severities ({})",
                    self.default_severity,
                    self.severities
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if self.flap_opens < 2 {
            err(&mut errors, "flap_opens", "must be at least 2".into());
        }
        if self.flap_minutes == 0 {
            err(&mut errors, "flap_minutes", "must be at least 1".into());
        }
        if self.resolve_after_quiet_minutes == Some(0) {
            err(
                &mut errors,
                "resolve_after_quiet_minutes",
                "must be at least 1 (or absent)".into(),
            );
        }
        if self.rate_limit_per_minute == 0 {
            err(
                &mut errors,
                "rate_limit_per_minute",
                "must be at least 1".into(),
            );
        }
        match (&self.pointers, kind) {
            (None, IntegrationKind::Generic) => err(
                &mut errors,
                "pointers",
                "a generic integration needs at least `{\"title\": \"/pointer\"}`".into(),
            ),
            (Some(pointers), IntegrationKind::Generic) => {
                let all = [
                    ("pointers.title", Some(&pointers.title)),
                    ("pointers.dedup_key", pointers.dedup_key.as_ref()),
                    ("pointers.status", pointers.status.as_ref()),
                    ("pointers.severity", pointers.severity.as_ref()),
                    ("pointers.description", pointers.description.as_ref()),
                ];
                for (field, pointer) in all {
                    if let Some(p) = pointer.filter(|p| !p.is_empty() && !p.starts_with('/')) {
                        err(
                            &mut errors,
                            field,
                            format!("`{p}` is not a JSON Pointer (they start with `/`)"),
                        );
                    }
                }
            }
            (Some(_), _) => err(
                &mut errors,
                "pointers",
                "only generic integrations read JSON Pointers".into(),
            ),
            (None, _) => {}
        }
        match (&self.signature, kind) {
            (Some(s), IntegrationKind::Generic) => {
                if s.header.trim().is_empty()
                    || !s
                        .header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    err(
                        &mut errors,
                        "signature.header",
                        "must be a header name".into(),
                    );
                }
                if s.secret.len() < 16 {
                    err(
                        &mut errors,
                        "signature.secret",
                        "must be at least 16 characters".into(),
                    );
                }
            }
            (Some(_), _) => err(
                &mut errors,
                "signature",
                "only generic integrations check a body signature".into(),
            ),
            (None, _) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Impact and urgency for a severity (any case); unknown or absent
    /// severities count as the default one.
    pub fn levels(&self, severity: Option<&str>) -> Levels {
        let wanted = severity.map(|s| s.trim().to_lowercase());
        wanted
            .and_then(|s| self.severities.get(&s))
            .or_else(|| self.severities.get(&self.default_severity))
            .copied()
            .unwrap_or(Levels {
                impact: Level::Medium,
                urgency: Level::Medium,
            })
    }

    fn reopen_window(&self) -> Duration {
        Duration::minutes(i64::from(self.reopen_window_minutes))
    }
}

/// The incident a group holds, as far as a new firing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// None yet, or its incident was closed, cancelled or deleted.
    Nothing,
    Open,
    Resolved {
        at: DateTime<Utc>,
    },
}

/// What a group's firing alert does to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFiring {
    /// A new incident.
    Open,
    /// Its resolved incident comes back.
    Reopen,
    /// Its open incident takes the alert.
    Join,
}

/// One incident per group at a time: an open one takes every firing; a
/// resolved one comes back within the reopen window, or when the group
/// flaps (a flapping group stays one incident whatever the window).
pub fn on_firing(held: Held, flapping: bool, now: DateTime<Utc>, mapping: &Mapping) -> OnFiring {
    match held {
        Held::Nothing => OnFiring::Open,
        Held::Open => OnFiring::Join,
        Held::Resolved { at } if flapping || now - at <= mapping.reopen_window() => {
            OnFiring::Reopen
        }
        Held::Resolved { .. } => OnFiring::Open,
    }
}

/// How often a group has opened its incident lately: since when, and how
/// many times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opens {
    pub since: DateTime<Utc>,
    pub count: u32,
}

impl Opens {
    /// Counts one more opening (or reopening) at `now`; the count starts
    /// again once `flap_minutes` have passed since it started.
    pub fn count(self, now: DateTime<Utc>, mapping: &Mapping) -> Self {
        if now - self.since > Duration::minutes(i64::from(mapping.flap_minutes)) {
            Self {
                since: now,
                count: 1,
            }
        } else {
            Self {
                since: self.since,
                count: self.count.saturating_add(1),
            }
        }
    }

    /// The group flaps: it opened `flap_opens` times within `flap_minutes`.
    pub fn flapping(self, now: DateTime<Utc>, mapping: &Mapping) -> bool {
        now - self.since <= Duration::minutes(i64::from(mapping.flap_minutes))
            && self.count >= mapping.flap_opens
    }
}

/// What a generic body says, read through the integration's pointers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericEvent {
    pub title: String,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: Option<String>,
    pub description: Option<String>,
}

/// Reads a generic body; a missing or empty title is the only error.
pub fn read_generic(pointers: &GenericPointers, body: &Value) -> Result<GenericEvent, FieldError> {
    let text = |pointer: Option<&String>| {
        pointer
            .and_then(|p| body.pointer(p))
            .and_then(|v| match v {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    let title = text(Some(&pointers.title)).ok_or_else(|| {
        FieldError::new(
            "body",
            format!(
                "no text at `{}`, where this integration reads the title",
                pointers.title
            ),
        )
    })?;
    let status = match text(pointers.status.as_ref()) {
        Some(s) if s.eq_ignore_ascii_case(pointers.resolved_value.trim()) => AlertStatus::Resolved,
        _ => AlertStatus::Firing,
    };
    Ok(GenericEvent {
        dedup_key: text(pointers.dedup_key.as_ref()).unwrap_or_else(|| title.clone()),
        title,
        status,
        severity: text(pointers.severity.as_ref()),
        description: text(pointers.description.as_ref()),
    })
}

/// A one-line text fit for a title or label: control characters and line
/// breaks become spaces, runs of spaces one, at most `max` characters.
pub fn clean_line(text: &str, max: usize) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > max {
        out = out.chars().take(max.saturating_sub(1)).collect::<String>() + "…";
    }
    out
}

/// A multi-line text fit for a description: control characters other
/// than line breaks and tabs dropped, at most `max` characters.
pub fn clean_text(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default()
            + Duration::minutes(minute)
    }

    #[test]
    fn names_roundtrip_and_match_serde() {
        for kind in IntegrationKind::ALL {
            assert_eq!(IntegrationKind::parse(kind.as_str()), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(Value::from(kind.as_str()))
            );
        }
        for status in AlertStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(Value::from(status.as_str()))
            );
        }
    }

    #[test]
    fn an_empty_mapping_is_a_working_one() {
        let mut mapping: Mapping = serde_json::from_value(json!({})).expect("defaults");
        assert_eq!(mapping.validate(IntegrationKind::Alertmanager), Ok(()));
        assert_eq!(mapping, Mapping::default());
    }

    #[test]
    fn severities_map_to_levels_whatever_their_case() {
        let m = Mapping::default();
        let levels = |s| m.levels(s);
        assert_eq!(levels(Some("CRITICAL")).impact, Level::High);
        assert_eq!(levels(Some("critical")).urgency, Level::High);
        assert_eq!(levels(Some("info")).impact, Level::Low);
        // Unknown or absent: the default severity (warning).
        assert_eq!(levels(Some("page")), levels(Some("warning")));
        assert_eq!(levels(None), levels(Some("warning")));
    }

    #[test]
    fn validation_names_each_wrong_field() {
        let mut m = Mapping {
            default_severity: "sev9".into(),
            flap_opens: 1,
            rate_limit_per_minute: 0,
            ..Mapping::default()
        };
        let fields: Vec<String> = m
            .validate(IntegrationKind::Generic)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field.into_owned())
            .collect();
        assert_eq!(
            fields,
            [
                "settings.default_severity",
                "settings.flap_opens",
                "settings.rate_limit_per_minute",
                "settings.pointers"
            ]
        );
        let mut m = Mapping {
            pointers: Some(GenericPointers {
                title: "/title".into(),
                dedup_key: Some("id".into()),
                status: None,
                resolved_value: "ok".into(),
                severity: None,
                description: None,
            }),
            ..Mapping::default()
        };
        let errors = m
            .validate(IntegrationKind::Alertmanager)
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "settings.pointers");
        let errors = m
            .validate(IntegrationKind::Generic)
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "settings.pointers.dedup_key");
    }

    #[test]
    fn a_firing_joins_reopens_or_opens() {
        let m = Mapping::default();
        assert_eq!(on_firing(Held::Nothing, false, at(0), &m), OnFiring::Open);
        assert_eq!(on_firing(Held::Open, false, at(0), &m), OnFiring::Join);
        let resolved = Held::Resolved { at: at(0) };
        assert_eq!(on_firing(resolved, false, at(60), &m), OnFiring::Reopen);
        assert_eq!(on_firing(resolved, false, at(61), &m), OnFiring::Open);
        // A flapping group stays one incident past the window.
        assert_eq!(on_firing(resolved, true, at(600), &m), OnFiring::Reopen);
    }

    #[test]
    fn a_group_flaps_after_n_opens_in_m_minutes() {
        let m = Mapping::default(); // 4 opens in 60 minutes
        let mut opens = Opens {
            since: at(0),
            count: 1,
        };
        for minute in [10, 20] {
            opens = opens.count(at(minute), &m);
            assert!(!opens.flapping(at(minute), &m));
        }
        opens = opens.count(at(30), &m);
        assert_eq!(opens.count, 4);
        assert!(opens.flapping(at(30), &m));
        // The window has passed: no longer flapping, and counting restarts.
        assert!(!opens.flapping(at(61), &m));
        let again = opens.count(at(61), &m);
        assert_eq!((again.since, again.count), (at(61), 1));
    }

    #[test]
    fn texts_are_cleaned_and_clipped() {
        assert_eq!(
            clean_line(" Disk\n full\u{7}  on  db1 ", 200),
            "Disk full on db1"
        );
        assert_eq!(clean_line("abcdef", 4), "abc…");
        assert_eq!(clean_text("a\u{0}b\nc\td", 100), "ab\nc\td");
        assert_eq!(clean_text("abcdef", 3), "abc");
    }

    #[test]
    fn generic_bodies_read_through_pointers() {
        let pointers = GenericPointers {
            title: "/check/name".into(),
            dedup_key: Some("/check/id".into()),
            status: Some("/state".into()),
            resolved_value: "OK".into(),
            severity: Some("/level".into()),
            description: Some("/msg".into()),
        };
        let body = json!({"check": {"name": " Disk full ", "id": 42}, "state": "ok",
                          "level": "critical", "msg": "95% used"});
        let event = read_generic(&pointers, &body).expect("reads");
        assert_eq!(event.title, "Disk full");
        assert_eq!(event.dedup_key, "42");
        assert_eq!(event.status, AlertStatus::Resolved);
        assert_eq!(event.severity.as_deref(), Some("critical"));
        assert_eq!(event.description.as_deref(), Some("95% used"));

        let firing =
            read_generic(&pointers, &json!({"check": {"name": "Disk full"}})).expect("reads");
        assert_eq!(firing.status, AlertStatus::Firing);
        assert_eq!(firing.dedup_key, "Disk full");

        let err = read_generic(&pointers, &json!({"check": {"name": ""}})).err();
        assert_eq!(err.map(|e| e.field.into_owned()).as_deref(), Some("body"));
    }
}
