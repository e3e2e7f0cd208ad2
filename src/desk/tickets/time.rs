//! Time tracking (issue 23, item 5): agents log minutes of work on a
//! ticket, and read a ticket's entries with their totals. The agents
//! report sums the same entries (`desk::reports`).
//!
//! Billable by default: time logged on a service desk's tickets is work
//! done for the requester's side, and marking the exception (internal
//! housekeeping) is the rarer act.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::lock_visible;
use crate::desk::{new_id, views::TicketView, Actor, Desk, DeskError, Work};
use crate::{
    domain::{text::Description, worklog},
    store::{self, time_entries::TimeEntryRow, Exec},
};

/// What an agent logs; the API and chat (`/time 30m note`, with
/// [`worklog::parse_duration`]) build it alike.
#[derive(Debug, Clone, Default)]
pub struct LogTime {
    /// Whole minutes, 1 to [`worklog::MAX_ENTRY_MINUTES`].
    pub minutes: i64,
    pub note: String,
    /// `None`: billable.
    pub billable: Option<bool>,
    /// When the work started; `None`: now. Not in the future.
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimeEntryView {
    pub id: Uuid,
    pub ticket: String,
    pub agent: TimeAgent,
    pub minutes: i64,
    pub note: String,
    pub billable: bool,
    pub started_at: DateTime<Utc>,
    /// Where it was logged from (`api`, `slack`, …).
    pub channel: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimeAgent {
    pub id: Uuid,
    pub name: Option<String>,
}

/// Minutes per agent on one ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentTime {
    pub agent: TimeAgent,
    pub minutes: i64,
    pub billable_minutes: i64,
}

/// A ticket's time: every entry and the sums.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimeLog {
    pub ticket: String,
    pub entries: Vec<TimeEntryView>,
    pub total_minutes: i64,
    pub billable_minutes: i64,
    /// Sums per agent who logged time, by name.
    pub per_agent: Vec<AgentTime>,
}

/// What logging answers: the entry, and the ticket it was logged on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimeLogged {
    pub entry: TimeEntryView,
    pub ticket: TicketView,
}

impl TimeEntryView {
    fn from_row(row: &TimeEntryRow, number: &str) -> Self {
        Self {
            id: row.id,
            ticket: number.to_string(),
            agent: TimeAgent {
                id: row.agent_id,
                name: row.agent_name.clone(),
            },
            minutes: i64::from(row.minutes),
            note: row.note.clone(),
            billable: row.billable,
            started_at: row.started_at,
            channel: row.channel.clone(),
            created_at: row.created_at,
        }
    }
}

impl Desk {
    /// Logs time on a ticket: agents, managers and admins who may work it;
    /// requesters are refused. One activity entry, one audit entry and the
    /// `time.logged` event (the ticket, and the entry in the details).
    #[tracing::instrument(skip_all, fields(ticket = %number), err(level = "debug"))]
    pub async fn log_time(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        input: LogTime,
    ) -> Result<TimeLogged, DeskError> {
        actor.require_agent()?;
        let person = actor.person_id.ok_or_else(|| {
            DeskError::Forbidden("time is logged by a person, not by the system".into())
        })?;
        let mut errors = Vec::new();
        let minutes = worklog::check_minutes(input.minutes)
            .map_err(|e| errors.push(crate::domain::FieldError::new("minutes", e.to_string())))
            .ok();
        let note = Description::parse("note", input.note.trim())
            .map_err(|e| errors.push(e))
            .ok();
        let now = store::now();
        let started_at = input.started_at.unwrap_or(now);
        if started_at > now {
            errors.push(crate::domain::FieldError::new(
                "started_at",
                "must not be in the future",
            ));
        }
        let (Some(minutes), Some(note)) = (minutes, note) else {
            return Err(DeskError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let ticket = lock_visible(&mut work.tx, actor, number).await?;
        let row = TimeEntryRow {
            id: new_id(),
            org_id: actor.org_id,
            ticket_id: ticket.id,
            agent_id: person,
            agent_name: Some(actor.name.clone()),
            // check_minutes bounds it to a day.
            minutes: i32::try_from(minutes).map_err(anyhow::Error::from)?,
            note: note.into_inner(),
            billable: input.billable.unwrap_or(true),
            // Microseconds, as Postgres keeps them (see `store::now`).
            started_at: started_at.trunc_subsecs(6),
            channel: actor.channel.as_str().into(),
            created_at: now,
        };
        store::time_entries::insert_time_entry(&mut work.tx, &row).await?;
        let entry = TimeEntryView::from_row(&row, &ticket.number);
        let shown = worklog::format_minutes(minutes);
        let billing = if row.billable {
            "billable"
        } else {
            "not billable"
        };
        work.record(
            actor,
            ticket.id,
            "time_logged",
            Some(("time", None, Some(format!("{shown} ({billing})")))),
        );
        let details = json!({ "entry": entry });
        work.audit(actor, "time.logged", &ticket.number, details.clone());
        let view = TicketView::from(&ticket);
        work.emit(actor.org_id, "time.logged", view.clone(), details);
        Ok(TimeLogged {
            entry,
            ticket: view,
        })
    }

    /// A ticket's time entries and totals: for those who may log time.
    pub async fn list_time(&self, actor: &Actor, number: &str) -> Result<TimeLog, DeskError> {
        actor.require_agent()?;
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let rows =
            store::time_entries::list_time_entries(Exec::Db(&self.db), actor.org_id, ticket.id)
                .await?;
        let entries: Vec<TimeEntryView> = rows
            .iter()
            .map(|r| TimeEntryView::from_row(r, &ticket.number))
            .collect();
        let mut per_agent = BTreeMap::<(Option<String>, Uuid), (i64, i64)>::new();
        for e in &entries {
            let sums = per_agent
                .entry((e.agent.name.clone(), e.agent.id))
                .or_default();
            sums.0 += e.minutes;
            if e.billable {
                sums.1 += e.minutes;
            }
        }
        Ok(TimeLog {
            ticket: ticket.number.clone(),
            total_minutes: entries.iter().map(|e| e.minutes).sum(),
            billable_minutes: entries
                .iter()
                .filter(|e| e.billable)
                .map(|e| e.minutes)
                .sum(),
            per_agent: per_agent
                .into_iter()
                .map(|((name, id), (minutes, billable))| AgentTime {
                    agent: TimeAgent { id, name },
                    minutes,
                    billable_minutes: billable,
                })
                .collect(),
            entries,
        })
    }
}
