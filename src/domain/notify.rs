//! Notification rules without I/O: which events exist, who hears of a
//! ticket event (recipient roles), on which channels a person hears of it
//! (their preferences over the organization's defaults over built-in
//! defaults), and quiet hours in the person's time zone — a non-urgent
//! message that falls inside them waits until they end (DST-exact).
//!
//! Preferences (a person's `notification_prefs`, and the organization's
//! defaults, same shape plus `routes`):
//!
//! ```json
//! { "channels": { "email": true, "slack": false, "sms": false, "in_app": true },
//!   "events": { "ticket.commented": ["email", "in_app"] },
//!   "quiet_hours": { "start": "22:00", "end": "07:00" },
//!   "routes": { "ticket.created": ["requester", "team"] } }
//! ```
//!
//! A person's top-level `"email": false` (the older flat form) means the
//! same as `"channels": {"email": false}`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// Every event a person can be notified of, with its template stem.
pub const EVENTS: &[(&str, &str)] = &[
    ("ticket.created", "ticket_created"),
    ("ticket.assigned", "ticket_assigned"),
    ("ticket.commented", "ticket_commented"),
    ("ticket.state_changed", "ticket_state_changed"),
    ("approval.requested", "approval_requested"),
    ("approval.decided", "approval_decided"),
    ("approval.reminder", "approval_reminder"),
    ("sla.warning", "sla_warning"),
    ("sla.breached", "sla_breached"),
    ("escalation", "escalation"),
    ("mention", "mention"),
    ("ticket.merged", "ticket_merged"),
];

/// Every channel a person can be reached on. `in_app` is the inbox.
pub const CHANNELS: &[&str] = &["email", "slack", "discord", "sms", "in_app"];

/// Who hears of a ticket event.
pub const ROLES: &[&str] = &["requester", "assignee", "team", "watchers"];

/// The template stem of `event` (`ticket.commented` → `ticket_commented`).
pub fn template_stem(event: &str) -> Option<&'static str> {
    EVENTS.iter().find(|(e, _)| *e == event).map(|(_, s)| *s)
}

/// Recipient roles of the ticket events routed by role, built in; an
/// organization's `routes` replace them per event. Approvals, SLA alarms,
/// escalations and mentions name their recipients explicitly.
pub fn default_route(event: &str) -> &'static [&'static str] {
    match event {
        "ticket.created" => &["requester", "team"],
        "ticket.assigned" => &["assignee"],
        "ticket.commented" => &["requester", "assignee", "watchers"],
        "ticket.state_changed" => &["requester", "watchers"],
        _ => &[],
    }
}

/// Channels an event goes to unless someone chose otherwise: every
/// channel but SMS, which is kept for what cannot wait.
pub fn default_event_channels(event: &str) -> &'static [&'static str] {
    match event {
        "escalation" | "sla.breached" => &["email", "slack", "discord", "sms", "in_app"],
        _ => &["email", "slack", "discord", "in_app"],
    }
}

/// Local quiet hours; `start` > `end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// Parsed preferences (a person's or an organization's defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prefs {
    pub channels: BTreeMap<String, bool>,
    pub events: BTreeMap<String, Vec<String>>,
    pub quiet_hours: Option<QuietHours>,
    /// Organization defaults only: recipient roles per ticket event.
    pub routes: BTreeMap<String, Vec<String>>,
}

/// A preference that cannot be used: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefError {
    /// e.g. `notification_prefs.quiet_hours.start`.
    pub place: String,
    pub message: String,
}

impl std::fmt::Display for PrefError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

fn known_event(event: &str) -> bool {
    template_stem(event).is_some()
}

fn list_of(
    value: &Value,
    place: &str,
    allowed: &[&str],
    what: &str,
    errors: &mut Vec<PrefError>,
) -> Vec<String> {
    let Some(items) = value.as_array() else {
        errors.push(PrefError {
            place: place.into(),
            message: format!("expected a list of {what}s such as [\"{}\"]", allowed[0]),
        });
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_str() {
            Some(s) if allowed.contains(&s) => out.push(s.to_string()),
            _ => errors.push(PrefError {
                place: place.into(),
                message: format!(
                    "unknown {what} {item}; expected one of: {}",
                    allowed.join(", ")
                ),
            }),
        }
    }
    out
}

fn parse_time(value: &Value, place: &str, errors: &mut Vec<PrefError>) -> Option<NaiveTime> {
    let parsed = value.as_str().and_then(|s| {
        let s = s.trim();
        (s.len() == 5 && s.as_bytes()[2] == b':')
            .then(|| NaiveTime::parse_from_str(s, "%H:%M").ok())
            .flatten()
    });
    if parsed.is_none() {
        errors.push(PrefError {
            place: place.into(),
            message: format!("expected a local time HH:MM such as \"22:00\", got {value}"),
        });
    }
    parsed
}

impl Prefs {
    /// Parses and validates `value` found at `place` (e.g.
    /// `notification_prefs`); `org` allows `routes`. Every problem is
    /// reported with its place, not just the first.
    pub fn parse(value: &Value, place: &str, org: bool) -> Result<Self, Vec<PrefError>> {
        let mut prefs = Prefs::default();
        let mut errors = Vec::new();
        let Some(object) = value.as_object() else {
            return Err(vec![PrefError {
                place: place.into(),
                message: "expected an object with channels, events and quiet_hours".into(),
            }]);
        };
        for (key, item) in object {
            let here = format!("{place}.{key}");
            match key.as_str() {
                "channels" => match item.as_object() {
                    Some(map) => {
                        for (channel, on) in map {
                            match (CHANNELS.contains(&channel.as_str()), on.as_bool()) {
                                (true, Some(on)) => {
                                    prefs.channels.insert(channel.clone(), on);
                                }
                                (true, None) => errors.push(PrefError {
                                    place: format!("{here}.{channel}"),
                                    message: "expected true or false".into(),
                                }),
                                (false, _) => errors.push(PrefError {
                                    place: format!("{here}.{channel}"),
                                    message: format!(
                                        "unknown channel; expected one of: {}",
                                        CHANNELS.join(", ")
                                    ),
                                }),
                            }
                        }
                    }
                    None => errors.push(PrefError {
                        place: here,
                        message: "expected an object such as {\"email\": true, \"sms\": false}"
                            .into(),
                    }),
                },
                "events" => match item.as_object() {
                    Some(map) => {
                        for (event, channels) in map {
                            let place = format!("{here}.{event}");
                            if !known_event(event) {
                                errors.push(PrefError {
                                    place,
                                    message: format!(
                                        "unknown event; expected one of: {}",
                                        EVENTS.iter().map(|e| e.0).collect::<Vec<_>>().join(", ")
                                    ),
                                });
                                continue;
                            }
                            let list = list_of(channels, &place, CHANNELS, "channel", &mut errors);
                            prefs.events.insert(event.clone(), list);
                        }
                    }
                    None => errors.push(PrefError {
                        place: here,
                        message: "expected an object such as {\"ticket.commented\": [\"email\"]}"
                            .into(),
                    }),
                },
                "quiet_hours" if item.is_null() => {}
                "quiet_hours" => match item.as_object() {
                    Some(map) => {
                        for extra in map
                            .keys()
                            .filter(|k| !matches!(k.as_str(), "start" | "end"))
                        {
                            errors.push(PrefError {
                                place: format!("{here}.{extra}"),
                                message: "unknown field; expected start and end".into(),
                            });
                        }
                        let null = Value::Null;
                        let start = parse_time(
                            map.get("start").unwrap_or(&null),
                            &format!("{here}.start"),
                            &mut errors,
                        );
                        let end = parse_time(
                            map.get("end").unwrap_or(&null),
                            &format!("{here}.end"),
                            &mut errors,
                        );
                        if let (Some(start), Some(end)) = (start, end) {
                            if start == end {
                                errors.push(PrefError {
                                    place: here,
                                    message: "start and end are equal; leave quiet hours out (null) for none".into(),
                                });
                            } else {
                                prefs.quiet_hours = Some(QuietHours { start, end });
                            }
                        }
                    }
                    None => errors.push(PrefError {
                        place: here,
                        message: "expected {\"start\": \"22:00\", \"end\": \"07:00\"} or null"
                            .into(),
                    }),
                },
                "routes" if org => match item.as_object() {
                    Some(map) => {
                        for (event, roles) in map {
                            let place = format!("{here}.{event}");
                            if default_route(event).is_empty() {
                                errors.push(PrefError {
                                    place,
                                    message: "only ticket.created, ticket.assigned, ticket.commented and ticket.state_changed are routed by role".into(),
                                });
                                continue;
                            }
                            let list = list_of(roles, &place, ROLES, "recipient", &mut errors);
                            prefs.routes.insert(event.clone(), list);
                        }
                    }
                    None => errors.push(PrefError {
                        place: here,
                        message: "expected an object such as {\"ticket.created\": [\"team\"]}"
                            .into(),
                    }),
                },
                // The older flat form: `{"email": false}`.
                channel if !org && CHANNELS.contains(&channel) => match item.as_bool() {
                    Some(on) => {
                        prefs.channels.entry(channel.to_string()).or_insert(on);
                    }
                    None => errors.push(PrefError {
                        place: here,
                        message: "expected true or false".into(),
                    }),
                },
                _ => errors.push(PrefError {
                    place: here,
                    message: format!(
                        "unknown setting; expected {}",
                        if org {
                            "channels, events, quiet_hours or routes"
                        } else {
                            "channels, events or quiet_hours"
                        }
                    ),
                }),
            }
        }
        if errors.is_empty() {
            Ok(prefs)
        } else {
            Err(errors)
        }
    }

    /// Lenient read of stored preferences: what cannot be parsed counts as
    /// unset (they were validated when saved; this only guards old rows).
    pub fn read(value: &Value, org: bool) -> Self {
        Self::parse(value, "", org).unwrap_or_default()
    }
}

/// Recipient roles of `event` in an organization with `org` defaults.
pub fn route<'a>(event: &str, org: &'a Prefs) -> Vec<&'a str> {
    match org.routes.get(event) {
        Some(roles) => roles.iter().map(String::as_str).collect(),
        None => default_route(event).to_vec(),
    }
}

/// The channels `event` goes to for a person with `person` preferences in
/// an organization with `org` defaults, among `available` (those the
/// person can be reached on; `in_app` always is).
pub fn channels_for(
    event: &str,
    person: &Prefs,
    org: &Prefs,
    available: &[&str],
) -> Vec<&'static str> {
    let wanted: Vec<String> = match person.events.get(event).or_else(|| org.events.get(event)) {
        Some(list) => list.clone(),
        None => default_event_channels(event)
            .iter()
            .map(|c| c.to_string())
            .collect(),
    };
    CHANNELS
        .iter()
        .copied()
        .filter(|c| wanted.iter().any(|w| w == c))
        .filter(|c| {
            person
                .channels
                .get(*c)
                .or_else(|| org.channels.get(*c))
                .copied()
                .unwrap_or(true)
        })
        .filter(|c| available.contains(c))
        .collect()
}

/// The local instant of `date` at `time` in `tz`, DST-exact (also the
/// start of an absence typed in chat): the earlier
/// of two not before `not_before` when the clock falls back (the second
/// when we are already between them); the first instant after the gap when
/// it springs forward (that local time does not exist).
pub fn local_instant(
    tz: Tz,
    date: NaiveDate,
    time: NaiveTime,
    not_before: DateTime<Utc>,
) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            let (first, second) = (a.min(b), a.max(b));
            if first >= not_before {
                first
            } else {
                second
            }
        }
        LocalResult::None => {
            // Gaps are at most a few hours; step forward a minute at a time.
            let mut probe = naive;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&naive)
        }
    }
}

impl QuietHours {
    /// Whether a local wall-clock time is inside the quiet hours.
    pub fn contains(&self, local: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }

    /// When a message due `now` may go out for a person in `tz`: `now`
    /// outside quiet hours, otherwise the end of the current quiet period.
    pub fn release(&self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = now.with_timezone(&tz);
        let time = local.time();
        if !self.contains(time) {
            return now;
        }
        let today = local.date_naive();
        // Inside the window: it ends today when we are before `end`
        // (after midnight for a window spanning it), otherwise tomorrow.
        let date = if time < self.end {
            today
        } else {
            today.succ_opt().unwrap_or(today)
        };
        local_instant(tz, date, self.end, now).max(now)
    }
}

/// When a message to a person may be sent: urgent messages at once,
/// others after the quiet hours (the person's, else the organization's).
pub fn release_at(
    now: DateTime<Utc>,
    person: &Prefs,
    org: &Prefs,
    time_zone: &str,
    urgent: bool,
) -> DateTime<Utc> {
    if urgent {
        return now;
    }
    let Some(quiet) = person.quiet_hours.or(org.quiet_hours) else {
        return now;
    };
    let tz: Tz = time_zone.parse().unwrap_or(Tz::UTC);
    quiet.release(now, tz)
}

/// E.164 phone numbers: `+`, then 8 to 15 digits, the first not 0.
pub fn parse_phone(value: &str) -> Result<String, String> {
    let compact: String = value
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(compact)
    } else {
        Err(format!(
            "`{value}` is not an international (E.164) number such as +4915112345678"
        ))
    }
}

/// People mentioned in a comment: `@local@domain` addresses and `@Name`
/// of the given people (longest names first, case-insensitive, whole
/// words only). Returns indexes into `people` (id, name, email).
pub fn mentions<T: Copy + PartialEq>(body: &str, people: &[(T, String, Option<String>)]) -> Vec<T> {
    let lower = body.to_lowercase();
    let mut found = Vec::new();
    let mut order: Vec<&(T, String, Option<String>)> = people.iter().collect();
    order.sort_by_key(|p| std::cmp::Reverse(p.1.len()));
    for (id, name, email) in order {
        let mut candidates = Vec::new();
        if let Some(email) = email {
            candidates.push(format!("@{}", email.to_lowercase()));
        }
        if !name.trim().is_empty() {
            candidates.push(format!("@{}", name.trim().to_lowercase()));
        }
        let hit = candidates.iter().any(|needle| {
            lower.match_indices(needle.as_str()).any(|(at, _)| {
                let before_ok = at == 0
                    || !lower[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_');
                let after = &lower[at + needle.len()..];
                let after_ok = !after
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '@' || c == '_');
                before_ok && after_ok
            })
        });
        if hit && !found.contains(id) {
            found.push(*id);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    fn night() -> QuietHours {
        QuietHours {
            start: NaiveTime::from_hms_opt(22, 0, 0).expect("t"),
            end: NaiveTime::from_hms_opt(7, 0, 0).expect("t"),
        }
    }

    #[test]
    fn preferences_parse_and_bad_ones_name_their_place() {
        let prefs = Prefs::parse(
            &json!({ "channels": { "sms": false }, "events": { "ticket.commented": ["email", "in_app"] },
                     "quiet_hours": { "start": "22:00", "end": "07:00" } }),
            "notification_prefs",
            false,
        )
        .expect("valid");
        assert_eq!(prefs.channels.get("sms"), Some(&false));
        assert_eq!(prefs.quiet_hours, Some(night()));
        let errors = Prefs::parse(
            &json!({ "channels": { "pager": true }, "events": { "ticket.exploded": ["email"], "mention": ["fax"] },
                     "quiet_hours": { "start": "25:00", "end": "7" }, "routes": {} }),
            "notification_prefs",
            false,
        )
        .expect_err("invalid");
        let places: Vec<&str> = errors.iter().map(|e| e.place.as_str()).collect();
        assert_eq!(
            places,
            [
                "notification_prefs.channels.pager",
                "notification_prefs.events.mention",
                "notification_prefs.events.ticket.exploded",
                "notification_prefs.quiet_hours.start",
                "notification_prefs.quiet_hours.end",
                "notification_prefs.routes",
            ]
        );
        // The flat form of earlier versions still reads.
        let flat = Prefs::parse(&json!({ "email": false }), "p", false).expect("flat");
        assert_eq!(flat.channels.get("email"), Some(&false));
        let org = Prefs::parse(
            &json!({ "routes": { "ticket.created": ["team", "boss"] } }),
            "d",
            true,
        )
        .expect_err("role");
        assert_eq!(org[0].place, "d.routes.ticket.created");
    }

    #[test]
    fn channels_follow_person_then_organization_then_defaults() {
        let none = Prefs::default();
        let all = ["email", "slack", "sms", "in_app"];
        assert_eq!(
            channels_for("ticket.commented", &none, &none, &all),
            ["email", "slack", "in_app"]
        );
        assert_eq!(
            channels_for("escalation", &none, &none, &all),
            ["email", "slack", "sms", "in_app"]
        );
        let org = Prefs::read(&json!({ "channels": { "slack": false } }), true);
        let person = Prefs::read(
            &json!({ "events": { "ticket.commented": ["sms", "slack"] } }),
            false,
        );
        assert_eq!(
            channels_for("ticket.commented", &person, &org, &all),
            ["sms"]
        );
        let person = Prefs::read(&json!({ "channels": { "slack": true } }), false);
        assert_eq!(
            channels_for("ticket.commented", &person, &org, &["email", "slack"]),
            ["email", "slack"]
        );
        assert_eq!(route("ticket.created", &org), ["requester", "team"]);
        let org = Prefs::read(&json!({ "routes": { "ticket.created": ["team"] } }), true);
        assert_eq!(route("ticket.created", &org), ["team"]);
    }

    #[test]
    fn quiet_hours_defer_across_midnight_in_the_persons_zone() {
        let paris: Tz = "Europe/Paris".parse().expect("tz");
        // 23:30 in Paris (winter, UTC+1) → 07:00 the next morning.
        assert_eq!(
            night().release(at("2026-11-23T22:30:00Z"), paris),
            at("2026-11-24T06:00:00Z")
        );
        // 05:00 in Paris → 07:00 the same morning.
        assert_eq!(
            night().release(at("2026-11-24T04:00:00Z"), paris),
            at("2026-11-24T06:00:00Z")
        );
        // Noon: not quiet.
        assert_eq!(
            night().release(at("2026-11-24T11:00:00Z"), paris),
            at("2026-11-24T11:00:00Z")
        );
        // Urgent goes through.
        let person = Prefs {
            quiet_hours: Some(night()),
            ..Prefs::default()
        };
        let none = Prefs::default();
        let now = at("2026-11-23T22:30:00Z");
        assert_eq!(release_at(now, &person, &none, "Europe/Paris", true), now);
    }

    #[test]
    fn quiet_hours_ending_in_a_dst_gap_end_when_the_clock_resumes() {
        let paris: Tz = "Europe/Paris".parse().expect("tz");
        // 29 March 2026: 02:00 → 03:00 local. Quiet 23:00–02:30 ends at
        // the first instant after the gap, 03:00 CEST = 01:00 UTC.
        let quiet = QuietHours {
            start: NaiveTime::from_hms_opt(23, 0, 0).expect("t"),
            end: NaiveTime::from_hms_opt(2, 30, 0).expect("t"),
        };
        assert_eq!(
            quiet.release(at("2026-03-28T23:00:00Z"), paris),
            at("2026-03-29T01:00:00Z")
        );
        // 25 October 2026: 03:00 CEST → 02:00 CET; 02:30 happens twice, the first counts.
        assert_eq!(
            quiet.release(at("2026-10-24T22:30:00Z"), paris),
            at("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn phones_and_mentions() {
        assert_eq!(
            parse_phone("+49 151 1234-5678").as_deref(),
            Ok("+4915112345678")
        );
        assert!(parse_phone("0151 12345678").is_err());
        assert!(parse_phone("+0123456789").is_err());
        let people = vec![
            (
                1,
                "Alan Agent".to_string(),
                Some("alan@corp.example".to_string()),
            ),
            (2, "Al".to_string(), Some("al@corp.example".to_string())),
            (3, "Rita".to_string(), None),
        ];
        assert_eq!(mentions("ping @alan agent and @rita!", &people), [1, 3]);
        assert_eq!(mentions("mail @al@corp.example", &people), [2]);
        assert!(mentions("rita@corp.example @ritaX", &people).is_empty());
    }

    fn any_zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            "Europe/Paris",
            "America/New_York",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "UTC",
            "America/Santiago",
        ])
        .prop_map(|z| z.parse::<Tz>().expect("tz"))
    }

    proptest! {
        #[test]
        fn release_is_never_early_never_inside_and_within_a_day(
            zone in any_zone(),
            secs in 1_767_225_600i64..1_830_297_600,
            start in 0u32..1440, end in 0u32..1440,
        ) {
            prop_assume!(start != end);
            let quiet = QuietHours {
                start: NaiveTime::from_hms_opt(start / 60, start % 60, 0).expect("t"),
                end: NaiveTime::from_hms_opt(end / 60, end % 60, 0).expect("t"),
            };
            let now = Utc.timestamp_opt(secs, 0).single().expect("instant");
            let released = quiet.release(now, zone);
            prop_assert!(released >= now);
            prop_assert!(released - now <= Duration::hours(26));
            let local = released.with_timezone(&zone).time();
            if quiet.contains(now.with_timezone(&zone).time()) {
                // Released at the end (or just after a DST gap swallowed it).
                prop_assert!(!quiet.contains(local) || local == quiet.end, "{} {}", now, released);
            } else {
                prop_assert_eq!(released, now);
            }
        }
    }
}
