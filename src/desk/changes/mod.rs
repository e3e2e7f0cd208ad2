//! Change management and the process rules every ticket move obeys:
//! change types with their flows (standard from a template, normal through
//! risk assessment and the CAB, emergency with expedited approval and a
//! mandatory review), planned windows with conflict detection against
//! other changes on the same CIs and freeze windows, implementation tasks
//! (shared with service requests), and the post-implementation review.
//!
//! Files: `mod.rs` changes (create, plan, risk, review) and the process
//! checks of every ticket move; `tasks.rs` implementation tasks;
//! `templates.rs` standard-change templates and freeze windows. May import
//! `domain`, `store` and the desk modules below it (`people`, `teams`, `tickets`,
//! `views`); `catalog` imports from here.

mod tasks;
mod templates;

pub(crate) use tasks::parse_task_titles;
pub use tasks::{TaskView, TASK_STATES};
pub use templates::{FreezeView, TemplateView};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    tickets::{lock_visible, OpenTicket},
    views::TicketView,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        approval::Status,
        change::{self, ChangeFacts, ChangeType, Conflict, PlannedChange, ReviewOutcome, Window},
        text::CommentBody,
        FieldError, Kind, State, TicketNumber,
    },
    store::{self, changes::ChangeRow, tickets::TicketRow, Exec, Tx},
};

/// What a person asks for when raising a change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct NewChange {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `standard`, `normal` or `emergency`.
    pub change_type: String,
    /// Required for standard changes: the pre-approved template (id or name).
    pub template: Option<String>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    /// The approval policy (id or name); by default the policy marked
    /// `default_for` this change type.
    pub approval_policy: Option<String>,
    /// Configuration items the change touches (ids).
    #[serde(default)]
    pub cis: Vec<Uuid>,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    /// Who asked for the change (email or id); by default the caller.
    pub requester: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    pub ticket: TicketView,
    pub change_type: String,
    pub template: Option<String>,
    pub approval_policy: Option<Uuid>,
    /// The completed risk questionnaire: answers, score and level.
    #[schema(value_type = Option<Object>)]
    pub risk: Option<serde_json::Value>,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    /// Current conflicts of the planned window.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: Vec<Conflict>,
    #[schema(value_type = Option<Object>)]
    pub review: Option<serde_json::Value>,
    pub tasks: Vec<TaskView>,
}

/// A post-implementation review as given.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReviewInput {
    /// `successful`, `successful_with_issues`, `failed` or `rolled_back`.
    pub outcome: String,
    pub lessons: String,
    /// Incidents the change caused or touched (numbers).
    #[serde(default)]
    pub incidents: Vec<String>,
}

fn parse_type(value: &str) -> Result<ChangeType, DeskError> {
    ChangeType::parse(value).map_err(|e| DeskError::invalid("change_type", e.to_string()))
}

/// A change's details; a change raised through the plain ticket API has
/// none yet and counts as a normal change with nothing assessed.
fn details_or_default(ticket: &TicketRow, found: Option<ChangeRow>) -> ChangeRow {
    found.unwrap_or_else(|| ChangeRow {
        ticket_id: ticket.id,
        org_id: ticket.org_id,
        change_type: ChangeType::Normal.as_str().into(),
        template_id: None,
        approval_policy_id: None,
        risk: None,
        planned_start: None,
        planned_end: None,
        review: None,
    })
}

fn window_of(row: &ChangeRow) -> Option<Window> {
    match (row.planned_start, row.planned_end) {
        (Some(start), Some(end)) => Window::new(start, end).ok(),
        _ => None,
    }
}

fn conflict_text(conflicts: &[Conflict]) -> String {
    let parts: Vec<String> = conflicts
        .iter()
        .map(|c| match c.kind {
            change::ConflictKind::Change => format!(
                "{} ({} – {}) on {} shared configuration item(s)",
                c.with,
                c.start.format("%Y-%m-%d %H:%M"),
                c.end.format("%Y-%m-%d %H:%M"),
                c.shared_cis.len()
            ),
            change::ConflictKind::Freeze => format!(
                "freeze window `{}` ({} – {})",
                c.with,
                c.start.format("%Y-%m-%d %H:%M"),
                c.end.format("%Y-%m-%d %H:%M")
            ),
        })
        .collect();
    format!("the planned window conflicts with {}", parts.join("; "))
}

impl Desk {
    /// Raises a change with its type, template, CIs and window in one go.
    pub async fn create_change(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: NewChange,
    ) -> Result<ChangeView, DeskError> {
        actor.require_agent()?;
        let change_type = parse_type(&input.change_type)?;
        let template = match (&input.template, change_type) {
            (Some(t), _) => Some(
                store::changes::find_template(&mut work.tx, actor.org_id, t)
                    .await?
                    .ok_or_else(|| {
                        DeskError::invalid("template", format!("no change template `{t}`"))
                    })?,
            ),
            (None, ChangeType::Standard) => {
                return Err(DeskError::invalid(
                    "template",
                    "a standard change is made from a pre-approved template",
                ))
            }
            (None, _) => None,
        };
        let policy = match &input.approval_policy {
            Some(p) => Some(
                self.resolve_policy(&mut work.tx, actor.org_id, "approval_policy", p)
                    .await?,
            ),
            None => None,
        };
        let window = match (input.planned_start, input.planned_end) {
            (Some(start), Some(end)) => Some(Window::new(start, end)?),
            (None, None) => None,
            _ => {
                return Err(DeskError::invalid(
                    "planned_end",
                    "give both planned_start and planned_end, or neither",
                ))
            }
        };
        let ticket = self
            .open_ticket(
                work,
                actor,
                OpenTicket {
                    tags: Vec::new(),
                    kind: Kind::Change.as_str().into(),
                    title: input.title,
                    description: if input.description.is_empty() {
                        template
                            .as_ref()
                            .map(|t| t.description.clone())
                            .unwrap_or_default()
                    } else {
                        input.description
                    },
                    impact: input.impact,
                    urgency: input.urgency,
                    category: input.category,
                    team: input.team,
                    requester: input.requester,
                },
            )
            .await?;
        for ci in &input.cis {
            self.link_ticket_ci(work, actor, &ticket.number, *ci)
                .await?;
        }
        let row = ChangeRow {
            ticket_id: ticket.id,
            org_id: actor.org_id,
            change_type: change_type.as_str().into(),
            template_id: template.as_ref().map(|t| t.id),
            approval_policy_id: policy.map(|p| p.id),
            risk: None,
            planned_start: window.map(|w| w.start),
            planned_end: window.map(|w| w.end),
            review: None,
        };
        if let Some(window) = window {
            let ticket_row = self
                .visible_ticket(Exec::Tx(&mut work.tx), actor, &ticket.number)
                .await?;
            let conflicts = self
                .window_conflicts(&mut work.tx, &ticket_row, &window)
                .await?;
            if !conflicts.is_empty() {
                return Err(DeskError::Conflict(conflict_text(&conflicts)));
            }
        }
        store::changes::save_change(&mut work.tx, &row).await?;
        if let Some(template) = &template {
            for title in &template.tasks.0 {
                self.insert_task(work, actor, ticket.id, title, None)
                    .await?;
            }
        }
        work.audit(
            actor,
            "change.created",
            &ticket.number,
            json!({ "change_type": change_type, "template": template.as_ref().map(|t| &t.name) }),
        );
        self.change_view_in(&mut work.tx, actor, &ticket.number)
            .await
    }

    pub async fn get_change(&self, actor: &Actor, number: &str) -> Result<ChangeView, DeskError> {
        let mut tx = self.db.read().await?;
        self.change_view_in(&mut tx, actor, number).await
    }

    async fn change_view_in(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        number: &str,
    ) -> Result<ChangeView, DeskError> {
        let ticket = self.visible_ticket(Exec::Tx(tx), actor, number).await?;
        if ticket.kind != Kind::Change.as_str() {
            return Err(DeskError::NotFound("change"));
        }
        let details =
            details_or_default(&ticket, store::changes::find_change(tx, ticket.id).await?);
        let template = match details.template_id {
            Some(id) => store::changes::find_template(tx, ticket.org_id, &id.to_string())
                .await?
                .map(|t| t.name),
            None => None,
        };
        let conflicts = match window_of(&details) {
            Some(window) => self.window_conflicts(tx, &ticket, &window).await?,
            None => Vec::new(),
        };
        let tasks = store::changes::list_tasks(tx, ticket.id).await?;
        Ok(ChangeView {
            ticket: TicketView::from(&ticket),
            change_type: details.change_type,
            template,
            approval_policy: details.approval_policy_id,
            risk: details.risk.map(|r| r.0),
            planned_start: details.planned_start,
            planned_end: details.planned_end,
            conflicts,
            review: details.review.map(|r| r.0),
            tasks: tasks.iter().map(TaskView::from).collect(),
        })
    }

    /// Conflicts of `window` for the change `ticket`: other live changes in
    /// overlapping windows on the same CIs, and freezes of its team or of
    /// everyone.
    async fn window_conflicts(
        &self,
        tx: &mut Tx,
        ticket: &TicketRow,
        window: &Window,
    ) -> Result<Vec<Conflict>, DeskError> {
        let cis: Vec<Uuid> = store::cmdb::cis_of_ticket(Exec::Tx(tx), ticket.id)
            .await?
            .into_iter()
            .map(|c| c.0)
            .collect();
        let mut others: BTreeMap<String, PlannedChange> = BTreeMap::new();
        for (number, start, end, ci) in store::changes::overlapping_changes(
            tx,
            ticket.org_id,
            ticket.id,
            window.start,
            window.end,
        )
        .await?
        {
            let Ok(w) = Window::new(start, end) else {
                continue;
            };
            others
                .entry(number.clone())
                .or_insert_with(|| PlannedChange {
                    number,
                    window: w,
                    cis: Vec::new(),
                })
                .cis
                .push(ci);
        }
        let others: Vec<PlannedChange> = others.into_values().collect();
        let freezes: Vec<(String, Window)> = store::changes::overlapping_freezes(
            tx,
            ticket.org_id,
            ticket.team_id,
            window.start,
            window.end,
        )
        .await?
        .into_iter()
        .filter_map(|f| {
            Window::new(f.starts_at, f.ends_at)
                .ok()
                .map(|w| (f.name, w))
        })
        .collect();
        Ok(change::conflicts(window, &cis, &others, &freezes))
    }

    /// Sets a change's planned window (refused when it conflicts) and,
    /// optionally, its approval policy. Only before approval.
    pub async fn plan_change(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        approval_policy: Option<String>,
    ) -> Result<ChangeView, DeskError> {
        actor.require_agent()?;
        let ticket = self.lock_change(work, actor, number).await?;
        let state = State::parse(&ticket.state).map_err(anyhow::Error::from)?;
        if !matches!(state, State::New | State::Assessment) {
            return Err(DeskError::Conflict(format!(
                "{} is {state}: the window can only be planned while the change is new or in assessment",
                ticket.number
            )));
        }
        let window = Window::new(start, end)?;
        let conflicts = self
            .window_conflicts(&mut work.tx, &ticket, &window)
            .await?;
        if !conflicts.is_empty() {
            return Err(DeskError::Conflict(conflict_text(&conflicts)));
        }
        let mut details = details_or_default(
            &ticket,
            store::changes::find_change(&mut work.tx, ticket.id).await?,
        );
        if let Some(policy) = approval_policy {
            details.approval_policy_id = Some(
                self.resolve_policy(&mut work.tx, actor.org_id, "approval_policy", &policy)
                    .await?
                    .id,
            );
        }
        let old = details.planned_start.map(|s| s.to_rfc3339());
        details.planned_start = Some(window.start);
        details.planned_end = Some(window.end);
        store::changes::save_change(&mut work.tx, &details).await?;
        work.record(
            actor,
            ticket.id,
            "change_planned",
            Some((
                "planned_window",
                old,
                Some(format!(
                    "{} – {}",
                    window.start.to_rfc3339(),
                    window.end.to_rfc3339()
                )),
            )),
        );
        work.audit(
            actor,
            "change.planned",
            &ticket.number,
            json!({ "start": window.start, "end": window.end }),
        );
        self.change_view_in(&mut work.tx, actor, &ticket.number)
            .await
    }

    /// Conflicts a window would have, without planning it.
    pub async fn preview_conflicts(
        &self,
        actor: &Actor,
        number: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Conflict>, DeskError> {
        actor.require_agent()?;
        let window = Window::new(start, end)?;
        let mut tx = self.db.read().await?;
        let ticket = self
            .visible_ticket(Exec::Tx(&mut tx), actor, number)
            .await?;
        if ticket.kind != Kind::Change.as_str() {
            return Err(DeskError::NotFound("change"));
        }
        self.window_conflicts(&mut tx, &ticket, &window).await
    }

    /// Records the risk questionnaire's answers with the score and level.
    pub async fn assess_change_risk(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        answers: BTreeMap<String, String>,
    ) -> Result<ChangeView, DeskError> {
        actor.require_agent()?;
        let ticket = self.lock_change(work, actor, number).await?;
        let state = State::parse(&ticket.state).map_err(anyhow::Error::from)?;
        if !matches!(state, State::New | State::Assessment) {
            return Err(DeskError::Conflict(format!(
                "{} is {state}: risk is assessed while the change is new or in assessment",
                ticket.number
            )));
        }
        let assessment = change::assess_risk(&answers).map_err(DeskError::Invalid)?;
        let mut details = details_or_default(
            &ticket,
            store::changes::find_change(&mut work.tx, ticket.id).await?,
        );
        details.risk = Some(sqlx::types::Json(
            serde_json::to_value(&assessment).map_err(anyhow::Error::from)?,
        ));
        store::changes::save_change(&mut work.tx, &details).await?;
        work.record(
            actor,
            ticket.id,
            "risk_assessed",
            Some((
                "risk",
                None,
                Some(format!("{} ({})", assessment.level, assessment.score)),
            )),
        );
        work.audit(
            actor,
            "change.risk_assessed",
            &ticket.number,
            json!({ "score": assessment.score, "level": assessment.level }),
        );
        self.change_view_in(&mut work.tx, actor, &ticket.number)
            .await
    }

    /// Records the post-implementation review (in `review`).
    pub async fn review_change(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        input: ReviewInput,
    ) -> Result<ChangeView, DeskError> {
        actor.require_agent()?;
        let ticket = self.lock_change(work, actor, number).await?;
        if ticket.state != State::Review.as_str() {
            return Err(DeskError::Conflict(format!(
                "{} is {}: the review is written once the change is in review",
                ticket.number, ticket.state
            )));
        }
        let mut errors = Vec::new();
        let outcome = ReviewOutcome::parse(&input.outcome)
            .map_err(|e| errors.push(FieldError::new("outcome", e.to_string())))
            .ok();
        let lessons = CommentBody::parse("lessons", &input.lessons)
            .map_err(|e| errors.push(e))
            .ok();
        let mut incidents = Vec::new();
        for (i, number) in input.incidents.iter().enumerate() {
            let found = match TicketNumber::parse(number) {
                Ok(n) => store::tickets::find_ticket_by_number(
                    Exec::Tx(&mut work.tx),
                    actor.org_id,
                    &n.to_string(),
                )
                .await?
                .filter(|t| t.kind == Kind::Incident.as_str()),
                Err(_) => None,
            };
            match found {
                Some(t) => incidents.push(t.number),
                None => errors.push(FieldError::new(
                    format!("incidents[{i}]"),
                    format!("`{number}` is not an incident of this organization"),
                )),
            }
        }
        let (Some(outcome), Some(lessons)) = (outcome, lessons) else {
            return Err(DeskError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let mut details = details_or_default(
            &ticket,
            store::changes::find_change(&mut work.tx, ticket.id).await?,
        );
        details.review = Some(sqlx::types::Json(json!({
            "outcome": outcome,
            "lessons": lessons.as_str(),
            "incidents": incidents,
            "reviewed_by": actor.person_id,
            "reviewed_at": store::now(),
        })));
        store::changes::save_change(&mut work.tx, &details).await?;
        work.record(
            actor,
            ticket.id,
            "change_reviewed",
            Some(("review", None, Some(outcome.as_str().into()))),
        );
        work.audit(
            actor,
            "change.reviewed",
            &ticket.number,
            json!({ "outcome": outcome, "incidents": incidents }),
        );
        self.change_view_in(&mut work.tx, actor, &ticket.number)
            .await
    }

    async fn lock_change(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketRow, DeskError> {
        let ticket = lock_visible(&mut work.tx, actor, number).await?;
        if ticket.kind != Kind::Change.as_str() {
            return Err(DeskError::NotFound("change"));
        }
        Ok(ticket)
    }

    /// The process rules of a move, beyond the kind's state machine.
    pub(crate) async fn check_process_move(
        &self,
        work: &mut Work,
        ticket: &TicketRow,
        from: State,
        to: State,
        by_approval: bool,
    ) -> Result<(), DeskError> {
        let kind = Kind::parse(&ticket.kind).map_err(anyhow::Error::from)?;
        match kind {
            Kind::Change => {
                let details = details_or_default(
                    ticket,
                    store::changes::find_change(&mut work.tx, ticket.id).await?,
                );
                let change_type = parse_type(&details.change_type)?;
                if !by_approval {
                    let facts = ChangeFacts {
                        change_type,
                        risk_assessed: details.risk.is_some(),
                        window_planned: window_of(&details).is_some(),
                        reviewed: details.review.is_some(),
                    };
                    ChangeType::check_move(facts, from, to)
                        .map_err(|e| DeskError::Conflict(e.to_string()))?;
                }
                if from == State::Assessment
                    && matches!(to, State::Scheduled | State::AwaitingApproval)
                {
                    if let Some(window) = window_of(&details) {
                        let conflicts =
                            self.window_conflicts(&mut work.tx, ticket, &window).await?;
                        if !conflicts.is_empty() {
                            return Err(DeskError::Conflict(conflict_text(&conflicts)));
                        }
                    }
                }
                if from == State::Implementing && to == State::Review {
                    self.refuse_open_tasks(&mut work.tx, ticket, "moving to review")
                        .await?;
                }
            }
            Kind::ServiceRequest => {
                if from == State::AwaitingApproval && !by_approval && to != State::Cancelled {
                    let pending = store::approvals::list_ticket_approvals(
                        &mut work.tx,
                        ticket.org_id,
                        ticket.id,
                    )
                    .await?
                    .iter()
                    .any(|a| a.status == Status::Pending.as_str());
                    if pending {
                        return Err(DeskError::Conflict(format!(
                            "{} waits for its approval, which decides this move; allowed by hand: cancelled",
                            ticket.number
                        )));
                    }
                }
                if to == State::Resolved {
                    self.refuse_open_tasks(&mut work.tx, ticket, "resolving")
                        .await?;
                }
            }
            Kind::Incident | Kind::Problem => {}
        }
        Ok(())
    }

    /// What a move sets off: submitting a change or a request for approval
    /// starts its policy.
    pub(crate) async fn after_process_move(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketRow,
        from: State,
        to: State,
    ) -> Result<(), DeskError> {
        if to != State::AwaitingApproval {
            return Ok(());
        }
        // Moved here by an approval started by hand: that one decides.
        let approvals =
            store::approvals::list_ticket_approvals(&mut work.tx, ticket.org_id, ticket.id).await?;
        if approvals
            .iter()
            .any(|a| a.status == crate::domain::approval::Status::Pending.as_str())
        {
            return Ok(());
        }
        let kind = Kind::parse(&ticket.kind).map_err(anyhow::Error::from)?;
        let policy = match kind {
            Kind::Change => {
                let details = details_or_default(
                    ticket,
                    store::changes::find_change(&mut work.tx, ticket.id).await?,
                );
                let use_for = format!("{}_change", details.change_type);
                match details.approval_policy_id {
                    Some(id) => store::approvals::find_policy(&mut work.tx, ticket.org_id, id).await?,
                    None => store::approvals::find_default_policy(&mut work.tx, ticket.org_id, &use_for).await?,
                }
                .ok_or_else(|| {
                    DeskError::Conflict(format!(
                        "no approval policy for {}: name one on the change or mark a policy default_for `{use_for}`",
                        ticket.number
                    ))
                })?
            }
            Kind::ServiceRequest => {
                let item = match store::catalog::find_request(&mut work.tx, ticket.id).await? {
                    Some(request) => {
                        store::catalog::find_item(&mut work.tx, ticket.org_id, request.item_id)
                            .await?
                    }
                    None => None,
                };
                let policy = match item.and_then(|i| i.approval_policy_id) {
                    Some(id) => {
                        store::approvals::find_policy(&mut work.tx, ticket.org_id, id).await?
                    }
                    None => None,
                };
                policy.ok_or_else(|| {
                    DeskError::Conflict(format!(
                        "{} has no approval policy from the catalog; start one with POST /api/v1/tickets/{}/approvals instead of moving it from {from}",
                        ticket.number, ticket.number
                    ))
                })?
            }
            Kind::Incident | Kind::Problem => return Ok(()),
        };
        self.start_approval(work, actor, ticket, &policy).await?;
        Ok(())
    }
}
