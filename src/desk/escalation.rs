//! Escalations: policies (admin), on-call rotations per team, each ticket's
//! escalation (started on creation with the first matching policy, its
//! "after N minutes" steps as timers, its "on SLA warning/breach" steps run
//! by the SLA alarms), acknowledgement and stop on resolution.
//!
//! Every step run is recorded in the activity (`escalated`) and produces
//! outbox messages. A step timer carries the escalation's generation:
//! acknowledging or resolving bumps it, so pending steps do nothing and a
//! reopened ticket does not resurrect them.

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id,
    notify::Message,
    people::resolve_person,
    teams::resolve_team,
    tickets::{Assignment, TicketChanges},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        escalation::{validate_steps, Action, On, Override, Rotation, RotationSpec, Step},
        sla::{Selector, TicketFacts},
        FieldError, Level,
    },
    store::{
        self,
        outbox::OutboxRow,
        sla::{EscalationPolicyRow, RotationRow, TicketEscalationRow},
        tickets::TicketRow,
        timers::TimerRow,
        Exec,
    },
};

/// The timer kind of an "after N minutes" step or a step's repeat.
pub const ESCALATION_STEP: &str = "escalation_step";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicyInput {
    pub name: String,
    /// Tried in ascending position; the first match applies to a new ticket.
    #[serde(default)]
    pub position: i64,
    /// Lists of kinds, priorities, category and team names (empty = any).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub selector: Selector,
    /// `{"after_minutes": 30 | "on": "sla_warning"|"sla_breach", "actions": [...],
    /// "repeat_every_minutes": 15, "repeat_times": 3}`; actions: `notify_person`
    /// (`person`), `notify_team` (`team`), `notify_lead`, `notify_on_call`
    /// (`team`), `notify_channel` (`channel`, `target`), `reassign` (`team`,
    /// `person`), `raise_priority`, `mark_major`.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EscalationPolicyView {
    pub id: Uuid,
    pub name: String,
    pub position: i64,
    #[schema(value_type = Object)]
    pub selector: Selector,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Step>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideInput {
    /// Person id or email.
    pub person: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationInput {
    /// IANA time zone of the hand-over.
    pub time_zone: String,
    /// `mon` … `sun`.
    pub handoff_day: String,
    /// `HH:MM` local.
    pub handoff_time: String,
    /// People (id or email) in rotation order; may be empty.
    pub members: Vec<String>,
    /// A date in the first member's week (YYYY-MM-DD).
    pub starts: String,
    #[serde(default)]
    pub overrides: Vec<OverrideInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OnCallView {
    pub team: Uuid,
    pub time_zone: String,
    pub handoff_day: String,
    pub handoff_time: String,
    pub members: Vec<Uuid>,
    pub starts: String,
    #[schema(value_type = Vec<Object>)]
    pub overrides: Vec<Override>,
    /// Who is on call now; none for an empty rotation.
    pub on_call_now: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketEscalationView {
    pub number: String,
    pub policy_name: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Steps still run when due.
    pub active: bool,
    pub escalation_level: i32,
}

impl Desk {
    pub async fn create_escalation_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: EscalationPolicyInput,
    ) -> Result<EscalationPolicyView, DeskError> {
        actor.require_admin()?;
        let now = store::now();
        let row = escalation_row(actor.org_id, new_id(), input, now, now)?;
        store::sla::upsert_escalation_policy(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "escalation.policy_created",
            &row.name,
            json!({ "id": row.id }),
        );
        escalation_view(&row)
    }

    pub async fn update_escalation_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: EscalationPolicyInput,
    ) -> Result<EscalationPolicyView, DeskError> {
        actor.require_admin()?;
        let old = store::sla::find_escalation_policy(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("escalation policy"))?;
        let row = escalation_row(actor.org_id, id, input, old.created_at, store::now())?;
        store::sla::upsert_escalation_policy(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "escalation.policy_updated",
            &row.name,
            json!({ "id": id }),
        );
        escalation_view(&row)
    }

    pub async fn list_escalation_policies(
        &self,
        actor: &Actor,
    ) -> Result<Vec<EscalationPolicyView>, DeskError> {
        actor.require_agent()?;
        store::sla::list_escalation_policies(Exec::Db(&self.db), actor.org_id)
            .await?
            .iter()
            .map(escalation_view)
            .collect()
    }

    pub async fn get_escalation_policy(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<EscalationPolicyView, DeskError> {
        actor.require_agent()?;
        let row = store::sla::find_escalation_policy(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("escalation policy"))?;
        escalation_view(&row)
    }

    pub async fn delete_escalation_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        let row = store::sla::find_escalation_policy(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("escalation policy"))?;
        store::sla::delete_escalation_policy(&mut work.tx, actor.org_id, id).await?;
        work.audit(
            actor,
            "escalation.policy_deleted",
            &row.name,
            json!({ "id": id }),
        );
        Ok(())
    }

    pub async fn set_on_call(
        &self,
        work: &mut Work,
        actor: &Actor,
        team: &str,
        input: RotationInput,
    ) -> Result<OnCallView, DeskError> {
        actor.require_admin()?;
        let team = team_in_path(resolve_team(&mut work.tx, actor.org_id, team).await)?;
        let mut members = Vec::new();
        for who in &input.members {
            members.push(
                resolve_person(&mut work.tx, actor.org_id, "members", who)
                    .await?
                    .0,
            );
        }
        let mut overrides = Vec::new();
        for o in &input.overrides {
            let person = resolve_person(&mut work.tx, actor.org_id, "overrides", &o.person)
                .await?
                .0;
            overrides.push(Override {
                person,
                from: o.from,
                to: o.to,
            });
        }
        let spec = RotationSpec {
            time_zone: input.time_zone,
            handoff_day: input.handoff_day,
            handoff_time: input.handoff_time,
            members,
            starts: input.starts,
            overrides,
        };
        let rotation = Rotation::parse(&spec).map_err(DeskError::Invalid)?;
        store::sla::upsert_rotation(
            &mut work.tx,
            &RotationRow {
                team_id: team.id,
                org_id: actor.org_id,
                spec: sqlx::types::Json(serde_json::to_value(&spec).map_err(anyhow::Error::from)?),
                updated_at: store::now(),
            },
        )
        .await?;
        work.audit(
            actor,
            "escalation.on_call_set",
            &team.name,
            json!({ "team": team.id }),
        );
        Ok(on_call_view(team.id, spec, &rotation, self.clock.now()))
    }

    pub async fn get_on_call(&self, actor: &Actor, team: &str) -> Result<OnCallView, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        let team = team_in_path(resolve_team(&mut tx, actor.org_id, team).await)?;
        let row = store::sla::find_rotation(Exec::Tx(&mut tx), actor.org_id, team.id)
            .await?
            .ok_or(DeskError::NotFound("on-call rotation"))?;
        let spec: RotationSpec = serde_json::from_value(row.spec.0).map_err(anyhow::Error::from)?;
        let rotation = Rotation::parse(&spec).map_err(DeskError::Invalid)?;
        Ok(on_call_view(team.id, spec, &rotation, self.clock.now()))
    }

    pub async fn ticket_escalation(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketEscalationView, DeskError> {
        actor.require_agent()?;
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let esc = store::sla::find_ticket_escalation(Exec::Db(&self.db), row.id).await?;
        Ok(escalation_status(&row, esc.as_ref()))
    }

    /// Stops the ticket's escalation: later steps and repeats do nothing.
    pub async fn acknowledge(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketEscalationView, DeskError> {
        actor.require_agent()?;
        let row = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        let Some(mut esc) =
            store::sla::find_ticket_escalation(Exec::Tx(&mut work.tx), row.id).await?
        else {
            return Ok(escalation_status(&row, None));
        };
        if esc.acknowledged_at.is_none() && esc.stopped_at.is_none() {
            esc.acknowledged_at = Some(self.clock.now());
            esc.acknowledged_by = actor.person_id;
            esc.generation += 1;
            store::sla::upsert_ticket_escalation(&mut work.tx, &esc).await?;
            work.record(actor, row.id, "escalation_acknowledged", None);
            work.audit(
                actor,
                "ticket.escalation_acknowledged",
                &row.number,
                json!({}),
            );
        }
        Ok(escalation_status(&row, Some(&esc)))
    }

    /// A new ticket: the first matching escalation policy starts.
    pub(crate) async fn escalation_on_open(
        &self,
        work: &mut Work,
        row: &TicketRow,
    ) -> Result<(), DeskError> {
        let facts = TicketFacts {
            kind: &row.kind,
            priority: &row.priority,
            category: row.category_name.as_deref(),
            team: row.team_name.as_deref(),
        };
        let mut chosen = None;
        let policies = match work.take_escalation_policies(row.org_id) {
            Some(policies) => policies,
            None => {
                store::sla::list_escalation_policies(Exec::Tx(&mut work.tx), row.org_id).await?
            }
        };
        for policy in policies {
            let selector: Selector =
                serde_json::from_value(policy.selector.0.clone()).map_err(anyhow::Error::from)?;
            if selector.matches(&facts) {
                chosen = Some(policy);
                break;
            }
        }
        match chosen {
            Some(policy) => self.start_escalation(work, row, policy, 1).await,
            None => Ok(()),
        }
    }

    /// `policy` (an alert integration's) takes over the ticket's escalation,
    /// or starts it again when it had stopped (an incident its alerts
    /// reopened pages again): the steps of the one before, which carry its
    /// generation, do nothing any more.
    pub(crate) async fn escalation_replace(
        &self,
        work: &mut Work,
        row: &TicketRow,
        policy_id: Uuid,
    ) -> Result<(), DeskError> {
        let Some(policy) =
            store::sla::find_escalation_policy(Exec::Tx(&mut work.tx), row.org_id, policy_id)
                .await?
        else {
            return Ok(());
        };
        let before = store::sla::find_ticket_escalation(Exec::Tx(&mut work.tx), row.id).await?;
        let running = before
            .as_ref()
            .is_some_and(|e| e.stopped_at.is_none() && e.acknowledged_at.is_none());
        if running && before.as_ref().and_then(|e| e.policy_id) == Some(policy.id) {
            return Ok(());
        }
        let generation = before.map_or(1, |e| e.generation + 1);
        self.start_escalation(work, row, policy, generation).await
    }

    /// The ticket's escalation starts again from its first step (its
    /// incident was reopened by its alerts), if it had one.
    pub(crate) async fn escalation_restart(
        &self,
        work: &mut Work,
        row: &TicketRow,
    ) -> Result<(), DeskError> {
        let before = store::sla::find_ticket_escalation(Exec::Tx(&mut work.tx), row.id).await?;
        match before.and_then(|e| e.policy_id) {
            Some(policy) => self.escalation_replace(work, row, policy).await,
            None => Ok(()),
        }
    }

    async fn start_escalation(
        &self,
        work: &mut Work,
        row: &TicketRow,
        policy: EscalationPolicyRow,
        generation: i64,
    ) -> Result<(), DeskError> {
        let steps: Vec<Step> =
            serde_json::from_value(policy.steps.0.clone()).map_err(anyhow::Error::from)?;
        let now = self.clock.now();
        let esc = TicketEscalationRow {
            ticket_id: row.id,
            org_id: row.org_id,
            policy_id: Some(policy.id),
            policy_name: policy.name,
            steps: policy.steps,
            started_at: now,
            generation,
            acknowledged_at: None,
            acknowledged_by: None,
            stopped_at: None,
        };
        store::sla::upsert_ticket_escalation(&mut work.tx, &esc).await?;
        for (i, step) in steps.iter().enumerate() {
            if let Some(minutes) = step.after_minutes {
                schedule_step(
                    work,
                    row,
                    generation,
                    i,
                    0,
                    now + Duration::minutes(minutes),
                );
            }
        }
        Ok(())
    }

    /// Resolution (or closing, cancelling) ends the escalation for good.
    pub(crate) async fn escalation_stop(
        &self,
        work: &mut Work,
        row: &TicketRow,
    ) -> Result<(), DeskError> {
        let Some(mut esc) =
            store::sla::find_ticket_escalation(Exec::Tx(&mut work.tx), row.id).await?
        else {
            return Ok(());
        };
        if esc.stopped_at.is_none() {
            esc.stopped_at = Some(self.clock.now());
            esc.generation += 1;
            store::sla::upsert_ticket_escalation(&mut work.tx, &esc).await?;
        }
        Ok(())
    }

    /// An SLA alarm of the ticket: its "on" steps run now.
    pub(crate) async fn escalation_on_alarm(
        &self,
        work: &mut Work,
        ticket_id: Uuid,
        on: On,
    ) -> Result<(), DeskError> {
        let Some(esc) =
            store::sla::find_ticket_escalation(Exec::Tx(&mut work.tx), ticket_id).await?
        else {
            return Ok(());
        };
        if esc.acknowledged_at.is_some() || esc.stopped_at.is_some() {
            return Ok(());
        }
        let steps: Vec<Step> =
            serde_json::from_value(esc.steps.0.clone()).map_err(anyhow::Error::from)?;
        for (i, step) in steps.iter().enumerate() {
            if step.on == Some(on) {
                self.run_step(work, &esc, i, 0).await?;
            }
        }
        Ok(())
    }

    /// The scheduler's `escalation_step` timer.
    pub(super) async fn escalation_timer(
        &self,
        work: &mut Work,
        timer: &TimerRow,
    ) -> Result<(), DeskError> {
        let Some(ticket_id) = timer.ticket_id else {
            return Ok(());
        };
        let payload = &timer.payload.0;
        let number = |k: &str| payload.get(k).and_then(|v| v.as_i64());
        let (Some(generation), Some(step), Some(round)) =
            (number("generation"), number("step"), number("round"))
        else {
            return Ok(());
        };
        let current = |esc: &Option<TicketEscalationRow>| {
            esc.as_ref().is_some_and(|e| {
                e.generation == generation && e.acknowledged_at.is_none() && e.stopped_at.is_none()
            })
        };
        if !current(&store::sla::find_ticket_escalation(Exec::Tx(&mut work.tx), ticket_id).await?) {
            return Ok(());
        }
        store::sla::lock_ticket(&mut work.tx, ticket_id).await?;
        let esc = store::sla::find_ticket_escalation(Exec::Tx(&mut work.tx), ticket_id).await?;
        if !current(&esc) {
            return Ok(());
        }
        let Some(esc) = esc else {
            return Ok(());
        };
        let (Ok(step), Ok(round)) = (usize::try_from(step), u32::try_from(round)) else {
            return Ok(());
        };
        self.run_step(work, &esc, step, round).await
    }

    /// Runs step `index` (its `round`-th repeat); an on-call step with
    /// nobody on call falls through to the next step at once.
    fn run_step<'a>(
        &'a self,
        work: &'a mut Work,
        esc: &'a TicketEscalationRow,
        index: usize,
        round: u32,
    ) -> BoxFuture<'a, Result<(), DeskError>> {
        Box::pin(async move {
            let steps: Vec<Step> =
                serde_json::from_value(esc.steps.0.clone()).map_err(anyhow::Error::from)?;
            let actor = Actor::system(esc.org_id);
            let now = self.clock.now();
            let mut index = index;
            let mut round = round;
            while let Some(step) = steps.get(index) {
                let Some(row) =
                    store::tickets::find_ticket(&mut work.tx, esc.org_id, esc.ticket_id).await?
                else {
                    return Ok(());
                };
                work.record(
                    &actor,
                    row.id,
                    "escalated",
                    Some((
                        "step",
                        None,
                        Some(format!(
                            "{} of {} ({})",
                            index + 1,
                            steps.len(),
                            esc.policy_name
                        )),
                    )),
                );
                work.emit(
                    esc.org_id,
                    "ticket.escalated",
                    super::views::TicketView::from(&row),
                    json!({ "policy": esc.policy_name, "step": index + 1,
                            "steps": steps.len(), "round": round }),
                );
                let mut fell_through = false;
                for action in &step.actions {
                    fell_through |= !self
                        .run_action(work, &actor, &row, action, index, &esc.policy_name)
                        .await?;
                }
                let level = i32::try_from(index + 1).unwrap_or(i32::MAX).min(10);
                if row.extra.escalation_level < level {
                    self.set_escalation_level(work, &actor, &row.number, i64::from(level))
                        .await?;
                }
                if let Some(every) = step.repeat_every_minutes {
                    if round < step.repeats() {
                        schedule_step(
                            work,
                            &row,
                            esc.generation,
                            index,
                            round + 1,
                            now + Duration::minutes(every),
                        );
                    }
                }
                if !fell_through {
                    break;
                }
                work.record(
                    &actor,
                    row.id,
                    "escalation_fell_through",
                    Some(("step", None, Some(format!("{}", index + 1)))),
                );
                index += 1;
                round = 0;
            }
            Ok(())
        })
    }

    /// Runs one action; false when it found nobody to tell (no one on call).
    async fn run_action(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: &TicketRow,
        action: &Action,
        index: usize,
        policy: &str,
    ) -> Result<bool, DeskError> {
        let context = json!({
            "ticket": super::notify::ticket_context(row),
            "person": {},
            "sla": {},
            "escalation": { "step": index + 1, "policy": policy },
            "organization": { "public_url": self.settings.auth.public_url.as_str() },
        });
        let fallback = format!(
            "{} \"{}\" ({}, {}) is escalated: step {}.",
            row.number,
            row.title,
            row.priority,
            row.state,
            index + 1
        );
        let text = self.templates.render("escalation.text", &context, fallback);
        let sms = self
            .templates
            .render("escalation.sms", &context, text.clone());
        let message = Message {
            event: "escalation",
            subject: format!("Escalation: {} {}", row.number, row.title),
            text,
            data: json!({ "ticket": row.number, "step": index + 1, "urgent": true, "sms": sms }),
        };
        match action {
            Action::NotifyPerson { person } => {
                match resolve_person(&mut work.tx, row.org_id, "person", person).await {
                    Ok((id, _, _)) => {
                        self.notify_person_in(work, row.org_id, id, &message, Some(&context))
                            .await?
                    }
                    Err(DeskError::Invalid(_)) => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            Action::NotifyTeam { team } => {
                let team = match resolve_team(&mut work.tx, row.org_id, team).await {
                    Ok(team) => team,
                    Err(DeskError::Invalid(_) | DeskError::NotFound(_)) => return Ok(false),
                    Err(e) => return Err(e),
                };
                let members = store::teams::list_members(&mut work.tx, team.id).await?;
                if members.is_empty() {
                    return Ok(false);
                }
                for person in members {
                    self.notify_person_in(work, row.org_id, person, &message, Some(&context))
                        .await?;
                }
            }
            Action::NotifyLead => {
                let lead = match row.team_id {
                    Some(team) => store::teams::find_team(&mut work.tx, row.org_id, team)
                        .await?
                        .and_then(|t| t.lead_id),
                    None => None,
                };
                match lead {
                    Some(lead) => {
                        self.notify_person_in(work, row.org_id, lead, &message, Some(&context))
                            .await?
                    }
                    None => return Ok(false),
                }
            }
            Action::NotifyOnCall { team } => {
                let team_id = match team {
                    Some(team) => match resolve_team(&mut work.tx, row.org_id, team).await {
                        Ok(team) => Some(team.id),
                        Err(DeskError::Invalid(_) | DeskError::NotFound(_)) => None,
                        Err(e) => return Err(e),
                    },
                    None => row.team_id,
                };
                let Some(team_id) = team_id else {
                    return Ok(false);
                };
                let Some(rotation) =
                    store::sla::find_rotation(Exec::Tx(&mut work.tx), row.org_id, team_id).await?
                else {
                    return Ok(false);
                };
                let spec: RotationSpec =
                    serde_json::from_value(rotation.spec.0).map_err(anyhow::Error::from)?;
                let on_call = Rotation::parse(&spec)
                    .ok()
                    .and_then(|r| r.on_call(self.clock.now()));
                match on_call {
                    Some(person) => {
                        self.notify_person_in(work, row.org_id, person, &message, Some(&context))
                            .await?
                    }
                    None => return Ok(false),
                }
            }
            Action::NotifyChannel { channel, target } => {
                let now = store::now();
                work.buffers.outbox.push(OutboxRow {
                    id: new_id(),
                    org_id: row.org_id,
                    channel: channel.clone(),
                    target: target.clone(),
                    event: "escalation".into(),
                    payload: sqlx::types::Json(json!({
                        "to": target, "subject": message.subject, "text": message.text, "data": message.data,
                    })),
                    state: store::outbox::PENDING.into(),
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                    created_at: now,
                    delivered_at: None,
                });
            }
            Action::Reassign { team, person } => {
                let change = Assignment {
                    team: team.clone().map(Some),
                    assignee: person.clone().map(Some),
                };
                tolerate(self.assign(work, actor, &row.number, change).await)?;
            }
            Action::RaisePriority => {
                let raise = |l: &str| match Level::parse(l) {
                    Ok(Level::Low) => Some("medium"),
                    Ok(Level::Medium) => Some("high"),
                    _ => None,
                };
                let changes = match (raise(&row.urgency), raise(&row.impact)) {
                    (Some(u), _) => TicketChanges {
                        urgency: Some(u.into()),
                        ..TicketChanges::default()
                    },
                    (None, Some(i)) => TicketChanges {
                        impact: Some(i.into()),
                        ..TicketChanges::default()
                    },
                    (None, None) => return Ok(true),
                };
                tolerate(self.update_ticket(work, actor, &row.number, changes).await)?;
            }
            Action::MarkMajor => {
                if !row.extra.major {
                    tolerate(
                        self.set_major(work, actor, &row.number, true, Some("Escalated".into()))
                            .await,
                    )?;
                }
            }
        }
        Ok(true)
    }
}

/// A team named in the path that is not there is "not found".
fn team_in_path<T>(result: Result<T, DeskError>) -> Result<T, DeskError> {
    result.map_err(|e| match e {
        DeskError::Invalid(_) => DeskError::NotFound("team"),
        other => other,
    })
}

/// An action refused by the rules (e.g. a team that no longer exists)
/// does not undo the step; a database error does.
fn tolerate<T>(result: Result<T, DeskError>) -> Result<(), DeskError> {
    match result {
        Ok(_) => Ok(()),
        Err(
            e @ (DeskError::Invalid(_)
            | DeskError::NotFound(_)
            | DeskError::Conflict(_)
            | DeskError::Forbidden(_)),
        ) => {
            tracing::info!(error = %e, "escalation action skipped");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn schedule_step(
    work: &mut Work,
    row: &TicketRow,
    generation: i64,
    step: usize,
    round: u32,
    due: DateTime<Utc>,
) {
    work.schedule(TimerRow {
        id: new_id(),
        org_id: row.org_id,
        kind: ESCALATION_STEP.into(),
        ticket_id: Some(row.id),
        payload: sqlx::types::Json(
            json!({ "generation": generation, "step": step, "round": round }),
        ),
        due_at: due,
        created_at: store::now(),
    });
}

fn escalation_status(row: &TicketRow, esc: Option<&TicketEscalationRow>) -> TicketEscalationView {
    TicketEscalationView {
        number: row.number.clone(),
        policy_name: esc.map(|e| e.policy_name.clone()),
        started_at: esc.map(|e| e.started_at),
        acknowledged_at: esc.and_then(|e| e.acknowledged_at),
        stopped_at: esc.and_then(|e| e.stopped_at),
        active: esc.is_some_and(|e| e.acknowledged_at.is_none() && e.stopped_at.is_none()),
        escalation_level: row.extra.escalation_level,
    }
}

fn on_call_view(
    team: Uuid,
    spec: RotationSpec,
    rotation: &Rotation,
    now: DateTime<Utc>,
) -> OnCallView {
    OnCallView {
        team,
        on_call_now: rotation.on_call(now),
        time_zone: spec.time_zone,
        handoff_day: spec.handoff_day,
        handoff_time: spec.handoff_time,
        members: spec.members,
        starts: spec.starts,
        overrides: spec.overrides,
    }
}

fn escalation_row(
    org_id: Uuid,
    id: Uuid,
    input: EscalationPolicyInput,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<EscalationPolicyRow, DeskError> {
    let mut errors = validate_steps(&input.steps);
    if input.name.trim().is_empty() {
        errors.insert(0, FieldError::new("name", "must not be empty"));
    }
    if !errors.is_empty() {
        return Err(DeskError::Invalid(errors));
    }
    let json = |v: serde_json::Result<serde_json::Value>| {
        v.map(sqlx::types::Json).map_err(anyhow::Error::from)
    };
    Ok(EscalationPolicyRow {
        id,
        org_id,
        name: input.name.trim().into(),
        position: input.position,
        selector: json(serde_json::to_value(&input.selector))?,
        steps: json(serde_json::to_value(&input.steps))?,
        created_at,
        updated_at,
    })
}

fn escalation_view(row: &EscalationPolicyRow) -> Result<EscalationPolicyView, DeskError> {
    Ok(EscalationPolicyView {
        id: row.id,
        name: row.name.clone(),
        position: row.position,
        selector: serde_json::from_value(row.selector.0.clone()).map_err(anyhow::Error::from)?,
        steps: serde_json::from_value(row.steps.0.clone()).map_err(anyhow::Error::from)?,
        updated_at: row.updated_at,
    })
}
