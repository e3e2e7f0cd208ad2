//! Escalation policies and on-call rotations, pure.
//!
//! A policy is an ordered list of steps; each step fires "after N minutes"
//! (from the ticket's creation) or "on SLA warning / breach", runs its
//! actions, and may repeat. Acknowledgement or resolution stops the rest.
//! An on-call rotation hands over weekly at a local day and time in its
//! time zone; overrides win over the rotation.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{calendar::DAY_NAMES, text::FieldError};

/// What a step does. People and teams are named by id or email / name and
/// resolved by the desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    NotifyPerson {
        person: String,
    },
    NotifyTeam {
        team: String,
    },
    /// The lead of the ticket's team.
    NotifyLead,
    /// Whoever is on call for `team` (default: the ticket's team). Nobody on
    /// call: the next step runs at once.
    NotifyOnCall {
        #[serde(default)]
        team: Option<String>,
    },
    /// A chat channel or address on a connector: `{"channel": "slack", "target": "C0123"}`.
    NotifyChannel {
        channel: String,
        target: String,
    },
    Reassign {
        #[serde(default)]
        team: Option<String>,
        #[serde(default)]
        person: Option<String>,
    },
    RaisePriority,
    MarkMajor,
}

/// When a step fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum On {
    SlaWarning,
    SlaBreach,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Minutes after the ticket was opened.
    #[serde(default)]
    pub after_minutes: Option<i64>,
    /// Or on an SLA alarm of the ticket.
    #[serde(default)]
    pub on: Option<On>,
    pub actions: Vec<Action>,
    /// Repeat the step every N minutes until acknowledged or resolved.
    #[serde(default)]
    pub repeat_every_minutes: Option<i64>,
    /// At most this many repeats (default 3).
    #[serde(default)]
    pub repeat_times: Option<u32>,
}

impl Step {
    pub fn repeats(&self) -> u32 {
        if self.repeat_every_minutes.is_some() {
            self.repeat_times.unwrap_or(3)
        } else {
            0
        }
    }
}

/// Checks steps; errors name the place (`steps[1].after_minutes`).
pub fn validate_steps(steps: &[Step]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if steps.is_empty() {
        errors.push(FieldError::new("steps", "a policy needs at least one step"));
    }
    for (i, step) in steps.iter().enumerate() {
        let place = format!("steps[{i}]");
        match (step.after_minutes, step.on) {
            (Some(_), Some(_)) | (None, None) => errors.push(FieldError::new(
                place.clone(),
                "give exactly one of after_minutes or on",
            )),
            (Some(m), None) if !(0..=525_600).contains(&m) => errors.push(FieldError::new(
                format!("{place}.after_minutes"),
                format!("{m} is not a number of minutes between 0 and a year"),
            )),
            _ => {}
        }
        if let Some(m) = step.repeat_every_minutes {
            if !(1..=525_600).contains(&m) {
                errors.push(FieldError::new(
                    format!("{place}.repeat_every_minutes"),
                    format!("{m} is not a number of minutes between 1 and a year"),
                ));
            }
        }
        if step.actions.is_empty() {
            errors.push(FieldError::new(
                format!("{place}.actions"),
                "a step needs at least one action",
            ));
        }
    }
    errors
}

/// A temporary replacement on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub person: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A weekly rotation as stored (people already resolved to ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationSpec {
    pub time_zone: String,
    /// Day of the hand-over (`mon` … `sun`).
    pub handoff_day: String,
    /// Local time of the hand-over, `HH:MM`.
    pub handoff_time: String,
    /// In rotation order; the first is on call in the week of `starts`.
    pub members: Vec<Uuid>,
    /// A date (YYYY-MM-DD) in the first week.
    pub starts: String,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone)]
pub struct Rotation {
    tz: Tz,
    /// Local date and time of the first hand-over.
    anchor: chrono::NaiveDateTime,
    members: Vec<Uuid>,
    overrides: Vec<Override>,
}

impl Rotation {
    pub fn parse(spec: &RotationSpec) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tz = spec.time_zone.trim().parse::<Tz>().ok();
        if tz.is_none() {
            errors.push(FieldError::new(
                "time_zone",
                format!("unknown time zone `{}`", spec.time_zone),
            ));
        }
        let day = DAY_NAMES
            .iter()
            .position(|d| d.eq_ignore_ascii_case(spec.handoff_day.trim()));
        if day.is_none() {
            errors.push(FieldError::new(
                "handoff_day",
                format!("expected one of: {}", DAY_NAMES.join(", ")),
            ));
        }
        let time = NaiveTime::parse_from_str(spec.handoff_time.trim(), "%H:%M").ok();
        if time.is_none() {
            errors.push(FieldError::new("handoff_time", "expected HH:MM"));
        }
        let starts = NaiveDate::parse_from_str(spec.starts.trim(), "%Y-%m-%d").ok();
        if starts.is_none() {
            errors.push(FieldError::new("starts", "expected a date YYYY-MM-DD"));
        }
        for (i, o) in spec.overrides.iter().enumerate() {
            if o.to <= o.from {
                errors.push(FieldError::new(
                    format!("overrides[{i}]"),
                    "ends before it starts",
                ));
            }
        }
        match (tz, day, time, starts) {
            (Some(tz), Some(day), Some(time), Some(starts)) if errors.is_empty() => {
                // The hand-over day on or before `starts`.
                let back =
                    (starts.weekday().num_days_from_monday() as i64 - day as i64).rem_euclid(7);
                let anchor = (starts - Duration::days(back)).and_time(time);
                Ok(Self {
                    tz,
                    anchor,
                    members: spec.members.clone(),
                    overrides: spec.overrides.clone(),
                })
            }
            _ => Err(errors),
        }
    }

    /// Who is on call at `at`: the last override covering it, else the
    /// member of the week (counted in local wall time, so DST does not
    /// shift the hand-over); nobody when the rotation is empty.
    pub fn on_call(&self, at: DateTime<Utc>) -> Option<Uuid> {
        if let Some(o) = self
            .overrides
            .iter()
            .rev()
            .find(|o| o.from <= at && at < o.to)
        {
            return Some(o.person);
        }
        if self.members.is_empty() {
            return None;
        }
        let local = self.tz.from_utc_datetime(&at.naive_utc()).naive_local();
        let weeks = (local - self.anchor).num_seconds().div_euclid(7 * 86_400);
        let len = self.members.len() as i64;
        self.members.get(weeks.rem_euclid(len) as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_weekly_rotation_hands_over_in_local_time_and_overrides_win() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let spec = RotationSpec {
            time_zone: "Europe/Berlin".into(),
            handoff_day: "mon".into(),
            handoff_time: "09:00".into(),
            members: vec![a, b],
            starts: "2026-03-25".into(),
            overrides: vec![Override {
                person: b,
                from: utc("2026-03-24T12:00:00Z"),
                to: utc("2026-03-24T14:00:00Z"),
            }],
        };
        let r = Rotation::parse(&spec).expect("rotation");
        // Anchor Monday 23 March 09:00 CET (08:00Z).
        assert_eq!(r.on_call(utc("2026-03-23T08:00:00Z")), Some(a));
        assert_eq!(r.on_call(utc("2026-03-23T07:59:59Z")), Some(b));
        assert_eq!(r.on_call(utc("2026-03-24T13:00:00Z")), Some(b), "override");
        // After the DST change the hand-over stays at 09:00 local (07:00Z).
        assert_eq!(r.on_call(utc("2026-03-30T06:59:59Z")), Some(a));
        assert_eq!(r.on_call(utc("2026-03-30T07:00:00Z")), Some(b));
        let empty = Rotation::parse(&RotationSpec {
            members: vec![],
            overrides: vec![],
            ..spec
        })
        .expect("rotation");
        assert_eq!(empty.on_call(utc("2026-03-30T07:00:00Z")), None);
    }

    #[test]
    fn bad_steps_are_refused_naming_the_place() {
        let steps = vec![
            Step {
                after_minutes: Some(5),
                on: Some(On::SlaBreach),
                actions: vec![Action::NotifyLead],
                repeat_every_minutes: None,
                repeat_times: None,
            },
            Step {
                after_minutes: Some(-1),
                on: None,
                actions: vec![],
                repeat_every_minutes: Some(0),
                repeat_times: None,
            },
        ];
        let places: Vec<String> = validate_steps(&steps)
            .into_iter()
            .map(|e| e.field.into_owned())
            .collect();
        assert_eq!(
            places,
            [
                "steps[0]",
                "steps[1].after_minutes",
                "steps[1].repeat_every_minutes",
                "steps[1].actions"
            ]
        );
    }
}
