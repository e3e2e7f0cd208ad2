//! Ticket use cases. Each write takes the [`Work`] of its one transaction.
//! Here: opening a ticket (with the prefetch of its organization's setup),
//! reading and listing, and the helpers the other desk modules use to name
//! a ticket (`lock_visible`, `require_view`). `moves.rs`: transitions,
//! rating, assignment and field updates; `comments.rs`: comments and
//! activity; `attachments.rs`: files; `watchers.rs`: watchers;
//! `links.rs`: links between tickets; `merge.rs`: merging a duplicate;
//! `time.rs`: time tracking.
//!
//! May import `domain`, `store` and desk's leaf modules (`people`, `teams`,
//! `files`, `numbering`, `views`, `assignment`, `notify`); SLA and mail are
//! reached through their
//! `Desk` hooks (`sla_on_*`, `mail_on_public_comment`), never imported.

mod attachments;
mod comments;
mod links;
mod merge;
mod moves;
mod time;
mod watchers;

pub use merge::MergeView;
pub use time::{LogTime, TimeEntryView, TimeLog, TimeLogged};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{
    new_id,
    people::resolve_person,
    teams::resolve_team,
    views::{TicketList, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        assignment::normalize_labels,
        sla::Standing,
        text::{Description, Title},
        Kind, Level, Priority, State, TicketNumber,
    },
    store::{
        self,
        activity::ActivityRow,
        teams::CategoryRow,
        tickets::{NewTicket, SortField, TicketFilter, TicketPage, TicketRow},
        Exec, Tx,
    },
};

/// A file written to the store before its transaction, to attach with
/// [`Desk::attach_stored`].
pub(crate) struct StoredFile {
    /// Already cleaned ([`super::files::clean_filename`]).
    pub filename: String,
    pub size_bytes: i64,
    pub stored: super::files::Stored,
}

/// The timer kind that closes a resolved ticket.
pub const AUTO_CLOSE: &str = "auto_close";

/// What a person asks for when raising a ticket.
#[derive(Debug, Clone, Default)]
pub struct OpenTicket {
    pub kind: String,
    pub title: String,
    pub description: String,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    /// Category name.
    pub category: Option<String>,
    /// Team name or id.
    pub team: Option<String>,
    /// Agents may raise a ticket for someone else (email or id).
    pub requester: Option<String>,
    /// Labels (normalized: see `domain::assignment::normalize_label`).
    pub tags: Vec<String>,
}

/// A field change; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct TicketChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    /// `Some(None)` clears the category.
    pub category: Option<Option<String>>,
    /// Replaces the tags.
    pub tags: Option<Vec<String>>,
}

/// Assignment change; `Some(None)` clears, `None` keeps.
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    pub team: Option<Option<String>>,
    pub assignee: Option<Option<String>>,
}

/// Filters of the ticket list, as given by the caller (validated here).
#[derive(Debug, Clone, Default)]
pub struct ListTickets {
    pub kind: Option<String>,
    pub state: Option<String>,
    pub priority: Option<String>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub requester: Option<String>,
    pub q: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// Only tickets nobody is assigned to.
    pub unassigned: bool,
    /// Only tickets of the caller's teams (agents).
    pub my_teams: bool,
    /// `warned` (at risk) or `breached`: open tickets whose SLA stands so.
    pub sla: Option<String>,
    /// Only open tickets (not resolved, closed, cancelled or rejected).
    pub open: bool,
    /// `created_at`, `-created_at` (default), `updated_at`, `-updated_at`.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

fn parse_level(field: &'static str, value: Option<&str>) -> Result<Level, DeskError> {
    match value {
        None => Ok(Level::Medium),
        Some(v) => Level::parse(v).map_err(|e| DeskError::invalid(field, e.to_string())),
    }
}

impl Work {
    /// Records one line of a ticket's activity.
    pub fn record(
        &mut self,
        actor: &Actor,
        ticket_id: Uuid,
        action: &str,
        change: Option<(&str, Option<String>, Option<String>)>,
    ) {
        let (field, old_value, new_value) = match change {
            Some((field, old, new)) => (Some(field.to_string()), old, new),
            None => (None, None, None),
        };
        self.buffers.activity.push(ActivityRow {
            id: new_id(),
            org_id: actor.org_id,
            ticket_id,
            actor_id: actor.person_id,
            actor_name: None,
            channel: actor.channel.as_str().to_string(),
            action: action.to_string(),
            field,
            old_value,
            new_value,
            created_at: store::now(),
        });
    }
}

impl Desk {
    #[tracing::instrument(skip_all, fields(org = %actor.org_id, kind = %input.kind), err(level = "debug"))]
    pub async fn open_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: OpenTicket,
    ) -> Result<TicketView, DeskError> {
        let row = self.open_ticket_row(work, actor, input).await?;
        Ok(TicketView::from(&row))
    }

    /// [`Desk::open_ticket`], answering the row (held for change by this
    /// transaction, which inserted it).
    pub(crate) async fn open_ticket_row(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: OpenTicket,
    ) -> Result<TicketRow, DeskError> {
        let mut errors = Vec::new();
        let kind = Kind::parse(&input.kind)
            .map_err(|e| errors.push(field_error("kind", e.to_string())))
            .ok();
        let title = Title::parse("title", &input.title)
            .map_err(|e| errors.push(e))
            .ok();
        let description = Description::parse("description", &input.description)
            .map_err(|e| errors.push(e))
            .ok();
        let impact = parse_level("impact", input.impact.as_deref())
            .map_err(|e| collect(&mut errors, e))
            .ok();
        let urgency = parse_level("urgency", input.urgency.as_deref())
            .map_err(|e| collect(&mut errors, e))
            .ok();
        let tags = normalize_labels("tag", &input.tags)
            .map_err(|e| errors.push(field_error("tags", e)))
            .ok();
        let (Some(kind), Some(title), Some(description), Some(impact), Some(urgency), Some(tags)) =
            (kind, title, description, impact, urgency, tags)
        else {
            return Err(DeskError::Invalid(errors));
        };

        let tx = &mut work.tx;
        let requester = match &input.requester {
            Some(who) if actor.is_agent() => {
                Some(resolve_person(tx, actor.org_id, "requester", who).await?)
            }
            Some(_) => {
                return Err(DeskError::Forbidden(
                    "only agents may raise a ticket for someone else".into(),
                ))
            }
            None => actor
                .person_id
                .map(|id| (id, actor.name.clone(), actor.email.clone())),
        };
        let category = match &input.category {
            Some(name) => Some(resolve_category(tx, actor.org_id, name).await?),
            None => None,
        };
        let team = match &input.team {
            Some(name) => Some(resolve_team(tx, actor.org_id, name).await?),
            None => match category.as_ref().and_then(|c| c.team_id) {
                Some(id) => store::teams::find_team(tx, actor.org_id, id).await?,
                None => None,
            },
        };
        let matrix = self.priority_matrix(tx, actor.org_id).await?;
        let priority = matrix.priority(impact, urgency);

        let now = store::now();
        let new = NewTicket {
            id: new_id(),
            org_id: actor.org_id,
            kind: kind.as_str().into(),
            title: title.into_inner(),
            description: description.into_inner(),
            state: kind.initial_state().as_str().into(),
            impact: impact.as_str().into(),
            urgency: urgency.as_str().into(),
            priority: priority.as_str().into(),
            requester_id: requester.as_ref().map(|r| r.0),
            assignee_id: None,
            team_id: team.as_ref().map(|t| t.id),
            category_id: category.as_ref().map(|c| c.id),
            channel: actor.channel.as_str().into(),
            created_at: now,
        };
        // The counter is held until commit (its row locked, or a predicted
        // number that the flush checks): take it as late as possible, after
        // the reads that need not wait for it (subscriptions, policies, rules).
        work.prefetch_for_open(actor.org_id).await?;
        let number = self.insert_numbered_ticket(work, &new, kind).await?;
        let strategy = team.as_ref().map(|t| t.assignment.clone());

        let mut row = TicketRow {
            id: new.id,
            org_id: new.org_id,
            number,
            kind: new.kind,
            title: new.title,
            description: new.description,
            state: new.state,
            impact: new.impact,
            urgency: new.urgency,
            priority: new.priority,
            requester_id: requester.as_ref().map(|r| r.0),
            requester_name: requester.as_ref().map(|r| r.1.clone()),
            requester_email: requester.and_then(|r| r.2),
            assignee_id: None,
            assignee_name: None,
            assignee_email: None,
            team_id: team.as_ref().map(|t| t.id),
            team_name: team.map(|t| t.name),
            category_id: category.as_ref().map(|c| c.id),
            category_name: category.map(|c| c.name),
            channel: new.channel,
            created_at: now,
            updated_at: now,
            resolved_at: None,
            closed_at: None,
            satisfaction: None,
            extra: Default::default(),
        };
        if !tags.is_empty() {
            store::tickets::update_tags(&mut work.tx, row.org_id, row.id, &tags).await?;
            row.extra.tags = sqlx::types::Json(tags);
        }
        work.record(actor, row.id, "created", None);
        // After the number: every path that assigns a new ticket takes the
        // counter before the team's lock (rules assign after opening).
        let picked = match &strategy {
            Some(strategy) => self.auto_assign(work, &mut row, strategy).await?,
            None => None,
        };
        if picked.is_some() {
            store::tickets::update_ticket(&mut work.tx, &row).await?;
            let system = Actor::system(row.org_id);
            let change = ("assignee", None, row.assignee_name.clone());
            work.record(&system, row.id, "assigned", Some(change));
        }
        let view = TicketView::from(&row);
        self.sla_on_open(work, &row).await?;
        self.escalation_on_open(work, &row).await?;
        work.audit(
            actor,
            "ticket.created",
            &row.number,
            json!({ "kind": row.kind, "title": row.title, "priority": row.priority }),
        );
        work.emit(actor.org_id, "ticket.created", view.clone(), json!({}));
        self.notify_ticket(work, actor, &row, "ticket.created", None, json!({}))
            .await?;
        if let Some(picked) = picked {
            let details = json!({ "team": row.team_id, "assignee": row.assignee_id, "reason": picked.reason });
            work.emit(actor.org_id, "ticket.assigned", view, details.clone());
            self.notify_ticket(work, actor, &row, "ticket.assigned", None, details)
                .await?;
        }
        work.buffers.created.push((row.kind.clone(), actor.channel));
        Ok(row)
    }

    /// Reads one ticket; no transaction needed.
    pub async fn get_ticket(&self, actor: &Actor, number: &str) -> Result<TicketView, DeskError> {
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let mut view = TicketView::from(&row);
        self.with_links(actor, &row, &mut view).await?;
        Ok(view)
    }

    pub(crate) async fn visible_ticket(
        &self,
        mut exec: Exec<'_>,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketRow, DeskError> {
        let number = normalize_number(number)?;
        let row = store::tickets::find_ticket_by_number(exec.reborrow(), actor.org_id, &number)
            .await?
            .ok_or(DeskError::NotFound("ticket"))?;
        require_view(exec, actor, &row).await?;
        Ok(row)
    }

    pub async fn list_tickets(
        &self,
        actor: &Actor,
        query: ListTickets,
    ) -> Result<TicketList, DeskError> {
        let mut errors = Vec::new();
        let mut check = |field: &'static str,
                         value: &Option<String>,
                         parse: &dyn Fn(&str) -> Result<String, String>| {
            value.as_deref().and_then(|v| {
                parse(v)
                    .map_err(|m| errors.push(field_error(field, m)))
                    .ok()
            })
        };
        let kind = check("kind", &query.kind, &|v| {
            Kind::parse(v)
                .map(|k| k.as_str().into())
                .map_err(|e| e.to_string())
        });
        let state = check("state", &query.state, &|v| {
            State::parse(v)
                .map(|k| k.as_str().into())
                .map_err(|e| e.to_string())
        });
        let priority = check("priority", &query.priority, &|v| {
            Priority::parse(v)
                .map(|k| k.as_str().into())
                .map_err(|e| e.to_string())
        });
        let sla = check("sla", &query.sla, &|v| match Standing::parse(v) {
            Ok(Standing::Ok) | Err(_) => Err("expected one of: warned, breached".into()),
            Ok(standing) => Ok(standing.as_str().into()),
        });
        let (sort, descending) = match query.sort.as_deref().unwrap_or("-created_at") {
            "created_at" => (SortField::Created, false),
            "-created_at" => (SortField::Created, true),
            "updated_at" => (SortField::Updated, false),
            "-updated_at" => (SortField::Updated, true),
            other => {
                errors.push(field_error(
                    "sort",
                    format!("unknown sort `{other}`; expected one of: created_at, -created_at, updated_at, -updated_at"),
                ));
                (SortField::Created, true)
            }
        };
        let limit = query.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            errors.push(field_error("limit", "must be between 1 and 200".into()));
        }
        let after = match query.cursor.as_deref().map(decode_cursor).transpose() {
            Ok(after) => after,
            Err(message) => {
                errors.push(field_error("cursor", message));
                None
            }
        };
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }

        let mut tx = self.db.read().await?;
        let mut filter = TicketFilter {
            kind,
            state,
            priority,
            text: query.q.filter(|q| !q.trim().is_empty()),
            created_after: query.created_after,
            created_before: query.created_before,
            updated_after: query.updated_after,
            updated_before: query.updated_before,
            only_visible_to: if actor.is_agent() {
                None
            } else {
                Some(actor.person_id.unwrap_or_else(Uuid::nil))
            },
            unassigned: query.unassigned,
            team_member: query
                .my_teams
                .then(|| actor.person_id.unwrap_or_else(Uuid::nil)),
            open_only: query.open || sla.is_some(),
            sla_standing: sla,
            ..TicketFilter::default()
        };
        if let Some(team) = &query.team {
            filter.team_id = Some(resolve_team(&mut tx, actor.org_id, team).await?.id);
        }
        if let Some(who) = &query.assignee {
            filter.assignee_id = Some(
                resolve_person(&mut tx, actor.org_id, "assignee", who)
                    .await?
                    .0,
            );
        }
        if let Some(who) = &query.requester {
            filter.requester_id = Some(
                resolve_person(&mut tx, actor.org_id, "requester", who)
                    .await?
                    .0,
            );
        }
        let page = TicketPage {
            sort,
            descending,
            after,
            limit: limit + 1,
        };
        let mut rows =
            store::tickets::list_tickets(Exec::Tx(&mut tx), actor.org_id, &filter, &page).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|last| {
                let value = match sort {
                    SortField::Created => last.created_at,
                    SortField::Updated => last.updated_at,
                };
                encode_cursor(value, last.id)
            })
        } else {
            None
        };
        Ok(TicketList {
            items: rows.iter().map(TicketView::from).collect(),
            next_cursor,
        })
    }
}

pub(crate) async fn lock_visible(
    tx: &mut Tx,
    actor: &Actor,
    number: &str,
) -> Result<TicketRow, DeskError> {
    let number = normalize_number(number)?;
    let row = store::tickets::lock_ticket_by_number(tx, actor.org_id, &number)
        .await?
        .ok_or(DeskError::NotFound("ticket"))?;
    require_view(Exec::Tx(tx), actor, &row).await?;
    Ok(row)
}

/// Agents see every ticket of their organization, requesters the ones they
/// raised or watch; anything else is "not found".
pub(crate) async fn require_view(
    exec: Exec<'_>,
    actor: &Actor,
    row: &TicketRow,
) -> Result<(), DeskError> {
    if actor.require_view(row).is_ok() {
        return Ok(());
    }
    match actor.person_id {
        Some(person)
            if row.org_id == actor.org_id
                && store::tickets::is_watching(exec, row.id, person).await? =>
        {
            Ok(())
        }
        _ => Err(DeskError::NotFound("ticket")),
    }
}

/// Accepts `inc42`, `INC0000042`… and gives the stored form; anything else
/// is simply not found.
pub(crate) fn normalize_number(number: &str) -> Result<String, DeskError> {
    TicketNumber::parse(number)
        .map(|n| n.to_string())
        .map_err(|_| DeskError::NotFound("ticket"))
}

fn field_error(field: &'static str, message: String) -> crate::domain::FieldError {
    crate::domain::FieldError::new(field, message)
}

fn collect(errors: &mut Vec<crate::domain::FieldError>, error: DeskError) {
    if let DeskError::Invalid(mut e) = error {
        errors.append(&mut e);
    }
}

async fn resolve_category(
    tx: &mut Tx,
    org_id: Uuid,
    name_or_id: &str,
) -> Result<CategoryRow, DeskError> {
    let found = match Uuid::parse_str(name_or_id.trim()) {
        Ok(id) => store::teams::find_category(tx, org_id, id).await?,
        Err(_) => store::teams::find_category_by_name(tx, org_id, name_or_id.trim()).await?,
    };
    found.ok_or_else(|| {
        DeskError::invalid(
            "category",
            format!("no category `{name_or_id}` in this organization"),
        )
    })
}

fn encode_cursor(value: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", value.to_rfc3339(), id))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), String> {
    let bad = || "not a cursor returned by this API".to_string();
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (time, id) = text.split_once('|').ok_or_else(bad)?;
    let time = DateTime::parse_from_rfc3339(time)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((time, id))
}
