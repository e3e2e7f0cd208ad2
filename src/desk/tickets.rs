//! Ticket use cases: open, read, list, transition, assign, update, comment,
//! attach. Each write takes the [`Work`] of its one transaction.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{
    new_id,
    people::resolve_person,
    teams::resolve_team,
    views::{ActivityView, AttachmentView, CommentView, PersonRef, TicketList, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        text::{CommentBody, Description, Title},
        Kind, Level, Priority, State, TicketNumber,
    },
    store::{
        self,
        activity::ActivityRow,
        teams::CategoryRow,
        tickets::{
            AttachmentRow, CommentRow, NewTicket, SortField, TicketFilter, TicketPage, TicketRow,
        },
        timers::TimerRow,
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
    /// The reads a ticket creation makes once it holds the counter row,
    /// made before it takes it: webhook subscriptions (for the event), SLA
    /// and escalation policies (clocks on open) and enabled automation
    /// rules (run at flush). Same transaction, only earlier — see
    /// [`Work::prefetch_subscriptions`]; every round trip under the counter
    /// lock is one every other creation of the kind waits for.
    pub(crate) async fn prefetch_for_open(&mut self, org_id: Uuid) -> Result<(), DeskError> {
        let setup = store::setup::read_open_setup(&mut self.tx, org_id).await?;
        self.subscriptions = Some((org_id, setup.webhooks));
        self.sla_policies = Some((org_id, setup.sla_policies));
        self.escalation_policies = Some((org_id, setup.escalation_policies));
        self.rules = Some((org_id, setup.rules));
        Ok(())
    }

    /// SLA policies read by [`Work::prefetch_for_open`], if for `org_id`.
    pub(crate) fn take_sla_policies(&mut self, org_id: Uuid) -> Option<Vec<store::sla::PolicyRow>> {
        match self.sla_policies.take() {
            Some((org, policies)) if org == org_id => Some(policies),
            _ => None,
        }
    }

    /// Escalation policies read by [`Work::prefetch_for_open`], if for `org_id`.
    pub(crate) fn take_escalation_policies(
        &mut self,
        org_id: Uuid,
    ) -> Option<Vec<store::sla::EscalationPolicyRow>> {
        match self.escalation_policies.take() {
            Some((org, policies)) if org == org_id => Some(policies),
            _ => None,
        }
    }

    /// Automation rules read by [`Work::prefetch_for_open`], if for `org_id`.
    pub(crate) fn take_rules(&mut self, org_id: Uuid) -> Option<Vec<store::rules::RuleRow>> {
        match self.rules.take() {
            Some((org, rules)) if org == org_id => Some(rules),
            _ => None,
        }
    }

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
        self.activity.push(ActivityRow {
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
        let (Some(kind), Some(title), Some(description), Some(impact), Some(urgency)) =
            (kind, title, description, impact, urgency)
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
        let predicted = self
            .number_ticket(work, actor.org_id, kind.as_str())
            .await?;
        let number = match predicted {
            Some(seq) => {
                let number = ticket_number(kind, seq)?;
                match store::tickets::insert_predicted_ticket(&mut work.tx, &new, &number, seq)
                    .await
                {
                    // Another process holds this number: it was no prediction.
                    Err(error) if store::is_unique_violation(&error) => {
                        return Err(super::numbering::renumber())
                    }
                    inserted => inserted?,
                }
                work.numbered();
                number
            }
            None => insert_next_ticket(&mut work.tx, &new, kind).await?,
        };

        let row = TicketRow {
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
        let view = TicketView::from(&row);
        work.record(actor, row.id, "created", None);
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
        work.created.push((row.kind.clone(), actor.channel));
        Ok(row)
    }

    /// Reads one ticket; no transaction needed.
    pub async fn get_ticket(&self, actor: &Actor, number: &str) -> Result<TicketView, DeskError> {
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        Ok(TicketView::from(&row))
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

    /// Moves a ticket through its kind's state machine.
    #[tracing::instrument(skip_all, fields(ticket = %number, to = %to), err(level = "debug"))]
    pub async fn transition(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        to: &str,
        comment: Option<String>,
    ) -> Result<TicketView, DeskError> {
        let to = State::parse(to).map_err(|e| DeskError::invalid("to", e.to_string()))?;
        self.move_ticket(work, actor, number, to, comment, false)
            .await
    }

    /// The requester rates how a resolved (or closed) ticket went, 1–5;
    /// a later rating replaces an earlier one.
    #[tracing::instrument(skip_all, fields(ticket = %number), err(level = "debug"))]
    pub async fn rate_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        score: i64,
    ) -> Result<TicketView, DeskError> {
        let score = i32::try_from(score)
            .ok()
            .filter(|s| (1..=5).contains(s))
            .ok_or_else(|| DeskError::invalid("score", "must be a whole number from 1 to 5"))?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        if actor.person_id.is_none() || actor.person_id != row.requester_id {
            return Err(DeskError::Forbidden(format!(
                "only the requester of {} rates it",
                row.number
            )));
        }
        if !matches!(row.state.as_str(), "resolved" | "closed") {
            return Err(DeskError::Conflict(format!(
                "{} is {}: it can be rated once it is resolved",
                row.number,
                row.state.replace('_', " ")
            )));
        }
        let old = row.satisfaction;
        if old == Some(score) {
            return Ok(TicketView::from(&row));
        }
        let now = store::now();
        store::tickets::set_satisfaction(&mut work.tx, row.org_id, row.id, score, now).await?;
        row.satisfaction = Some(score);
        row.updated_at = now;
        work.record(
            actor,
            row.id,
            "rated",
            Some((
                "satisfaction",
                old.map(|s| s.to_string()),
                Some(score.to_string()),
            )),
        );
        let details = json!({ "fields": ["satisfaction"], "from": old, "to": score });
        work.audit(actor, "ticket.rated", &row.number, details.clone());
        let view = TicketView::from(&row);
        work.emit(actor.org_id, "ticket.rated", view.clone(), details);
        Ok(view)
    }

    /// Moves a ticket; `by_approval` when its approval completed, the only
    /// way out of `awaiting_approval` while an approval decides. A resolved
    /// parent incident resolves its open children.
    pub(crate) async fn move_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        to: State,
        comment: Option<String>,
        by_approval: bool,
    ) -> Result<TicketView, DeskError> {
        let row = lock_visible(&mut work.tx, actor, number).await?;
        let view = self
            .move_locked(work, actor, row, to, comment, by_approval)
            .await?;
        if view.state == State::Resolved.as_str() {
            self.resolve_children(work, actor, &view).await?;
        }
        Ok(view)
    }

    /// Moves a locked ticket through its kind's state machine, without
    /// touching related tickets.
    pub(crate) async fn apply_transition(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: TicketRow,
        to: &str,
        comment: Option<String>,
    ) -> Result<TicketView, DeskError> {
        let to = State::parse(to).map_err(|e| DeskError::invalid("to", e.to_string()))?;
        self.move_locked(work, actor, row, to, comment, false).await
    }

    async fn move_locked(
        &self,
        work: &mut Work,
        actor: &Actor,
        mut row: TicketRow,
        to: State,
        comment: Option<String>,
        by_approval: bool,
    ) -> Result<TicketView, DeskError> {
        let kind = Kind::parse(&row.kind).map_err(anyhow::Error::from)?;
        let from = State::parse(&row.state).map_err(anyhow::Error::from)?;
        kind.transition(from, to)?;
        actor.require_transition(&row, from, to)?;
        self.check_process_move(work, &row, from, to, by_approval)
            .await?;

        let now = store::now();
        row.state = to.as_str().into();
        row.updated_at = now;
        if to == State::Resolved {
            row.resolved_at = Some(now);
            work.schedule(TimerRow {
                id: new_id(),
                org_id: row.org_id,
                kind: AUTO_CLOSE.into(),
                ticket_id: Some(row.id),
                payload: sqlx::types::Json(json!({ "resolved_at": now })),
                due_at: now + self.settings.auto_close_after,
                created_at: now,
            });
        }
        if from == State::Resolved {
            // Reopened or closed by hand: the pending auto-close is moot.
            store::timers::cancel_timers(&mut work.tx, row.id, AUTO_CLOSE).await?;
            if to != State::Closed {
                row.resolved_at = None;
            }
        }
        if to.is_terminal() {
            row.closed_at = Some(now);
        }
        store::tickets::update_ticket(&mut work.tx, &row).await?;
        if to == State::Cancelled {
            self.cancel_approvals(work, &row).await?;
        }
        if let Some(body) = comment.filter(|c| !c.trim().is_empty()) {
            self.insert_comment(work, actor, &row, &body, false).await?;
        }
        self.after_process_move(work, actor, &row, from, to).await?;
        self.sla_on_move(work, &row, from, to).await?;
        work.record(
            actor,
            row.id,
            "state_changed",
            Some((
                "state",
                Some(from.as_str().into()),
                Some(to.as_str().into()),
            )),
        );
        work.audit(
            actor,
            "ticket.state_changed",
            &row.number,
            json!({ "from": from, "to": to }),
        );
        let view = TicketView::from(&row);
        work.emit(
            actor.org_id,
            "ticket.state_changed",
            view.clone(),
            json!({ "from": from, "to": to }),
        );
        let change = json!({ "from": from, "to": to });
        self.notify_ticket(work, actor, &row, "ticket.state_changed", None, change)
            .await?;
        Ok(view)
    }

    pub async fn assign(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        change: Assignment,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        let old_team = (row.team_id, row.team_name.clone());
        let old_assignee = (row.assignee_id, row.assignee_name.clone());
        if let Some(team) = change.team {
            let team = match team {
                Some(name) => Some(resolve_team(&mut work.tx, actor.org_id, &name).await?),
                None => None,
            };
            row.team_id = team.as_ref().map(|t| t.id);
            row.team_name = team.map(|t| t.name);
        }
        if let Some(assignee) = change.assignee {
            match assignee {
                Some(who) => {
                    let (id, name, email) =
                        resolve_person(&mut work.tx, actor.org_id, "assignee", &who).await?;
                    let person = store::people::find_person(&mut work.tx, actor.org_id, id)
                        .await?
                        .ok_or(DeskError::NotFound("person"))?;
                    let can_work =
                        person.roles.0.iter().any(|r| {
                            crate::domain::Role::parse(r).is_ok_and(|r| r.can_work_tickets())
                        });
                    if !can_work {
                        return Err(DeskError::invalid(
                            "assignee",
                            format!("{name} is not an agent and cannot be assigned tickets"),
                        ));
                    }
                    row.assignee_id = Some(id);
                    row.assignee_name = Some(name);
                    row.assignee_email = email;
                }
                None => {
                    row.assignee_id = None;
                    row.assignee_name = None;
                    row.assignee_email = None;
                }
            }
        }
        if let (Some(team_id), Some(assignee_id)) = (row.team_id, row.assignee_id) {
            if !store::teams::is_member(&mut work.tx, team_id, assignee_id).await? {
                return Err(DeskError::invalid(
                    "assignee",
                    format!(
                        "{} is not a member of team {}",
                        row.assignee_name.clone().unwrap_or_default(),
                        row.team_name.clone().unwrap_or_default()
                    ),
                ));
            }
        }
        if (row.team_id, row.assignee_id) == (old_team.0, old_assignee.0) {
            return Ok(TicketView::from(&row));
        }
        row.updated_at = store::now();
        store::tickets::update_ticket(&mut work.tx, &row).await?;
        if row.team_id != old_team.0 {
            self.sla_on_change(work, &row).await?;
            work.record(
                actor,
                row.id,
                "assigned",
                Some(("team", old_team.1, row.team_name.clone())),
            );
        }
        if row.assignee_id != old_assignee.0 {
            work.record(
                actor,
                row.id,
                "assigned",
                Some(("assignee", old_assignee.1, row.assignee_name.clone())),
            );
        }
        let details = json!({ "team": row.team_id, "assignee": row.assignee_id });
        work.audit(actor, "ticket.assigned", &row.number, details.clone());
        let view = TicketView::from(&row);
        work.emit(
            actor.org_id,
            "ticket.assigned",
            view.clone(),
            details.clone(),
        );
        self.notify_ticket(work, actor, &row, "ticket.assigned", None, details)
            .await?;
        Ok(view)
    }

    pub async fn update_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        changes: TicketChanges,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        let mut changed: Vec<(&'static str, Option<String>, Option<String>)> = Vec::new();
        let mut errors = Vec::new();
        if let Some(title) = &changes.title {
            match Title::parse("title", title) {
                Ok(t) if t.as_str() != row.title => changed.push((
                    "title",
                    Some(std::mem::replace(&mut row.title, t.into_inner())),
                    None,
                )),
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if let Some(description) = &changes.description {
            match Description::parse("description", description) {
                Ok(d) if d.as_str() != row.description => {
                    row.description = d.into_inner();
                    changed.push(("description", None, None));
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        for (field, value, slot) in [
            ("impact", &changes.impact, &mut row.impact),
            ("urgency", &changes.urgency, &mut row.urgency),
        ] {
            if let Some(value) = value {
                match Level::parse(value) {
                    Ok(level) if level.as_str() != slot.as_str() => {
                        changed.push((
                            field,
                            Some(std::mem::replace(slot, level.as_str().into())),
                            Some(level.as_str().into()),
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(field_error(field, e.to_string())),
                }
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        if let Some(category) = changes.category {
            let category = match category {
                Some(name) => Some(resolve_category(&mut work.tx, actor.org_id, &name).await?),
                None => None,
            };
            if category.as_ref().map(|c| c.id) != row.category_id {
                let new_name = category.as_ref().map(|c| c.name.clone());
                changed.push(("category", row.category_name.clone(), new_name.clone()));
                row.category_id = category.map(|c| c.id);
                row.category_name = new_name;
            }
        }
        if let Some(title) = changed.iter_mut().find(|c| c.0 == "title") {
            title.2 = Some(row.title.clone());
        }
        let matrix = self.priority_matrix(&mut work.tx, actor.org_id).await?;
        let impact = Level::parse(&row.impact).map_err(anyhow::Error::from)?;
        let urgency = Level::parse(&row.urgency).map_err(anyhow::Error::from)?;
        let priority = matrix.priority(impact, urgency).as_str().to_string();
        if priority != row.priority {
            changed.push((
                "priority",
                Some(std::mem::replace(&mut row.priority, priority.clone())),
                Some(priority),
            ));
        }
        if changed.is_empty() {
            return Ok(TicketView::from(&row));
        }
        row.updated_at = store::now();
        store::tickets::update_ticket(&mut work.tx, &row).await?;
        if changed
            .iter()
            .any(|c| matches!(c.0, "priority" | "category"))
        {
            self.sla_on_change(work, &row).await?;
        }
        for (field, old, new) in &changed {
            work.record(
                actor,
                row.id,
                "updated",
                Some((field, old.clone(), new.clone())),
            );
        }
        let fields: Vec<&str> = changed.iter().map(|c| c.0).collect();
        work.audit(
            actor,
            "ticket.updated",
            &row.number,
            json!({ "fields": fields }),
        );
        let view = TicketView::from(&row);
        work.emit(
            actor.org_id,
            "ticket.updated",
            view.clone(),
            json!({ "fields": fields }),
        );
        Ok(view)
    }

    pub async fn add_comment(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        body: &str,
        internal: bool,
    ) -> Result<CommentView, DeskError> {
        if internal && !actor.is_agent() {
            return Err(DeskError::Forbidden(
                "only agents may write internal notes".into(),
            ));
        }
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        row.updated_at = store::now();
        store::tickets::update_ticket(&mut work.tx, &row).await?;
        self.insert_comment(work, actor, &row, body, internal).await
    }

    async fn insert_comment(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketRow,
        body: &str,
        internal: bool,
    ) -> Result<CommentView, DeskError> {
        let body = CommentBody::parse("body", body)?;
        let comment = CommentRow {
            id: new_id(),
            org_id: actor.org_id,
            ticket_id: ticket.id,
            author_id: actor.person_id,
            author_name: Some(actor.name.clone()),
            body: body.into_inner(),
            internal,
            channel: actor.channel.as_str().into(),
            created_at: store::now(),
        };
        store::tickets::insert_comment(&mut work.tx, &comment).await?;
        if !internal {
            self.mail_on_public_comment(work, actor, ticket, &comment.body);
        }
        let action = if internal {
            "internal_note"
        } else {
            "commented"
        };
        work.record(actor, ticket.id, action, None);
        self.sla_on_comment(work, actor, ticket, internal).await?;
        work.audit(
            actor,
            "ticket.commented",
            &ticket.number,
            json!({ "comment": comment.id, "internal": internal }),
        );
        let view = CommentView::from_row(&comment, &ticket.number);
        work.emit(
            actor.org_id,
            "ticket.commented",
            TicketView::from(ticket),
            json!({ "comment": view }),
        );
        let said = Some((comment.body.as_str(), internal));
        self.notify_ticket(work, actor, ticket, "ticket.commented", said, json!({}))
            .await?;
        Ok(view)
    }

    pub async fn list_comments(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<CommentView>, DeskError> {
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let rows = store::tickets::list_comments(
            Exec::Db(&self.db),
            actor.org_id,
            ticket.id,
            actor.is_agent(),
        )
        .await?;
        Ok(rows
            .iter()
            .map(|c| CommentView::from_row(c, &ticket.number))
            .collect())
    }

    pub async fn list_activity(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<ActivityView>, DeskError> {
        actor.require_agent()?;
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let rows =
            store::activity::list_activity(Exec::Db(&self.db), actor.org_id, ticket.id).await?;
        Ok(rows.iter().map(ActivityView::from).collect())
    }

    /// Stores an uploaded file by content hash and links it to the ticket.
    pub async fn add_attachment(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Result<AttachmentView, DeskError> {
        if bytes.len() as u64 > self.settings.max_attachment_bytes {
            return Err(DeskError::TooLarge(format!(
                "attachments may be at most {} bytes (got {})",
                self.settings.max_attachment_bytes,
                bytes.len()
            )));
        }
        let filename = super::files::clean_filename(filename)?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        // Written before the row commits; a rolled-back upload leaves an
        // unreferenced, content-addressed file, which is harmless.
        let stored = super::files::store(&self.settings.data_dir, bytes).await?;
        let attachment = AttachmentRow {
            id: new_id(),
            org_id: actor.org_id,
            ticket_id: row.id,
            filename,
            content_type: stored.content_type,
            size_bytes: bytes.len() as i64,
            sha256: stored.sha256,
            uploaded_by: actor.person_id,
            channel: actor.channel.as_str().into(),
            created_at: store::now(),
        };
        store::tickets::insert_attachment(&mut work.tx, &attachment).await?;
        row.updated_at = attachment.created_at;
        store::tickets::update_ticket(&mut work.tx, &row).await?;
        Ok(record_attachment(
            work,
            actor,
            &row,
            TicketView::from(&row),
            &attachment,
        ))
    }

    /// Attaches files already in the store ([`super::files::store`]) to a
    /// ticket this transaction holds for change (it opened or locked `row`):
    /// the rows and the ticket's `updated_at` in one statement on Postgres,
    /// with the activity, audit entry and event of each file as
    /// [`Desk::add_attachment`] records them. For intake that carries several
    /// files at once (a mail and its original): no lock, no file I/O and no
    /// per-file round trips while the ticket counter may be held.
    ///
    /// `opened_here`: this transaction opened the ticket, and the files come
    /// with it — they carry its creation time and the ticket row is not
    /// written again (an update of a ticket rewrites every index entry).
    pub(crate) async fn attach_stored(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: &mut TicketRow,
        files: Vec<StoredFile>,
        opened_here: bool,
    ) -> Result<Vec<AttachmentView>, DeskError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        require_view(Exec::Tx(&mut work.tx), actor, row).await?;
        let now = if opened_here {
            row.created_at
        } else {
            store::now()
        };
        let rows: Vec<AttachmentRow> = files
            .into_iter()
            .map(|f| AttachmentRow {
                id: new_id(),
                org_id: actor.org_id,
                ticket_id: row.id,
                filename: f.filename,
                content_type: f.stored.content_type,
                size_bytes: f.size_bytes,
                sha256: f.stored.sha256,
                uploaded_by: actor.person_id,
                channel: actor.channel.as_str().into(),
                created_at: now,
            })
            .collect();
        if opened_here {
            // Written with the flush: the ticket counter is held until
            // commit, and this saves a round trip under it.
            work.attachments.extend(rows.iter().cloned());
        } else {
            store::tickets::insert_attachments(&mut work.tx, &rows, row.org_id, row.id, Some(now))
                .await?;
        }
        row.updated_at = now;
        let ticket = TicketView::from(&*row);
        let mut views = Vec::with_capacity(rows.len());
        for attachment in &rows {
            views.push(record_attachment(
                work,
                actor,
                row,
                ticket.clone(),
                attachment,
            ));
        }
        Ok(views)
    }

    /// Adds a watcher: agents add anyone of the organization; a requester
    /// may add colleagues to their own ticket.
    pub async fn add_watcher(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        person: Uuid,
    ) -> Result<Vec<PersonRef>, DeskError> {
        let row = lock_visible(&mut work.tx, actor, number).await?;
        if !actor.is_agent() && !actor.is_requester_of(&row) {
            return Err(DeskError::Forbidden(
                "only agents and the requester may add watchers".into(),
            ));
        }
        let watcher = super::people::person_row(&mut work.tx, actor.org_id, person)
            .await
            .map_err(|_| {
                DeskError::invalid("person", format!("no person {person} in this organization"))
            })?;
        if store::tickets::add_watcher(&mut work.tx, row.id, person).await? {
            work.record(
                actor,
                row.id,
                "watcher_added",
                Some(("watchers", None, Some(watcher.name.clone()))),
            );
            work.audit(
                actor,
                "ticket.watcher_added",
                &row.number,
                json!({ "person": person }),
            );
        }
        watchers(Exec::Tx(&mut work.tx), row.id).await
    }

    pub async fn remove_watcher(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        person: Uuid,
    ) -> Result<(), DeskError> {
        let row = lock_visible(&mut work.tx, actor, number).await?;
        let self_removal = actor.person_id == Some(person);
        if !actor.is_agent() && !actor.is_requester_of(&row) && !self_removal {
            return Err(DeskError::Forbidden(
                "only agents, the requester or the watcher may remove a watcher".into(),
            ));
        }
        if !store::tickets::remove_watcher(&mut work.tx, row.id, person).await? {
            return Err(DeskError::NotFound("watcher"));
        }
        work.record(
            actor,
            row.id,
            "watcher_removed",
            Some(("watchers", Some(person.to_string()), None)),
        );
        work.audit(
            actor,
            "ticket.watcher_removed",
            &row.number,
            json!({ "person": person }),
        );
        Ok(())
    }

    pub async fn list_watchers(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<PersonRef>, DeskError> {
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        watchers(Exec::Db(&self.db), row.id).await
    }

    pub async fn list_attachments(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<AttachmentView>, DeskError> {
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let rows =
            store::tickets::list_attachments(Exec::Db(&self.db), actor.org_id, ticket.id).await?;
        Ok(rows.iter().map(AttachmentView::from).collect())
    }

    /// Returns the attachment's metadata and content.
    pub async fn read_attachment(
        &self,
        actor: &Actor,
        number: &str,
        id: Uuid,
    ) -> Result<(AttachmentView, Vec<u8>), DeskError> {
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let row = store::tickets::find_attachment(Exec::Db(&self.db), actor.org_id, ticket.id, id)
            .await?
            .ok_or(DeskError::NotFound("attachment"))?;
        let bytes = super::files::load(&self.settings.data_dir, &row.sha256).await?;
        Ok((AttachmentView::from(&row), bytes))
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

async fn watchers(exec: Exec<'_>, ticket_id: Uuid) -> Result<Vec<PersonRef>, DeskError> {
    Ok(store::tickets::list_watchers(exec, ticket_id)
        .await?
        .into_iter()
        .map(|(id, name, email)| PersonRef { id, name, email })
        .collect())
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

/// An attachment's activity, audit entry and event.
fn record_attachment(
    work: &mut Work,
    actor: &Actor,
    row: &TicketRow,
    ticket: TicketView,
    attachment: &store::tickets::AttachmentRow,
) -> AttachmentView {
    work.record(
        actor,
        row.id,
        "attachment_added",
        Some(("attachment", None, Some(attachment.filename.clone()))),
    );
    work.audit(
        actor,
        "ticket.attachment_added",
        &row.number,
        json!({ "attachment": attachment.id, "sha256": attachment.sha256 }),
    );
    let view = AttachmentView::from(attachment);
    work.emit(
        actor.org_id,
        "ticket.attachment_added",
        ticket,
        json!({ "attachment": view }),
    );
    view
}

/// How ticket `seq` of `kind` is shown (`INC0000042`).
fn ticket_number(kind: Kind, seq: i64) -> Result<String, DeskError> {
    let seq = u64::try_from(seq).map_err(anyhow::Error::from)?;
    Ok(TicketNumber::new(kind, seq).to_string())
}

/// Inserts `new` under the next number of its counter, whose row stays
/// locked until commit (the plain way of `desk::numbering`).
async fn insert_next_ticket(
    tx: &mut store::Tx,
    new: &NewTicket,
    kind: Kind,
) -> Result<String, DeskError> {
    if let Some((seq, stored)) = store::tickets::insert_next_ticket(tx, new, kind.prefix()).await? {
        let number = ticket_number(kind, seq)?;
        if stored != number {
            return Err(DeskError::Internal(anyhow::anyhow!(
                "the database numbered the ticket {stored}, expected {number}"
            )));
        }
        return Ok(number);
    }
    let seq = store::tickets::next_ticket_seq(tx, new.org_id, kind.as_str()).await?;
    let number = ticket_number(kind, seq)?;
    store::tickets::insert_ticket(tx, new, &number).await?;
    Ok(number)
}
