//! Scheduled work: cron expressions (the `cron` crate, with seconds) in a
//! time zone, that open a ticket from a template or send a team's digest of
//! open and at-risk tickets to a channel. Each schedule's next run is one
//! timer; a run computes the next slot after *now*, so after downtime a
//! missed run happens once, not once per missed slot.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id,
    scheduled_reports::{latest_slot, ReportTemplate},
    teams::resolve_team,
    tickets::OpenTicket,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{FieldError, Kind, State},
    store::{
        self,
        outbox::OutboxRow,
        schedules::ScheduleRow,
        tickets::{SortField, TicketFilter, TicketPage},
        timers::TimerRow,
        Exec,
    },
};

/// The timer kind of a schedule's next run.
pub const SCHEDULE_RUN: &str = "schedule_run";

/// What a recurring ticket looks like.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TicketTemplate {
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub impact: Option<String>,
    #[serde(default)]
    pub urgency: Option<String>,
}

/// Where a team's digest goes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DigestTemplate {
    /// Team id or name.
    pub team: String,
    /// Outbox channel, e.g. `slack`, `email`, `webhook`.
    pub channel: String,
    /// Channel id or address.
    pub target: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: String,
    /// Cron with seconds: `sec min hour day-of-month month day-of-week [year]`,
    /// e.g. `0 0 9 * * Mon-Fri`.
    pub cron: String,
    /// IANA time zone the expression is read in (default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Open this ticket at each run…
    #[serde(default)]
    pub ticket: Option<TicketTemplate>,
    /// …or send this digest…
    #[serde(default)]
    pub digest: Option<DigestTemplate>,
    /// …or this report.
    #[serde(default)]
    pub report: Option<ReportTemplate>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub id: Uuid,
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub ticket: Option<TicketTemplate>,
    pub digest: Option<DigestTemplate>,
    pub report: Option<ReportTemplate>,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
}

impl Desk {
    pub async fn create_schedule(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: ScheduleInput,
    ) -> Result<ScheduleView, DeskError> {
        actor.require_admin()?;
        let now = store::now();
        let row = self
            .schedule_row(work, actor, new_id(), input, None, now)
            .await?;
        work.audit(
            actor,
            "schedule.created",
            &row.name,
            json!({ "id": row.id }),
        );
        schedule_view(&row)
    }

    pub async fn update_schedule(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: ScheduleInput,
    ) -> Result<ScheduleView, DeskError> {
        actor.require_admin()?;
        let old = store::schedules::find_schedule(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("schedule"))?;
        let row = self
            .schedule_row(work, actor, id, input, Some(&old), old.created_at)
            .await?;
        work.audit(actor, "schedule.updated", &row.name, json!({ "id": id }));
        schedule_view(&row)
    }

    pub async fn list_schedules(&self, actor: &Actor) -> Result<Vec<ScheduleView>, DeskError> {
        actor.require_agent()?;
        store::schedules::list_schedules(Exec::Db(&self.db), actor.org_id)
            .await?
            .iter()
            .map(schedule_view)
            .collect()
    }

    pub async fn get_schedule(&self, actor: &Actor, id: Uuid) -> Result<ScheduleView, DeskError> {
        actor.require_agent()?;
        let row = store::schedules::find_schedule(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("schedule"))?;
        schedule_view(&row)
    }

    pub async fn delete_schedule(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        let row = store::schedules::find_schedule(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("schedule"))?;
        // Its pending timer finds no schedule and does nothing.
        store::schedules::delete_schedule(&mut work.tx, actor.org_id, id).await?;
        work.audit(actor, "schedule.deleted", &row.name, json!({ "id": id }));
        Ok(())
    }

    async fn schedule_row(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: ScheduleInput,
        old: Option<&ScheduleRow>,
        created_at: DateTime<Utc>,
    ) -> Result<ScheduleRow, DeskError> {
        let mut errors = Vec::new();
        if input.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        let cron = cron::Schedule::from_str(input.cron.trim())
            .map_err(|e| {
                errors.push(FieldError::new(
                    "cron",
                    format!(
                        "`{}` is not a cron expression (sec min hour dom month dow [year]): {e}",
                        input.cron
                    ),
                ))
            })
            .ok();
        let zone = input.time_zone.clone().unwrap_or_else(|| "UTC".into());
        let tz = zone
            .parse::<Tz>()
            .map_err(|_| {
                errors.push(FieldError::new(
                    "time_zone",
                    format!("unknown time zone `{zone}`"),
                ))
            })
            .ok();
        let (action, template) = match (&input.ticket, &input.digest, &input.report) {
            (Some(ticket), None, None) => {
                if let Err(e) = Kind::parse(&ticket.kind) {
                    errors.push(FieldError::new("ticket.kind", e.to_string()));
                }
                if ticket.title.trim().is_empty() {
                    errors.push(FieldError::new("ticket.title", "must not be empty"));
                }
                if let Some(team) = &ticket.team {
                    if resolve_team(&mut work.tx, actor.org_id, team)
                        .await
                        .is_err()
                    {
                        errors.push(FieldError::new("ticket.team", format!("no team `{team}`")));
                    }
                }
                ("ticket", serde_json::to_value(ticket))
            }
            (None, Some(digest), None) => {
                if resolve_team(&mut work.tx, actor.org_id, &digest.team)
                    .await
                    .is_err()
                {
                    errors.push(FieldError::new(
                        "digest.team",
                        format!("no team `{}`", digest.team),
                    ));
                }
                if digest.channel.trim().is_empty() || digest.target.trim().is_empty() {
                    errors.push(FieldError::new("digest", "give a channel and a target"));
                }
                ("digest", serde_json::to_value(digest))
            }
            (None, None, Some(template)) => {
                errors.extend(
                    self.check_report_template(work, actor, template, &zone)
                        .await?,
                );
                ("report", serde_json::to_value(template))
            }
            _ => {
                errors.push(FieldError::new(
                    "ticket",
                    "give exactly one of ticket, digest or report",
                ));
                ("ticket", Ok(serde_json::Value::Null))
            }
        };
        let (Some(cron), Some(tz), true) = (cron, tz, errors.is_empty()) else {
            return Err(DeskError::Invalid(errors));
        };
        let generation = old.map_or(0, |o| o.generation) + 1;
        let next_run_at = if input.enabled {
            next_run(&cron, tz, self.clock.now())
        } else {
            None
        };
        let row = ScheduleRow {
            id,
            org_id: actor.org_id,
            name: input.name.trim().into(),
            cron: input.cron.trim().into(),
            time_zone: zone,
            action: action.into(),
            template: sqlx::types::Json(template.map_err(anyhow::Error::from)?),
            enabled: input.enabled,
            next_run_at,
            last_run_at: old.and_then(|o| o.last_run_at),
            generation,
            created_at,
            updated_at: store::now(),
        };
        store::schedules::upsert_schedule(&mut work.tx, &row).await?;
        plan_run(work, &row);
        Ok(row)
    }

    /// The scheduler's `schedule_run` timer: one run, then the next timer.
    pub(super) async fn schedule_timer(
        &self,
        work: &mut Work,
        timer: &TimerRow,
    ) -> Result<(), DeskError> {
        let Some(id) = timer
            .payload
            .0
            .get("schedule")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
        else {
            return Ok(());
        };
        let generation = timer.payload.0.get("generation").and_then(|g| g.as_i64());
        let Some(mut row) = store::schedules::lock_schedule(&mut work.tx, id).await? else {
            return Ok(());
        };
        if Some(row.generation) != generation || !row.enabled {
            return Ok(());
        }
        let now = self.clock.now();
        let actor = Actor::system(row.org_id);
        match row.action.as_str() {
            "ticket" => {
                let t: TicketTemplate =
                    serde_json::from_value(row.template.0.clone()).map_err(anyhow::Error::from)?;
                let input = OpenTicket {
                    tags: Vec::new(),
                    kind: t.kind,
                    title: t.title,
                    description: t.description,
                    impact: t.impact,
                    urgency: t.urgency,
                    category: t.category,
                    team: t.team,
                    requester: None,
                };
                let ticket = self.open_ticket(work, &actor, input).await?;
                work.audit(
                    &actor,
                    "schedule.ran",
                    &row.name,
                    json!({ "ticket": ticket.number }),
                );
            }
            "report" => {
                let t: ReportTemplate =
                    serde_json::from_value(row.template.0.clone()).map_err(anyhow::Error::from)?;
                let slot = latest_slot(&row, timer.due_at, now)?;
                let sent = self.send_report(work, &row, &t, slot).await?;
                work.audit(&actor, "schedule.ran", &row.name, sent);
            }
            _ => {
                let d: DigestTemplate =
                    serde_json::from_value(row.template.0.clone()).map_err(anyhow::Error::from)?;
                self.send_digest(work, &row, &d, now).await?;
                work.audit(
                    &actor,
                    "schedule.ran",
                    &row.name,
                    json!({ "digest": d.team }),
                );
            }
        }
        let cron = cron::Schedule::from_str(&row.cron).map_err(anyhow::Error::from)?;
        let tz: Tz = row
            .time_zone
            .parse()
            .map_err(|e| anyhow::anyhow!("schedule {}: {e}", row.name))?;
        row.last_run_at = Some(now);
        row.next_run_at = next_run(&cron, tz, now);
        row.generation += 1;
        row.updated_at = store::now();
        store::schedules::upsert_schedule(&mut work.tx, &row).await?;
        plan_run(work, &row);
        Ok(())
    }

    async fn send_digest(
        &self,
        work: &mut Work,
        row: &ScheduleRow,
        digest: &DigestTemplate,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        let Ok(team) = resolve_team(&mut work.tx, row.org_id, &digest.team).await else {
            return Ok(());
        };
        let filter = TicketFilter {
            team_id: Some(team.id),
            ..TicketFilter::default()
        };
        let page = TicketPage {
            sort: SortField::Created,
            descending: false,
            after: None,
            limit: 200,
        };
        let tickets =
            store::tickets::list_tickets(Exec::Tx(&mut work.tx), row.org_id, &filter, &page)
                .await?;
        let mut lines = Vec::new();
        let mut items = Vec::new();
        for t in tickets.iter().filter(|t| {
            State::parse(&t.state).is_ok_and(|s| !s.is_terminal() && s != State::Resolved)
        }) {
            let at_risk = match store::sla::find_state(Exec::Tx(&mut work.tx), t.id).await? {
                Some(state) => {
                    let state: crate::domain::sla::SlaState =
                        serde_json::from_value(state.state.0).map_err(anyhow::Error::from)?;
                    state.clocks.iter().any(|c| {
                        c.met_at.is_none() && (c.warned_pct > 0 || c.breached_at.is_some())
                    })
                }
                None => false,
            };
            lines.push(format!(
                "{}{} [{}] {} — {}",
                if at_risk { "⚠ " } else { "" },
                t.number,
                t.priority,
                t.title,
                t.state
            ));
            items.push(
                json!({ "number": t.number, "title": t.title, "priority": t.priority,
                               "state": t.state, "at_risk": at_risk }),
            );
        }
        let subject = format!("{}: {} open tickets", team.name, items.len());
        work.buffers.outbox.push(OutboxRow::pending(
            new_id(),
            row.org_id,
            &digest.channel,
            &digest.target,
            "digest",
            json!({
                "to": digest.target, "subject": subject, "text": lines.join("\n"),
                "data": { "team": team.name, "at": now, "tickets": items },
            }),
        ));
        Ok(())
    }
}

/// The first slot strictly after `after`, read in `tz`.
pub fn next_run(cron: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.after(&after.with_timezone(&tz))
        .next()
        .map(|t| t.with_timezone(&Utc))
}

fn plan_run(work: &mut Work, row: &ScheduleRow) {
    if let (true, Some(due)) = (row.enabled, row.next_run_at) {
        work.schedule(TimerRow {
            id: new_id(),
            org_id: row.org_id,
            kind: SCHEDULE_RUN.into(),
            ticket_id: None,
            payload: sqlx::types::Json(json!({ "schedule": row.id, "generation": row.generation })),
            due_at: due,
            created_at: store::now(),
        });
    }
}

fn schedule_view(row: &ScheduleRow) -> Result<ScheduleView, DeskError> {
    fn read<T: serde::de::DeserializeOwned>(row: &ScheduleRow) -> Result<Option<T>, DeskError> {
        Ok(Some(
            serde_json::from_value(row.template.0.clone()).map_err(anyhow::Error::from)?,
        ))
    }
    let (ticket, digest, report) = match row.action.as_str() {
        "ticket" => (read(row)?, None, None),
        "report" => (None, None, read(row)?),
        _ => (None, read(row)?, None),
    };
    Ok(ScheduleView {
        id: row.id,
        name: row.name.clone(),
        cron: row.cron.clone(),
        time_zone: row.time_zone.clone(),
        ticket,
        digest,
        report,
        enabled: row.enabled,
        next_run_at: row.next_run_at,
        last_run_at: row.last_run_at,
    })
}
