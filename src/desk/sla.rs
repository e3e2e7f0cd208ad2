//! SLA use cases: calendars and policies (admin), the SLA clocks of each
//! ticket (attached on creation, moved by every state change, comment and
//! field change), their warning/breach timers, compliance and replay.
//!
//! The live state of a ticket is a [`SlaState`] stored as JSON; every event
//! that moves it is also written to the ticket's activity (`sla_event`), so
//! [`Desk::replay_sla`] can recompute it from the history alone. Warnings and
//! breaches are derived from the arithmetic: the one pending timer of a
//! ticket only makes the daemon *notice* them, and a timer scheduled for an
//! older state (its `generation` is behind) does nothing.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration as StdDuration,
};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{new_id, views::TicketView, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        calendar::{Calendar, CalendarSpec},
        escalation::On,
        sla::{
            self, Alarm, OnReopen, Selector, SlaEvent, SlaState, Target, Targets, Terms,
            TicketFacts,
        },
        FieldError, State,
    },
    store::{
        self,
        activity::ActivityRow,
        sla::{CalendarRow, GroupBy, OutcomeRow, PolicyRow, SlaStateRow},
        tickets::TicketRow,
        timers::TimerRow,
        Exec, Tx,
    },
};

/// The timer kind that makes the daemon notice a ticket's next SLA alarm.
pub const SLA_ALARM: &str = "sla_alarm";

/// The activity action that records one SLA event (what replay reads).
pub const SLA_EVENT: &str = "sla_event";

/// Where SLA code takes "now" from: the system clock, shifted by an offset
/// tests move forward ([`Clock::advance`]). Shared by every clone of a Desk.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        store::now() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves this clock (and every desk sharing it) forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

/// Parsed calendars by id, with when they were read.
pub(super) type CalendarCache = HashMap<Uuid, (std::time::Instant, Arc<Calendar>)>;

const CALENDAR_TTL: StdDuration = StdDuration::from_secs(30);

/// A calendar as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Open around the clock (24×7): no hours, no holidays.
    #[serde(default)]
    pub always_open: bool,
    /// Per day (`mon` … `sun`): intervals like `"09:00-12:30"`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub hours: std::collections::BTreeMap<String, Vec<String>>,
    /// `{"date": "2026-12-25"}` closes a day; with `hours` it is a partial day.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub holidays: Vec<crate::domain::calendar::HolidaySpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarView {
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    pub always_open: bool,
    #[schema(value_type = Object)]
    pub hours: std::collections::BTreeMap<String, Vec<String>>,
    #[schema(value_type = Vec<Object>)]
    pub holidays: Vec<crate::domain::calendar::HolidaySpec>,
    pub updated_at: DateTime<Utc>,
}

/// An SLA policy as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub name: String,
    /// Policies are tried in ascending position; the first match applies.
    #[serde(default)]
    pub position: i64,
    /// Which tickets: lists of kinds, priorities, category and team names (empty = any).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub selector: Selector,
    /// Minutes of business time: `first_response_minutes`, `resolution_minutes`, `next_response_minutes`.
    #[schema(value_type = Object)]
    pub targets: Targets,
    /// Warning thresholds in percent of a target (default 75 and 90).
    #[serde(default = "default_warnings")]
    pub warn_at_percent: Vec<u8>,
    /// States in which the clocks pause (default `on_hold`).
    #[serde(default = "default_pause_states")]
    pub pause_states: Vec<String>,
    /// `restart` (default) or `resume`: the resolution clock on reopening.
    #[serde(default)]
    #[schema(value_type = String)]
    pub on_reopen: OnReopen,
    /// Business calendar id; none means 24×7 in UTC.
    #[serde(default)]
    pub calendar: Option<Uuid>,
}

fn default_warnings() -> Vec<u8> {
    vec![75, 90]
}

fn default_pause_states() -> Vec<String> {
    vec![State::OnHold.as_str().into()]
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub id: Uuid,
    pub name: String,
    pub position: i64,
    #[schema(value_type = Object)]
    pub selector: Selector,
    #[schema(value_type = Object)]
    pub targets: Targets,
    pub warn_at_percent: Vec<u8>,
    pub pause_states: Vec<String>,
    #[schema(value_type = String)]
    pub on_reopen: OnReopen,
    pub calendar: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

/// One target of a ticket's SLA as a person reads it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ClockView {
    /// `first_response`, `resolution` or `next_response`.
    pub target: String,
    /// `running`, `paused`, `warned`, `breached`, `met` or `stopped`.
    pub state: String,
    pub goal_seconds: i64,
    /// Business seconds used so far.
    pub elapsed_seconds: i64,
    /// Business seconds left (negative once breached).
    pub remaining_seconds: i64,
    /// When the target is due if the clock keeps running; none while paused.
    pub due_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub met_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    /// Highest warning threshold passed (percent), 0 for none.
    pub warned_percent: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketSlaView {
    pub number: String,
    pub policy: Option<Uuid>,
    pub policy_name: Option<String>,
    pub calendar: Option<Uuid>,
    pub clocks: Vec<ClockView>,
}

/// Query of the compliance report.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// `policy` (default), `team` or `priority`.
    pub group_by: Option<String>,
    /// Start of the period (RFC 3339); default 30 days ago.
    pub from: Option<DateTime<Utc>>,
    /// End of the period, exclusive; default now.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplianceView {
    /// The policy name, team name or priority (null: no team).
    pub group: Option<String>,
    pub target: String,
    pub total: i64,
    pub met: i64,
    pub breached: i64,
    /// Met in percent of all outcomes of the group.
    pub compliance_percent: f64,
}

/// How a replay compared with the live state of one ticket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayReport {
    pub number: String,
    pub consistent: bool,
    pub live: Vec<ClockView>,
    pub replayed: Vec<ClockView>,
}

impl Desk {
    // ---- calendars -------------------------------------------------------

    pub async fn create_calendar(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: CalendarInput,
    ) -> Result<CalendarView, DeskError> {
        actor.require_admin()?;
        let now = store::now();
        let row = calendar_row(actor.org_id, new_id(), input, now, now)?;
        store::sla::upsert_calendar(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "sla.calendar_created",
            &row.name,
            json!({ "id": row.id }),
        );
        calendar_view(&row)
    }

    pub async fn update_calendar(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: CalendarInput,
    ) -> Result<CalendarView, DeskError> {
        actor.require_admin()?;
        let old = store::sla::find_calendar(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("calendar"))?;
        let row = calendar_row(actor.org_id, id, input, old.created_at, store::now())?;
        store::sla::upsert_calendar(&mut work.tx, &row).await?;
        self.calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        work.audit(
            actor,
            "sla.calendar_updated",
            &row.name,
            json!({ "id": id }),
        );
        calendar_view(&row)
    }

    pub async fn list_calendars(&self, actor: &Actor) -> Result<Vec<CalendarView>, DeskError> {
        actor.require_agent()?;
        store::sla::list_calendars(Exec::Db(&self.db), actor.org_id)
            .await?
            .iter()
            .map(calendar_view)
            .collect()
    }

    pub async fn get_calendar(&self, actor: &Actor, id: Uuid) -> Result<CalendarView, DeskError> {
        actor.require_agent()?;
        let row = store::sla::find_calendar(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("calendar"))?;
        calendar_view(&row)
    }

    pub async fn delete_calendar(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        let row = store::sla::find_calendar(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("calendar"))?;
        if store::sla::calendar_in_use(&mut work.tx, id).await? {
            return Err(DeskError::Conflict(format!(
                "calendar {} is used by an SLA policy",
                row.name
            )));
        }
        store::sla::delete_calendar(&mut work.tx, actor.org_id, id).await?;
        work.audit(
            actor,
            "sla.calendar_deleted",
            &row.name,
            json!({ "id": id }),
        );
        Ok(())
    }

    // ---- policies --------------------------------------------------------

    pub async fn create_sla_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: PolicyInput,
    ) -> Result<PolicyView, DeskError> {
        actor.require_admin()?;
        let now = store::now();
        let row = self
            .policy_row(&mut work.tx, actor.org_id, new_id(), input, now, now)
            .await?;
        store::sla::upsert_policy(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "sla.policy_created",
            &row.name,
            json!({ "id": row.id }),
        );
        policy_view(&row)
    }

    pub async fn update_sla_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: PolicyInput,
    ) -> Result<PolicyView, DeskError> {
        actor.require_admin()?;
        let old = store::sla::find_policy(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("SLA policy"))?;
        let row = self
            .policy_row(
                &mut work.tx,
                actor.org_id,
                id,
                input,
                old.created_at,
                store::now(),
            )
            .await?;
        store::sla::upsert_policy(&mut work.tx, &row).await?;
        work.audit(actor, "sla.policy_updated", &row.name, json!({ "id": id }));
        policy_view(&row)
    }

    pub async fn list_sla_policies(&self, actor: &Actor) -> Result<Vec<PolicyView>, DeskError> {
        actor.require_agent()?;
        store::sla::list_policies(Exec::Db(&self.db), actor.org_id)
            .await?
            .iter()
            .map(policy_view)
            .collect()
    }

    pub async fn get_sla_policy(&self, actor: &Actor, id: Uuid) -> Result<PolicyView, DeskError> {
        actor.require_agent()?;
        let row = store::sla::find_policy(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("SLA policy"))?;
        policy_view(&row)
    }

    pub async fn delete_sla_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        let row = store::sla::find_policy(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("SLA policy"))?;
        store::sla::delete_policy(&mut work.tx, actor.org_id, id).await?;
        work.audit(actor, "sla.policy_deleted", &row.name, json!({ "id": id }));
        Ok(())
    }

    async fn policy_row(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
        id: Uuid,
        input: PolicyInput,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Result<PolicyRow, DeskError> {
        let mut errors = Vec::new();
        if input.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        sla::validate_terms(&input.targets, &input.warn_at_percent, &mut errors);
        for (i, state) in input.pause_states.iter().enumerate() {
            if let Err(e) = State::parse(state) {
                errors.push(FieldError::new(format!("pause_states[{i}]"), e.to_string()));
            }
        }
        for (i, kind) in input.selector.kinds.iter().enumerate() {
            if let Err(e) = crate::domain::Kind::parse(kind) {
                errors.push(FieldError::new(
                    format!("selector.kinds[{i}]"),
                    e.to_string(),
                ));
            }
        }
        for (i, priority) in input.selector.priorities.iter().enumerate() {
            if let Err(e) = crate::domain::Priority::parse(priority) {
                errors.push(FieldError::new(
                    format!("selector.priorities[{i}]"),
                    e.to_string(),
                ));
            }
        }
        if let Some(calendar) = input.calendar {
            if store::sla::find_calendar(Exec::Tx(tx), org_id, calendar)
                .await?
                .is_none()
            {
                errors.push(FieldError::new(
                    "calendar",
                    format!("no calendar {calendar}"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let json = |v: serde_json::Result<serde_json::Value>| {
            v.map(sqlx::types::Json).map_err(anyhow::Error::from)
        };
        Ok(PolicyRow {
            id,
            org_id,
            name: input.name.trim().into(),
            position: input.position,
            selector: json(serde_json::to_value(&input.selector))?,
            targets: json(serde_json::to_value(input.targets))?,
            warn_at_percent: json(serde_json::to_value(&input.warn_at_percent))?,
            pause_states: json(serde_json::to_value(
                input
                    .pause_states
                    .iter()
                    .filter_map(|s| State::parse(s).ok().map(|s| s.as_str().to_string()))
                    .collect::<Vec<_>>(),
            ))?,
            on_reopen: match input.on_reopen {
                OnReopen::Restart => "restart".into(),
                OnReopen::Resume => "resume".into(),
            },
            calendar_id: input.calendar,
            created_at,
            updated_at,
        })
    }

    // ---- the clocks of a ticket -------------------------------------------

    /// The calendar of `id` (none: 24×7 UTC); parsed calendars are cached briefly.
    pub(crate) async fn calendar(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
        id: Option<Uuid>,
    ) -> Result<Arc<Calendar>, DeskError> {
        let Some(id) = id else {
            return Ok(Arc::new(Calendar::always_open(chrono_tz::UTC)));
        };
        if let Some((at, cal)) = self
            .calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            if at.elapsed() < CALENDAR_TTL {
                return Ok(cal.clone());
            }
        }
        let cal = match store::sla::find_calendar(Exec::Tx(tx), org_id, id).await? {
            Some(row) => Arc::new(parse_calendar(&row)?),
            // Deleted since: the clocks carry on around the clock.
            None => Arc::new(Calendar::always_open(chrono_tz::UTC)),
        };
        self.calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (std::time::Instant::now(), cal.clone()));
        Ok(cal)
    }

    /// The terms of the first policy matching the ticket, if any.
    /// The terms of the first policy matching the ticket; `policies` are
    /// the organization's, when already read in this transaction.
    async fn select_terms(
        &self,
        tx: &mut Tx,
        row: &TicketRow,
        policies: Option<Vec<store::sla::PolicyRow>>,
    ) -> Result<Option<Terms>, DeskError> {
        let facts = TicketFacts {
            kind: &row.kind,
            priority: &row.priority,
            category: row.category_name.as_deref(),
            team: row.team_name.as_deref(),
        };
        let policies = match policies {
            Some(policies) => policies,
            None => store::sla::list_policies(Exec::Tx(tx), row.org_id).await?,
        };
        for policy in policies {
            let selector: Selector =
                serde_json::from_value(policy.selector.0.clone()).map_err(anyhow::Error::from)?;
            if selector.matches(&facts) {
                return Ok(Some(terms_of(&policy)?));
            }
        }
        Ok(None)
    }

    /// A new ticket: the first matching policy's clocks start.
    pub(crate) async fn sla_on_open(
        &self,
        work: &mut Work,
        row: &TicketRow,
    ) -> Result<(), DeskError> {
        let prefetched = work.take_sla_policies(row.org_id);
        let Some(terms) = self.select_terms(&mut work.tx, row, prefetched).await? else {
            return Ok(());
        };
        let paused = terms.pause_states.contains(&row.state);
        self.sla_apply(
            work,
            row,
            SlaState::default(),
            0,
            vec![SlaEvent::Attach { terms, paused }],
        )
        .await
    }

    /// A state change: pause, resume, met on resolution, restart on reopening, stop at the end.
    pub(crate) async fn sla_on_move(
        &self,
        work: &mut Work,
        row: &TicketRow,
        from: State,
        to: State,
    ) -> Result<(), DeskError> {
        if to == State::Resolved || to.is_terminal() {
            self.escalation_stop(work, row).await?;
        }
        let Some((state, generation)) = self.sla_state(&mut work.tx, row.id).await? else {
            return Ok(());
        };
        let pause_states = state
            .terms
            .as_ref()
            .map(|t| t.pause_states.clone())
            .unwrap_or_default();
        let pausing = |s: State| pause_states.iter().any(|p| p == s.as_str());
        let mut events = Vec::new();
        if from == State::Resolved && !to.is_terminal() {
            events.push(SlaEvent::Reopen);
        }
        match (pausing(from), pausing(to)) {
            (false, true) => events.push(SlaEvent::Pause),
            (true, false) => events.push(SlaEvent::Resume),
            _ => {}
        }
        if to == State::Resolved {
            events.push(SlaEvent::Met {
                target: Target::Resolution,
            });
        } else if to.is_terminal() {
            if to == State::Closed && from != State::Resolved {
                events.push(SlaEvent::Met {
                    target: Target::Resolution,
                });
            }
            events.push(SlaEvent::Stop);
        }
        if events.is_empty() {
            return Ok(());
        }
        self.sla_apply(work, row, state, generation, events).await
    }

    /// A public comment: an agent's answers the requester (first / next
    /// response met); the requester's starts the next-response clock.
    pub(crate) async fn sla_on_comment(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: &TicketRow,
        internal: bool,
    ) -> Result<(), DeskError> {
        if internal || actor.person_id.is_none() {
            return Ok(());
        }
        let Some((state, generation)) = self.sla_state(&mut work.tx, row.id).await? else {
            return Ok(());
        };
        let event = if actor.is_agent() && actor.person_id != row.requester_id {
            SlaEvent::Met {
                target: Target::FirstResponse,
            }
        } else {
            SlaEvent::Awaiting
        };
        self.sla_apply(work, row, state, generation, vec![event])
            .await
    }

    /// Priority, category or team changed: another policy may apply; the
    /// clocks keep the business time already used.
    pub(crate) async fn sla_on_change(
        &self,
        work: &mut Work,
        row: &TicketRow,
    ) -> Result<(), DeskError> {
        let Some(terms) = self.select_terms(&mut work.tx, row, None).await? else {
            return Ok(());
        };
        let (state, generation) = self
            .sla_state(&mut work.tx, row.id)
            .await?
            .unwrap_or_default();
        if state.terms.as_ref() == Some(&terms) {
            return Ok(());
        }
        let paused = terms.pause_states.contains(&row.state);
        self.sla_apply(
            work,
            row,
            state,
            generation,
            vec![SlaEvent::Attach { terms, paused }],
        )
        .await
    }

    async fn sla_state(
        &self,
        tx: &mut Tx,
        ticket_id: Uuid,
    ) -> Result<Option<(SlaState, i64)>, DeskError> {
        let Some(row) = store::sla::find_state(Exec::Tx(tx), ticket_id).await? else {
            return Ok(None);
        };
        let state: SlaState = serde_json::from_value(row.state.0).map_err(anyhow::Error::from)?;
        Ok(Some((state, row.generation)))
    }

    /// Applies events now, records them, announces alarms that became due
    /// and schedules the timer of the next one.
    async fn sla_apply(
        &self,
        work: &mut Work,
        row: &TicketRow,
        mut state: SlaState,
        generation: i64,
        events: Vec<SlaEvent>,
    ) -> Result<(), DeskError> {
        let now = self.clock.now();
        let mut cal = self
            .calendar(
                &mut work.tx,
                row.org_id,
                state.terms.as_ref().and_then(|t| t.calendar_id),
            )
            .await?;
        let mut kinds = Vec::new();
        for event in &events {
            if let SlaEvent::Attach { terms, .. } = event {
                let fired = state.catch_up(&cal, now);
                kinds.extend(self.announce(work, row, &state, &cal, fired).await?);
                cal = self
                    .calendar(&mut work.tx, row.org_id, terms.calendar_id)
                    .await?;
            }
            let (fired, met) = state.apply(&cal, event, now);
            kinds.extend(self.announce(work, row, &state, &cal, fired).await?);
            for target in met {
                self.record_outcome(work, row, &state, &cal, target, "met", now)
                    .await?;
            }
            let value = serde_json::to_string(event).map_err(anyhow::Error::from)?;
            push_activity(work, row, SLA_EVENT, None, Some(value), now);
        }
        self.save_sla(work, row, &state, &cal, generation + 1)
            .await?;
        self.escalate_alarms(work, row.id, kinds).await
    }

    async fn save_sla(
        &self,
        work: &mut Work,
        row: &TicketRow,
        state: &SlaState,
        cal: &Calendar,
        generation: i64,
    ) -> Result<(), DeskError> {
        store::sla::upsert_state(
            &mut work.tx,
            &SlaStateRow {
                ticket_id: row.id,
                org_id: row.org_id,
                policy_id: state.terms.as_ref().map(|t| t.policy_id),
                state: sqlx::types::Json(serde_json::to_value(state).map_err(anyhow::Error::from)?),
                generation,
                updated_at: store::now(),
            },
        )
        .await?;
        if let Some((_, due)) = state.next_alarm(cal) {
            // Older timers of this ticket stay and find their generation stale:
            // deleting them here could wait on a scheduler holding one.
            work.schedule(TimerRow {
                id: new_id(),
                org_id: row.org_id,
                kind: SLA_ALARM.into(),
                ticket_id: Some(row.id),
                payload: sqlx::types::Json(json!({ "generation": generation })),
                due_at: due,
                created_at: store::now(),
            });
        }
        Ok(())
    }

    /// Records warnings and breaches that became due: activity, event (for
    /// automation rules and webhooks), an outcome for a breach, and a
    /// message to whoever works the ticket.
    async fn announce(
        &self,
        work: &mut Work,
        row: &TicketRow,
        state: &SlaState,
        cal: &Calendar,
        fired: Vec<(Alarm, DateTime<Utc>)>,
    ) -> Result<Vec<On>, DeskError> {
        let mut kinds = Vec::new();
        for (alarm, at) in fired {
            kinds.push(match alarm {
                Alarm::Warning(..) => On::SlaWarning,
                Alarm::Breach(_) => On::SlaBreach,
            });
            let (name, action, target, detail) = match alarm {
                Alarm::Warning(target, pct) => (
                    "sla.warning",
                    "sla_warning",
                    target,
                    json!({ "target": target, "percent": pct, "at": at }),
                ),
                Alarm::Breach(target) => (
                    "sla.breached",
                    "sla_breached",
                    target,
                    json!({ "target": target, "due_at": at }),
                ),
            };
            let value = match alarm {
                Alarm::Warning(_, pct) => format!("{pct}%"),
                Alarm::Breach(_) => "breached".into(),
            };
            push_activity(work, row, action, Some(target.as_str()), Some(value), at);
            work.emit(row.org_id, name, TicketView::from(row), detail.clone());
            if matches!(alarm, Alarm::Breach(_)) {
                self.record_outcome(work, row, state, cal, target, "breached", at)
                    .await?;
            }
            let recipient = match row.assignee_id {
                Some(id) => Some(id),
                None => match row.team_id {
                    Some(team) => store::teams::find_team(&mut work.tx, row.org_id, team)
                        .await?
                        .and_then(|t| t.lead_id),
                    None => None,
                },
            };
            if let Some(person) = recipient {
                let what = match alarm {
                    Alarm::Warning(_, pct) => format!(
                        "{pct}% of its {} target used",
                        target.as_str().replace('_', " ")
                    ),
                    Alarm::Breach(_) => {
                        format!("{} target breached", target.as_str().replace('_', " "))
                    }
                };
                let (template, percent) = match alarm {
                    Alarm::Warning(_, pct) => ("sla_warning", u32::from(pct)),
                    Alarm::Breach(_) => ("sla_breached", 100),
                };
                let context = json!({
                    "ticket": super::notify::ticket_context(row),
                    "person": { "id": person },
                    "sla": { "target": target.as_str().replace('_', " "), "percent": percent, "due_at": state.clock(target).and_then(|c| c.due_at(cal)).unwrap_or(at) },
                    "escalation": {},
                    "organization": { "public_url": self.settings.auth.public_url.as_str() },
                });
                let text = self.templates.render(
                    &format!("{template}.text"),
                    &context,
                    format!("{} \"{}\": {what}.", row.number, row.title),
                );
                let sms = self
                    .templates
                    .render(&format!("{template}.sms"), &context, text.clone());
                let message = super::notify::Message {
                    event: name,
                    subject: format!("{}: {what}", row.number),
                    text,
                    data: json!({ "ticket": row.number, "alarm": detail, "sms": sms }),
                };
                self.notify_person_in(work, row.org_id, person, &message, Some(&context))
                    .await?;
            }
        }
        Ok(kinds)
    }

    /// Escalation steps waiting on the alarms, run once the SLA state is
    /// saved (a step may change the ticket, which re-reads that state).
    async fn escalate_alarms(
        &self,
        work: &mut Work,
        ticket_id: Uuid,
        kinds: Vec<On>,
    ) -> Result<(), DeskError> {
        for on in [On::SlaWarning, On::SlaBreach] {
            if kinds.contains(&on) {
                self.escalation_on_alarm(work, ticket_id, on).await?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_outcome(
        &self,
        work: &mut Work,
        row: &TicketRow,
        state: &SlaState,
        cal: &Calendar,
        target: Target,
        outcome: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let (Some(terms), Some(clock)) = (state.terms.as_ref(), state.clock(target)) else {
            return Ok(());
        };
        let due_at = match outcome {
            "breached" => Some(at),
            _ => clock.breached_at.or_else(|| {
                Some(cal.add_business_duration(
                    at,
                    Duration::seconds(clock.goal_secs - clock.elapsed_secs),
                ))
            }),
        };
        store::sla::insert_outcome(
            &mut work.tx,
            &OutcomeRow {
                id: new_id(),
                org_id: row.org_id,
                ticket_id: row.id,
                target: target.as_str().into(),
                started_at: clock.started_at,
                policy_id: Some(terms.policy_id),
                policy_name: terms.policy_name.clone(),
                team_id: row.team_id,
                priority: row.priority.clone(),
                kind: row.kind.clone(),
                outcome: outcome.into(),
                due_at,
                decided_at: at,
            },
        )
        .await?;
        Ok(())
    }

    /// The scheduler's `sla_alarm` timer: notices the alarms now due.
    pub(super) async fn sla_timer(
        &self,
        work: &mut Work,
        timer: &TimerRow,
    ) -> Result<(), DeskError> {
        let Some(ticket_id) = timer.ticket_id else {
            return Ok(());
        };
        let wanted = timer.payload.0.get("generation").and_then(|g| g.as_i64());
        // Cheap check first, without the ticket lock: most stale timers end here.
        let Some((_, generation)) = self.sla_state(&mut work.tx, ticket_id).await? else {
            return Ok(());
        };
        if Some(generation) != wanted {
            return Ok(());
        }
        store::sla::lock_ticket(&mut work.tx, ticket_id).await?;
        let Some((mut state, generation)) = self.sla_state(&mut work.tx, ticket_id).await? else {
            return Ok(());
        };
        if Some(generation) != wanted {
            return Ok(());
        }
        let Some(row) = store::tickets::find_ticket(&mut work.tx, timer.org_id, ticket_id).await?
        else {
            return Ok(());
        };
        let cal = self
            .calendar(
                &mut work.tx,
                row.org_id,
                state.terms.as_ref().and_then(|t| t.calendar_id),
            )
            .await?;
        let fired = state.catch_up(&cal, self.clock.now());
        if fired.is_empty() {
            // Early (e.g. a calendar edit moved the alarm): wait for the next one.
            return self
                .save_sla(work, &row, &state, &cal, generation + 1)
                .await;
        }
        let kinds = self.announce(work, &row, &state, &cal, fired).await?;
        self.save_sla(work, &row, &state, &cal, generation + 1)
            .await?;
        self.escalate_alarms(work, row.id, kinds).await
    }

    // ---- reading --------------------------------------------------------

    pub async fn ticket_sla(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketSlaView, DeskError> {
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let mut tx = self.db.read().await?;
        let (state, _) = self.sla_state(&mut tx, row.id).await?.unwrap_or_default();
        let cal = self
            .calendar(
                &mut tx,
                row.org_id,
                state.terms.as_ref().and_then(|t| t.calendar_id),
            )
            .await?;
        Ok(TicketSlaView {
            number: row.number,
            policy: state.terms.as_ref().map(|t| t.policy_id),
            policy_name: state.terms.as_ref().map(|t| t.policy_name.clone()),
            calendar: state.terms.as_ref().and_then(|t| t.calendar_id),
            clocks: clock_views(&state, &cal, self.clock.now()),
        })
    }

    pub async fn sla_compliance(
        &self,
        actor: &Actor,
        query: ComplianceQuery,
    ) -> Result<Vec<ComplianceView>, DeskError> {
        actor.require_agent()?;
        let group = match query.group_by.as_deref().unwrap_or("policy") {
            "policy" => GroupBy::Policy,
            "team" => GroupBy::Team,
            "priority" => GroupBy::Priority,
            other => {
                return Err(DeskError::invalid(
                    "group_by",
                    format!("unknown grouping `{other}`; expected one of: policy, team, priority"),
                ))
            }
        };
        let to = query.to.unwrap_or_else(|| self.clock.now());
        let from = query.from.unwrap_or(to - Duration::days(30));
        if from >= to {
            return Err(DeskError::invalid("from", "must be before `to`"));
        }
        let rows =
            store::sla::compliance(Exec::Db(&self.db), actor.org_id, group, from, to).await?;
        Ok(rows
            .into_iter()
            .map(|r| ComplianceView {
                group: r.key,
                target: r.target,
                total: r.total,
                met: r.met,
                breached: r.total - r.met,
                compliance_percent: if r.total == 0 {
                    100.0
                } else {
                    (r.met as f64 * 1000.0 / r.total as f64).round() / 10.0
                },
            })
            .collect())
    }

    /// Recomputes the SLA of one ticket (or, with `None`, every ticket with
    /// one) from its activity alone and compares with the live state.
    pub async fn replay_sla(
        &self,
        org: &str,
        number: Option<&str>,
    ) -> Result<Vec<ReplayReport>, DeskError> {
        let mut tx = self.db.read().await?;
        let org = store::orgs::find_org_by_slug(&mut tx, org)
            .await?
            .ok_or(DeskError::NotFound("organization"))?;
        let actor = Actor::system(org.id);
        let tickets = match number {
            Some(number) => vec![
                self.visible_ticket(Exec::Tx(&mut tx), &actor, number)
                    .await?
                    .id,
            ],
            None => store::sla::list_state_tickets(Exec::Tx(&mut tx), org.id).await?,
        };
        let mut calendars: HashMap<Uuid, Arc<Calendar>> = HashMap::new();
        for row in store::sla::list_calendars(Exec::Tx(&mut tx), org.id).await? {
            calendars.insert(row.id, Arc::new(parse_calendar(&row)?));
        }
        let lookup = |id: Option<Uuid>| {
            id.and_then(|id| calendars.get(&id).map(|c| (**c).clone()))
                .unwrap_or_else(|| Calendar::always_open(chrono_tz::UTC))
        };
        let now = self.clock.now();
        let mut reports = Vec::new();
        for ticket_id in tickets {
            let Some(row) = store::tickets::find_ticket(&mut tx, org.id, ticket_id).await? else {
                continue;
            };
            let (mut live, _) = self
                .sla_state(&mut tx, ticket_id)
                .await?
                .unwrap_or_default();
            let mut events = Vec::new();
            for (at, value) in store::sla::list_sla_events(Exec::Tx(&mut tx), ticket_id).await? {
                let event: SlaEvent = serde_json::from_str(value.as_deref().unwrap_or_default())
                    .map_err(|e| {
                        anyhow::anyhow!("ticket {}: unreadable SLA event at {at}: {e}", row.number)
                    })?;
                events.push((at, event));
            }
            let replayed = sla::replay(&events, lookup, now);
            let cal = lookup(live.terms.as_ref().and_then(|t| t.calendar_id));
            live.catch_up(&cal, now);
            reports.push(ReplayReport {
                number: row.number,
                consistent: replayed == live,
                live: clock_views(&live, &cal, now),
                replayed: clock_views(&replayed, &cal, now),
            });
        }
        Ok(reports)
    }
}

fn push_activity(
    work: &mut Work,
    row: &TicketRow,
    action: &str,
    field: Option<&str>,
    value: Option<String>,
    at: DateTime<Utc>,
) {
    work.buffers.activity.push(ActivityRow {
        id: new_id(),
        org_id: row.org_id,
        ticket_id: row.id,
        actor_id: None,
        actor_name: None,
        channel: crate::domain::Channel::System.as_str().into(),
        action: action.into(),
        field: field.map(Into::into),
        old_value: None,
        new_value: value,
        created_at: at,
    });
}

fn clock_views(state: &SlaState, cal: &Calendar, now: DateTime<Utc>) -> Vec<ClockView> {
    state
        .clocks
        .iter()
        .map(|c| {
            let elapsed = c.elapsed_at(cal, now);
            ClockView {
                target: c.target.as_str().into(),
                state: c.status().as_str().into(),
                goal_seconds: c.goal_secs,
                elapsed_seconds: elapsed,
                remaining_seconds: c.goal_secs - elapsed,
                due_at: c.due_at(cal),
                started_at: c.started_at,
                met_at: c.met_at,
                breached_at: c.breached_at,
                warned_percent: c.warned_pct,
            }
        })
        .collect()
}

fn calendar_row(
    org_id: Uuid,
    id: Uuid,
    input: CalendarInput,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<CalendarRow, DeskError> {
    let spec = CalendarSpec {
        time_zone: input.time_zone,
        always_open: input.always_open,
        hours: input.hours,
        holidays: input.holidays,
    };
    let mut errors = Calendar::parse(&spec).err().unwrap_or_default();
    if input.name.trim().is_empty() {
        errors.push(FieldError::new("name", "must not be empty"));
    }
    if !errors.is_empty() {
        return Err(DeskError::Invalid(errors));
    }
    Ok(CalendarRow {
        id,
        org_id,
        name: input.name.trim().into(),
        spec: sqlx::types::Json(serde_json::to_value(&spec).map_err(anyhow::Error::from)?),
        created_at,
        updated_at,
    })
}

fn parse_calendar(row: &CalendarRow) -> Result<Calendar, DeskError> {
    let spec: CalendarSpec =
        serde_json::from_value(row.spec.0.clone()).map_err(anyhow::Error::from)?;
    Calendar::parse(&spec).map_err(|errors| {
        DeskError::Internal(anyhow::anyhow!(
            "stored calendar {} is invalid: {}",
            row.name,
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

fn calendar_view(row: &CalendarRow) -> Result<CalendarView, DeskError> {
    let spec: CalendarSpec =
        serde_json::from_value(row.spec.0.clone()).map_err(anyhow::Error::from)?;
    Ok(CalendarView {
        id: row.id,
        name: row.name.clone(),
        time_zone: spec.time_zone,
        always_open: spec.always_open,
        hours: spec.hours,
        holidays: spec.holidays,
        updated_at: row.updated_at,
    })
}

fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, DeskError> {
    Ok(serde_json::from_value(v.clone()).map_err(anyhow::Error::from)?)
}

fn terms_of(row: &PolicyRow) -> Result<Terms, DeskError> {
    Ok(Terms {
        policy_id: row.id,
        policy_name: row.name.clone(),
        calendar_id: row.calendar_id,
        targets: parse(&row.targets.0)?,
        warn_at_percent: parse(&row.warn_at_percent.0)?,
        pause_states: parse(&row.pause_states.0)?,
        on_reopen: if row.on_reopen == "resume" {
            OnReopen::Resume
        } else {
            OnReopen::Restart
        },
    })
}

fn policy_view(row: &PolicyRow) -> Result<PolicyView, DeskError> {
    let terms = terms_of(row)?;
    Ok(PolicyView {
        id: row.id,
        name: row.name.clone(),
        position: row.position,
        selector: serde_json::from_value(row.selector.0.clone()).map_err(anyhow::Error::from)?,
        targets: terms.targets,
        warn_at_percent: terms.warn_at_percent,
        pause_states: terms.pause_states,
        on_reopen: terms.on_reopen,
        calendar: row.calendar_id,
        updated_at: row.updated_at,
    })
}
