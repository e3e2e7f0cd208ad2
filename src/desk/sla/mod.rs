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
//!
//! Files: `mod.rs` the clocks — the hooks the ticket use cases call
//! (`sla_on_open`, `sla_on_move`, `sla_on_comment`, `sla_on_change`), the
//! alarm timer, compliance and replay; `calendars.rs` business calendars;
//! `policies.rs` SLA policies and their terms. May import `domain`, `store`
//! and desk's `notify` and `views`; tickets reach it only through the
//! `Desk` hooks, so it never imports `tickets`.

mod calendars;
mod policies;

use calendars::parse_calendar;
pub use calendars::{CalendarInput, CalendarView};
use policies::terms_of;
pub use policies::{PolicyInput, PolicyView};

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{new_id, views::TicketView, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        calendar::Calendar,
        escalation::On,
        sla::{self, Alarm, Selector, SlaEvent, SlaState, Target, Terms, TicketFacts},
        State,
    },
    store::{
        self,
        activity::ActivityRow,
        sla::{GroupBy, OutcomeRow, SlaStateRow},
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

    // ---- policies --------------------------------------------------------

    // ---- the clocks of a ticket -------------------------------------------

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
            state.standing().as_str(),
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

fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, DeskError> {
    Ok(serde_json::from_value(v.clone()).map_err(anyhow::Error::from)?)
}
