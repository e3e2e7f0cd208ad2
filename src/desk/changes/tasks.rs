//! Implementation tasks of changes, shared with service requests: a
//! ticket's task list, adding and moving tasks, and the rule that a ticket
//! with open tasks cannot be finished.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::desk::{
    new_id, people::resolve_person, tickets::lock_visible, views::PersonRef, Actor, Desk,
    DeskError, Work,
};
use crate::{
    domain::{text::Title, FieldError, State},
    store::{self, changes::TaskRow, tickets::TicketRow, Exec, Tx},
};

impl Desk {
    pub(super) async fn refuse_open_tasks(
        &self,
        tx: &mut Tx,
        ticket: &TicketRow,
        doing: &str,
    ) -> Result<(), DeskError> {
        let open: Vec<String> = store::changes::list_tasks(tx, ticket.id)
            .await?
            .into_iter()
            .filter(|t| task_is_open(&t.state))
            .map(|t| t.title)
            .collect();
        if open.is_empty() {
            Ok(())
        } else {
            Err(DeskError::Conflict(format!(
                "{} has {} open task(s) ({}); finish or cancel them before {doing}",
                ticket.number,
                open.len(),
                open.join(", ")
            )))
        }
    }

    pub(crate) async fn insert_task(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket_id: Uuid,
        title: &str,
        assignee: Option<Uuid>,
    ) -> Result<TaskRow, DeskError> {
        let title = Title::parse("title", title)?.into_inner();
        let now = store::now();
        let row = TaskRow {
            id: new_id(),
            org_id: actor.org_id,
            ticket_id,
            position: 0,
            title,
            assignee_id: assignee,
            assignee_name: None,
            state: "open".into(),
            created_at: now,
            updated_at: now,
        };
        store::changes::insert_task(&mut work.tx, &row).await?;
        work.record(
            actor,
            ticket_id,
            "task_added",
            Some(("task", None, Some(row.title.clone()))),
        );
        Ok(row)
    }

    /// Tasks of a request or change.
    pub async fn list_tasks(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<TaskView>, DeskError> {
        let mut tx = self.db.read().await?;
        let ticket = self
            .visible_ticket(Exec::Tx(&mut tx), actor, number)
            .await?;
        Ok(store::changes::list_tasks(&mut tx, ticket.id)
            .await?
            .iter()
            .map(TaskView::from)
            .collect())
    }

    pub async fn add_task(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        title: &str,
        assignee: Option<String>,
    ) -> Result<TaskView, DeskError> {
        actor.require_agent()?;
        let ticket = lock_visible(&mut work.tx, actor, number).await?;
        if !matches!(ticket.kind.as_str(), "change" | "service_request") {
            return Err(DeskError::invalid(
                "number",
                "tasks belong to changes and service requests",
            ));
        }
        if State::parse(&ticket.state)
            .map_err(anyhow::Error::from)?
            .is_terminal()
        {
            return Err(DeskError::Conflict(format!(
                "{} is {}",
                ticket.number, ticket.state
            )));
        }
        let assignee = match assignee {
            Some(who) => Some(
                resolve_person(&mut work.tx, actor.org_id, "assignee", &who)
                    .await?
                    .0,
            ),
            None => None,
        };
        let row = self
            .insert_task(work, actor, ticket.id, title, assignee)
            .await?;
        let row = store::changes::find_task(&mut work.tx, ticket.id, row.id)
            .await?
            .ok_or(DeskError::NotFound("task"))?;
        Ok(TaskView::from(&row))
    }

    pub async fn update_task(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        task: Uuid,
        state: Option<String>,
        assignee: Option<Option<String>>,
    ) -> Result<TaskView, DeskError> {
        actor.require_agent()?;
        let ticket = lock_visible(&mut work.tx, actor, number).await?;
        let mut row = store::changes::find_task(&mut work.tx, ticket.id, task)
            .await?
            .ok_or(DeskError::NotFound("task"))?;
        if let Some(state) = state {
            let state = state.trim().to_lowercase();
            if !TASK_STATES.contains(&state.as_str()) {
                return Err(DeskError::invalid(
                    "state",
                    format!("`{state}` is not one of: {}", TASK_STATES.join(", ")),
                ));
            }
            if state != row.state {
                work.record(
                    actor,
                    ticket.id,
                    "task_updated",
                    Some((
                        "task",
                        Some(format!("{}: {}", row.title, row.state)),
                        Some(format!("{}: {state}", row.title)),
                    )),
                );
                row.state = state;
            }
        }
        if let Some(assignee) = assignee {
            row.assignee_id = match assignee {
                Some(who) => Some(
                    resolve_person(&mut work.tx, actor.org_id, "assignee", &who)
                        .await?
                        .0,
                ),
                None => None,
            };
        }
        row.updated_at = store::now();
        store::changes::update_task(&mut work.tx, &row).await?;
        let row = store::changes::find_task(&mut work.tx, ticket.id, task)
            .await?
            .ok_or(DeskError::NotFound("task"))?;
        Ok(TaskView::from(&row))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub id: Uuid,
    pub position: i32,
    pub title: String,
    pub assignee: Option<PersonRef>,
    /// `open`, `in_progress`, `done` or `cancelled`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&TaskRow> for TaskView {
    fn from(t: &TaskRow) -> Self {
        Self {
            id: t.id,
            position: t.position,
            title: t.title.clone(),
            assignee: t.assignee_id.map(|id| PersonRef {
                id,
                name: t.assignee_name.clone().unwrap_or_default(),
                email: None,
            }),
            state: t.state.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A task's state.
pub const TASK_STATES: [&str; 4] = ["open", "in_progress", "done", "cancelled"];

pub(super) fn task_is_open(state: &str) -> bool {
    matches!(state, "open" | "in_progress")
}

/// Task titles of a template or catalog item: each a valid title, at most 50.
pub(crate) fn parse_task_titles(tasks: Vec<String>) -> Result<Vec<String>, DeskError> {
    if tasks.len() > 50 {
        return Err(DeskError::invalid("tasks", "at most 50 tasks"));
    }
    let mut titles = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        match Title::parse("tasks", t) {
            Ok(title) => titles.push(title.into_inner()),
            Err(e) => {
                return Err(DeskError::Invalid(vec![FieldError::new(
                    format!("tasks[{i}]"),
                    e.message,
                )]))
            }
        }
    }
    Ok(titles)
}
