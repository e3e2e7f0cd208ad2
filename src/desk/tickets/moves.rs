//! Moving a ticket on: state transitions (with the process checks every
//! move passes), the requester's rating, assignment and field updates.

use serde_json::json;
use uuid::Uuid;

use super::{field_error, lock_visible, resolve_category, Assignment, TicketChanges, AUTO_CLOSE};
use crate::desk::{
    assignment::Picked, new_id, people::resolve_person, teams::resolve_team, views::TicketView,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        assignment::Strategy,
        text::{Description, Title},
        Kind, Level, State,
    },
    store::{self, tickets::TicketRow, timers::TimerRow},
};

impl Desk {
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
        let mut strategy = None;
        let names_assignee = change.assignee.is_some();
        if let Some(team) = change.team {
            let team = match team {
                Some(name) => Some(resolve_team(&mut work.tx, actor.org_id, &name).await?),
                None => None,
            };
            strategy = team.as_ref().map(|t| t.assignment.clone());
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
        // A ticket reaching another team keeps its assignee only if they are
        // a member; otherwise the team's strategy picks one (unless the
        // change names the assignee itself).
        let mut picked = None;
        if let (Some(strategy), false, true) = (strategy, names_assignee, row.team_id != old_team.0)
        {
            let member = match (row.team_id, row.assignee_id) {
                (Some(team), Some(person)) => {
                    store::teams::is_member(&mut work.tx, team, person).await?
                }
                _ => false,
            };
            if !member && Strategy::parse(&strategy).is_ok_and(|s| s != Strategy::None) {
                row.assignee_id = None;
                row.assignee_name = None;
                row.assignee_email = None;
                picked = self.auto_assign(work, &mut row, &strategy).await?;
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
        self.finish_assignment(work, actor, row, old_team, old_assignee, picked)
            .await
    }

    /// Hands an assigned ticket back to its team: the team's strategy picks
    /// another agent (the current one is passed over when absent) or it
    /// waits in the queue. For an absence that starts.
    pub(crate) async fn requeue(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketView, DeskError> {
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        let old_team = (row.team_id, row.team_name.clone());
        let old_assignee = (row.assignee_id, row.assignee_name.clone());
        row.assignee_id = None;
        row.assignee_name = None;
        row.assignee_email = None;
        let strategy = match row.team_id {
            Some(team) => store::teams::find_team(&mut work.tx, row.org_id, team)
                .await?
                .map(|t| t.assignment),
            None => None,
        };
        let picked = match strategy {
            Some(strategy) => self.auto_assign(work, &mut row, &strategy).await?,
            None => None,
        };
        self.finish_assignment(work, actor, row, old_team, old_assignee, picked)
            .await
    }

    /// Writes a changed assignment and records and announces it.
    async fn finish_assignment(
        &self,
        work: &mut Work,
        actor: &Actor,
        mut row: TicketRow,
        old_team: (Option<Uuid>, Option<String>),
        old_assignee: (Option<Uuid>, Option<String>),
        picked: Option<Picked>,
    ) -> Result<TicketView, DeskError> {
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
        let mut details = json!({ "team": row.team_id, "assignee": row.assignee_id });
        if let Some(picked) = picked {
            details["reason"] = picked.reason.into();
        }
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
        let mut tags = None;
        if let Some(new) = &changes.tags {
            match crate::domain::assignment::normalize_labels("tag", new) {
                Ok(new) if new != row.extra.tags.0 => {
                    changed.push((
                        "tags",
                        Some(row.extra.tags.0.join(", ")),
                        Some(new.join(", ")),
                    ));
                    tags = Some(new);
                }
                Ok(_) => {}
                Err(e) => errors.push(field_error("tags", e)),
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        if let Some(tags) = tags {
            store::tickets::update_tags(&mut work.tx, row.org_id, row.id, &tags).await?;
            row.extra.tags = sqlx::types::Json(tags);
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
}
