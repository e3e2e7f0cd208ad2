//! The approval engine: policies, starting an approval on a ticket, stages
//! in sequence, decisions (self-approval refused, delegation honoured,
//! double decisions refused), reminders and expiry as timers, and moving
//! the ticket on when the approval completes. Managers and delegations
//! live here too because only approvals use them.
//!
//! Files: `mod.rs` the engine (starting, stages, decisions, timers, views);
//! `policies.rs` approval policies; `delegations.rs` managers and
//! delegations. May import `domain`, `store` and the desk modules below it
//! (`people`, `tickets`, `notify`, `views`); the modules that act on an
//! approval (`chat`, `approval_links`, `timers`) import from here, never the
//! reverse.

pub mod delegations;
mod policies;

pub use delegations::DelegationView;
pub use policies::{PolicyInput, PolicyView, DEFAULT_FOR};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id,
    notify::Message,
    tickets::lock_visible,
    views::{PersonRef, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        approval::{self, Approvers, Decision, OnExpiry, Rule, Stage, Status},
        text::CommentBody,
        Kind, State,
    },
    store::{
        self,
        approvals::{ApprovalRow, DecisionRow, PolicyRow},
        tickets::TicketRow,
        timers::TimerRow,
        Tx,
    },
};

/// Timer kinds of the approval engine.
pub const APPROVAL_REMINDER: &str = "approval_reminder";
pub const APPROVAL_EXPIRY: &str = "approval_expiry";

/// An approval as the people in it see it: enough for a chat message with
/// buttons, a CAB's quorum progress and "Approved by …, 14:02".
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub id: Uuid,
    pub ticket: String,
    pub ticket_title: String,
    pub policy: String,
    /// `pending`, `approved`, `rejected` or `cancelled`.
    pub status: String,
    /// Index of the current (or last) stage.
    pub stage: usize,
    pub stages: Vec<StageView>,
    pub requester: Option<PersonRef>,
    /// Why it was rejected or how it ended (expiry, cancellation).
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StageView {
    pub name: String,
    /// `any`, `all` or `quorum`.
    pub rule: String,
    /// `pending` (current), `approved`, `rejected`, or `waiting` (not started).
    pub status: String,
    /// Approvals the stage needs and has.
    pub needed: usize,
    pub approvals: usize,
    pub rejections: usize,
    /// Whether the stage is a CAB (shown with its quorum progress).
    pub cab: bool,
    pub approvers: Vec<ApproverView>,
    pub decisions: Vec<DecisionView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApproverView {
    pub id: Uuid,
    pub name: String,
    /// `approve`, `reject`, or absent while undecided.
    pub decision: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    pub approver: PersonRef,
    /// Who clicked, when a delegate decided in the approver's place.
    pub decided_by: Option<PersonRef>,
    pub decision: String,
    pub reason: Option<String>,
    pub channel: String,
    pub at: DateTime<Utc>,
}

fn stages_of(row: &ApprovalRow) -> Result<Vec<Stage>, DeskError> {
    serde_json::from_value(row.stages.0.clone())
        .map_err(|e| DeskError::Internal(anyhow::anyhow!("stored approval stages: {e}")))
}

fn stage_index(row: &ApprovalRow) -> usize {
    usize::try_from(row.stage).unwrap_or(0)
}

fn status_of(row: &ApprovalRow) -> Result<Status, DeskError> {
    Status::parse(&row.status).map_err(|e| DeskError::Internal(e.into()))
}

impl Desk {
    /// Starts an approval of `ticket` under `policy`: the first stage's
    /// approvers are asked at once. One approval runs per ticket at a time.
    pub(crate) async fn start_approval(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketRow,
        policy: &PolicyRow,
    ) -> Result<ApprovalRow, DeskError> {
        let running =
            store::approvals::list_ticket_approvals(&mut work.tx, ticket.org_id, ticket.id).await?;
        if running.iter().any(|a| a.status == Status::Pending.as_str()) {
            return Err(DeskError::Conflict(format!(
                "{} already has an approval in progress",
                ticket.number
            )));
        }
        let now = store::now();
        let mut row = ApprovalRow {
            id: new_id(),
            org_id: ticket.org_id,
            ticket_id: ticket.id,
            policy_id: Some(policy.id),
            policy_name: policy.name.clone(),
            stages: policy.stages.clone(),
            status: Status::Pending.as_str().into(),
            stage: 0,
            stage_started_at: now,
            escalated: false,
            requester_id: ticket.requester_id,
            reason: None,
            created_at: now,
            completed_at: None,
        };
        store::approvals::insert_approval(&mut work.tx, &row).await?;
        work.record(
            actor,
            ticket.id,
            "approval_requested",
            Some(("approval", None, Some(policy.name.clone()))),
        );
        work.audit(
            actor,
            "approval.started",
            &ticket.number,
            json!({ "approval": row.id, "policy": policy.name }),
        );
        self.begin_stage(work, &mut row, ticket, 0).await?;
        Ok(row)
    }

    /// Resolves a stage's approvers, records them, schedules its reminder
    /// and expiry and asks each approver.
    async fn begin_stage(
        &self,
        work: &mut Work,
        row: &mut ApprovalRow,
        ticket: &TicketRow,
        index: usize,
    ) -> Result<(), DeskError> {
        let stages = stages_of(row)?;
        let stage = stages.get(index).ok_or_else(|| {
            DeskError::Internal(anyhow::anyhow!("approval stage {index} missing"))
        })?;
        let people = self.stage_approvers(&mut work.tx, ticket, stage).await?;
        if people.is_empty() {
            return Err(DeskError::Conflict(format!(
                "nobody can decide stage `{}` of policy `{}` for {}: it names no one but the requester, or a team without members, or a requester without a manager",
                stage.name, row.policy_name, ticket.number
            )));
        }
        let now = store::now();
        row.stage = i32::try_from(index).map_err(anyhow::Error::from)?;
        row.stage_started_at = now;
        row.escalated = false;
        store::approvals::update_approval(&mut work.tx, row).await?;
        store::approvals::insert_approvers(&mut work.tx, row.id, row.stage, &people).await?;
        self.schedule_stage_timers(work, row, stage, now);
        let view = self.approval_view(&mut work.tx, row).await?;
        for person in &people {
            self.ask(work, row, &view, *person, "approval.requested")
                .await?;
        }
        work.emit(
            row.org_id,
            "approval.requested",
            TicketView::from(ticket),
            json!({ "approval": view }),
        );
        Ok(())
    }

    fn schedule_stage_timers(
        &self,
        work: &mut Work,
        row: &ApprovalRow,
        stage: &Stage,
        from: DateTime<Utc>,
    ) {
        let payload = json!({ "approval": row.id, "stage": row.stage, "escalated": row.escalated });
        for (kind, minutes) in [
            (APPROVAL_REMINDER, stage.remind_after_minutes),
            (APPROVAL_EXPIRY, stage.expire_after_minutes),
        ] {
            if let Some(minutes) = minutes {
                work.schedule(TimerRow {
                    id: new_id(),
                    org_id: row.org_id,
                    kind: kind.into(),
                    ticket_id: Some(row.ticket_id),
                    payload: sqlx::types::Json(payload.clone()),
                    due_at: from + chrono::Duration::minutes(i64::from(minutes)),
                    created_at: store::now(),
                });
            }
        }
    }

    async fn ask(
        &self,
        work: &mut Work,
        row: &ApprovalRow,
        view: &ApprovalView,
        person: Uuid,
        event: &str,
    ) -> Result<(), DeskError> {
        let stage = view
            .stages
            .get(view.stage)
            .map(|s| s.name.as_str())
            .unwrap_or("");
        let verb = if event == "approval.reminder" {
            "Reminder: your approval is needed"
        } else {
            "Your approval is needed"
        };
        // One-click links for this approver (the page asks before deciding).
        let (approve, reject) = self
            .approval_link_urls(&mut work.tx, row.org_id, row.id, row.stage, person)
            .await?;
        let message = Message {
            event,
            subject: format!("[{}] {verb}: {}", view.ticket, view.ticket_title),
            text: format!(
                "{verb} for {} \"{}\" (policy {}, stage {stage}). Approve or reject it in chat, by email or through the API.\n\nApprove: {approve}\nReject: {reject}",
                view.ticket, view.ticket_title, row.policy_name
            ),
            data: json!({ "approval": view, "approver": person, "links": { "approve": approve, "reject": reject } }),
        };
        self.notify_person(work, row.org_id, person, &message).await
    }

    /// The people who may decide `stage` of `ticket`, without the requester.
    async fn stage_approvers(
        &self,
        tx: &mut Tx,
        ticket: &TicketRow,
        stage: &Stage,
    ) -> Result<Vec<Uuid>, DeskError> {
        let mut people = Vec::new();
        for approvers in &stage.approvers {
            match approvers {
                Approvers::Person { id } => people.push(*id),
                Approvers::Team { id } | Approvers::Cab { team: id } => {
                    if store::teams::find_team(tx, ticket.org_id, *id)
                        .await?
                        .is_some()
                    {
                        people.extend(store::teams::list_members(tx, *id).await?);
                    }
                }
                Approvers::RequesterManager => {
                    if let Some(requester) = ticket.requester_id {
                        people.extend(
                            store::approvals::find_manager(tx, ticket.org_id, requester).await?,
                        );
                    }
                }
            }
        }
        let mut eligible = Vec::new();
        for id in people {
            if Some(id) == ticket.requester_id || eligible.contains(&id) {
                continue;
            }
            if let Some(person) = store::people::find_person(tx, ticket.org_id, id).await? {
                if person.disabled_at.is_none() {
                    eligible.push(id);
                }
            }
        }
        Ok(eligible)
    }

    /// Approves or rejects the current stage of an approval as the actor
    /// (or as the approver who delegated to them).
    pub async fn decide(
        &self,
        work: &mut Work,
        actor: &Actor,
        approval_id: Uuid,
        decision: &str,
        reason: Option<String>,
    ) -> Result<ApprovalView, DeskError> {
        let decision =
            Decision::parse(decision).map_err(|e| DeskError::invalid("decision", e.to_string()))?;
        let reason = match reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(CommentBody::parse("reason", r)?.into_inner()),
            None if decision == Decision::Reject => {
                return Err(DeskError::invalid(
                    "reason",
                    "say why you reject the request",
                ));
            }
            None => None,
        };
        let person = actor
            .person_id
            .ok_or_else(|| DeskError::Forbidden("only a person can decide an approval".into()))?;
        let (mut row, ticket) = self
            .lock_approval(&mut work.tx, actor.org_id, approval_id)
            .await?;
        let status = status_of(&row)?;
        if !status.is_open() {
            let view = self.approval_view(&mut work.tx, &row).await?;
            return Err(DeskError::Conflict(closed_message(&view)));
        }
        let stages = stages_of(&row)?;
        let index = stage_index(&row);
        let stage = stages
            .get(index)
            .ok_or_else(|| DeskError::Internal(anyhow::anyhow!("approval stage missing")))?;
        let eligible: Vec<Uuid> = store::approvals::list_approvers(&mut work.tx, row.id, row.stage)
            .await?
            .into_iter()
            .map(|a| a.0)
            .collect();
        let decisions = store::approvals::list_decisions(&mut work.tx, row.id).await?;
        let decided: Vec<Uuid> = decisions
            .iter()
            .filter(|d| d.stage == row.stage)
            .map(|d| d.approver_id)
            .collect();
        let delegations: Vec<approval::Delegation> =
            store::approvals::active_delegations(&mut work.tx, actor.org_id, store::now())
                .await?
                .iter()
                .map(|d| approval::Delegation {
                    from: d.from_id,
                    to: d.to_id,
                })
                .collect();
        let approver =
            approval::authorize(person, row.requester_id, &eligible, &decided, &delegations)
                .map_err(|refusal| match refusal {
                    approval::Refusal::AlreadyDecided => DeskError::Conflict(refusal.to_string()),
                    _ => DeskError::Forbidden(refusal.to_string()),
                })?;
        let now = store::now();
        store::approvals::insert_decision(
            &mut work.tx,
            &DecisionRow {
                id: new_id(),
                org_id: actor.org_id,
                approval_id: row.id,
                stage: row.stage,
                approver_id: approver,
                decided_by: (approver != person).then_some(person),
                decision: decision.as_str().into(),
                reason: reason.clone(),
                channel: actor.channel.as_str().into(),
                created_at: now,
                approver_name: None,
                decided_by_name: None,
            },
        )
        .await?;
        let on_behalf = if approver != person {
            let name = store::people::find_person(&mut work.tx, actor.org_id, approver)
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            format!(" (for {name})")
        } else {
            String::new()
        };
        work.record(
            actor,
            ticket.id,
            "approval_decided",
            Some((
                "approval",
                None,
                Some(format!("{}{on_behalf}: {}", decision.as_str(), stage.name)),
            )),
        );
        work.audit(
            actor,
            "approval.decided",
            &ticket.number,
            json!({ "approval": row.id, "stage": row.stage, "decision": decision, "approver": approver, "reason": reason }),
        );
        let approvals = decided_count(&decisions, row.stage, "approve")
            + usize::from(decision == Decision::Approve);
        let rejections = decided_count(&decisions, row.stage, "reject")
            + usize::from(decision == Decision::Reject);
        match approval::tally(stage.rule, eligible.len(), approvals, rejections) {
            Status::Approved => self.stage_approved(work, &mut row, &ticket).await?,
            Status::Rejected => {
                let why = match (&reason, decision) {
                    (Some(r), Decision::Reject) => format!("rejected by {}: {r}", actor.name),
                    _ => format!("stage `{}` can no longer reach its quorum", stage.name),
                };
                self.complete(work, &mut row, &ticket, Status::Rejected, Some(why))
                    .await?;
            }
            _ => {
                let view = self.approval_view(&mut work.tx, &row).await?;
                self.tell_approvers(work, &row, &view).await?;
            }
        }
        self.approval_view(&mut work.tx, &row).await
    }

    /// Moves to the next stage, or completes the approval after the last.
    async fn stage_approved(
        &self,
        work: &mut Work,
        row: &mut ApprovalRow,
        ticket: &TicketRow,
    ) -> Result<(), DeskError> {
        cancel_stage_timers(&mut work.tx, row).await?;
        let next = stage_index(row) + 1;
        if next < stages_of(row)?.len() {
            // The last stage's approvers hear the outcome from `complete`.
            let view = self.approval_view(&mut work.tx, row).await?;
            self.tell_approvers(work, row, &view).await?;
            self.begin_stage(work, row, ticket, next).await
        } else {
            self.complete(work, row, ticket, Status::Approved, None)
                .await
        }
    }

    /// Ends an approval and moves its ticket on: approved requests go to
    /// fulfilment and approved changes to scheduled; rejected ones are
    /// rejected with the reason as a comment. The requester is told.
    async fn complete(
        &self,
        work: &mut Work,
        row: &mut ApprovalRow,
        ticket: &TicketRow,
        outcome: Status,
        reason: Option<String>,
    ) -> Result<(), DeskError> {
        cancel_stage_timers(&mut work.tx, row).await?;
        row.status = outcome.as_str().into();
        row.reason = reason.clone();
        row.completed_at = Some(store::now());
        store::approvals::update_approval(&mut work.tx, row).await?;
        let system = Actor::system(row.org_id);
        let kind = Kind::parse(&ticket.kind).map_err(anyhow::Error::from)?;
        let state = State::parse(&ticket.state).map_err(anyhow::Error::from)?;
        let next = match (kind, state, outcome) {
            (Kind::ServiceRequest, State::AwaitingApproval, Status::Approved) => {
                Some(State::InProgress)
            }
            (Kind::Change, State::AwaitingApproval, Status::Approved) => Some(State::Scheduled),
            (Kind::ServiceRequest | Kind::Change, State::AwaitingApproval, Status::Rejected) => {
                Some(State::Rejected)
            }
            _ => None,
        };
        let note = match (outcome, &reason) {
            (Status::Approved, _) => format!("Approval `{}` approved.", row.policy_name),
            (_, Some(reason)) => format!("Approval `{}` {}: {reason}", row.policy_name, outcome),
            (_, None) => format!("Approval `{}` {}.", row.policy_name, outcome),
        };
        match next {
            Some(to) => {
                self.move_ticket(work, &system, &ticket.number, to, Some(note.clone()), true)
                    .await?;
            }
            None => {
                self.add_comment(work, &system, &ticket.number, &note, false)
                    .await?;
            }
        }
        work.audit(
            &system,
            "approval.completed",
            &ticket.number,
            json!({ "approval": row.id, "status": outcome, "reason": reason }),
        );
        let view = self.approval_view(&mut work.tx, row).await?;
        self.tell_approvers(work, row, &view).await?;
        if let Some(requester) = row.requester_id {
            let message = Message {
                event: "approval.decided",
                subject: format!("[{}] Your request was {}", view.ticket, outcome),
                text: note,
                data: json!({ "approval": view }),
            };
            self.notify_person(work, row.org_id, requester, &message)
                .await?;
        }
        let fresh = store::tickets::find_ticket(&mut work.tx, row.org_id, row.ticket_id)
            .await?
            .ok_or(DeskError::NotFound("ticket"))?;
        work.emit(
            row.org_id,
            "approval.decided",
            TicketView::from(&fresh),
            json!({ "approval": view }),
        );
        Ok(())
    }

    /// Updates every approver's copy of the request: one `approval.updated`
    /// message per approver of every stage so far.
    async fn tell_approvers(
        &self,
        work: &mut Work,
        row: &ApprovalRow,
        view: &ApprovalView,
    ) -> Result<(), DeskError> {
        let mut told = Vec::new();
        for stage in view.stages.iter().take(view.stage + 1) {
            for approver in &stage.approvers {
                if told.contains(&approver.id) {
                    continue;
                }
                told.push(approver.id);
                let message = Message {
                    event: "approval.updated",
                    subject: format!("[{}] Approval {}", view.ticket, view.status),
                    text: progress_text(view),
                    data: json!({ "approval": view, "approver": approver.id }),
                };
                self.notify_person(work, row.org_id, approver.id, &message)
                    .await?;
            }
        }
        Ok(())
    }

    /// Withdraws a ticket's pending approval (the ticket was cancelled).
    pub(crate) async fn cancel_approvals(
        &self,
        work: &mut Work,
        ticket: &TicketRow,
    ) -> Result<(), DeskError> {
        for mut row in
            store::approvals::list_ticket_approvals(&mut work.tx, ticket.org_id, ticket.id).await?
        {
            if row.status != Status::Pending.as_str() {
                continue;
            }
            cancel_stage_timers(&mut work.tx, &row).await?;
            row.status = Status::Cancelled.as_str().into();
            row.reason = Some("the ticket was cancelled".into());
            row.completed_at = Some(store::now());
            store::approvals::update_approval(&mut work.tx, &row).await?;
            let view = self.approval_view(&mut work.tx, &row).await?;
            self.tell_approvers(work, &row, &view).await?;
        }
        Ok(())
    }

    /// A reminder or expiry came due. Stale timers (the stage moved on or
    /// the approval ended) do nothing, so each takes effect at most once.
    pub(crate) async fn approval_timer(
        &self,
        work: &mut Work,
        timer: &TimerRow,
    ) -> Result<(), DeskError> {
        let payload = &timer.payload.0;
        let Some(id) = payload["approval"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            return Ok(());
        };
        let Ok((mut row, ticket)) = self.lock_approval(&mut work.tx, timer.org_id, id).await else {
            return Ok(());
        };
        // A reminder belongs to its stage; an expiry also to the stage's
        // escalation round, so the first round's expiry cannot end the second.
        let same_stage = payload["stage"].as_i64() == Some(i64::from(row.stage));
        let same_round = payload["escalated"].as_bool() == Some(row.escalated);
        let current = same_stage && (timer.kind == APPROVAL_REMINDER || same_round);
        if status_of(&row)? != Status::Pending || !current {
            return Ok(());
        }
        let stages = stages_of(&row)?;
        let Some(stage) = stages.get(stage_index(&row)).cloned() else {
            return Ok(());
        };
        let undecided = self.undecided(&mut work.tx, &row).await?;
        let system = Actor::system(row.org_id);
        if timer.kind == APPROVAL_REMINDER {
            let view = self.approval_view(&mut work.tx, &row).await?;
            for person in &undecided {
                self.ask(work, &row, &view, *person, "approval.reminder")
                    .await?;
            }
            work.record(&system, ticket.id, "approval_reminded", None);
            return Ok(());
        }
        work.record(
            &system,
            ticket.id,
            "approval_expired",
            Some(("approval", None, Some(stage.on_expiry.as_str().into()))),
        );
        match stage.on_expiry {
            OnExpiry::Approve => self.stage_approved(work, &mut row, &ticket).await,
            OnExpiry::Escalate if !row.escalated => {
                let mut managers = Vec::new();
                for person in &undecided {
                    if let Some(m) =
                        store::approvals::find_manager(&mut work.tx, row.org_id, *person).await?
                    {
                        if Some(m) != row.requester_id && !managers.contains(&m) {
                            managers.push(m);
                        }
                    }
                }
                if managers.is_empty() {
                    let why = format!(
                        "stage `{}` expired and nobody was there to escalate to",
                        stage.name
                    );
                    return self
                        .complete(work, &mut row, &ticket, Status::Rejected, Some(why))
                        .await;
                }
                row.escalated = true;
                store::approvals::update_approval(&mut work.tx, &row).await?;
                store::approvals::insert_approvers(&mut work.tx, row.id, row.stage, &managers)
                    .await?;
                let now = store::now();
                let once_more = Stage {
                    remind_after_minutes: None,
                    ..stage.clone()
                };
                self.schedule_stage_timers(work, &row, &once_more, now);
                let view = self.approval_view(&mut work.tx, &row).await?;
                for manager in &managers {
                    self.ask(work, &row, &view, *manager, "approval.requested")
                        .await?;
                }
                work.record(&system, ticket.id, "approval_escalated", None);
                Ok(())
            }
            _ => {
                let why = format!("stage `{}` expired without a decision", stage.name);
                self.complete(work, &mut row, &ticket, Status::Rejected, Some(why))
                    .await
            }
        }
    }

    async fn undecided(&self, tx: &mut Tx, row: &ApprovalRow) -> Result<Vec<Uuid>, DeskError> {
        let decided: Vec<Uuid> = store::approvals::list_decisions(tx, row.id)
            .await?
            .iter()
            .filter(|d| d.stage == row.stage)
            .map(|d| d.approver_id)
            .collect();
        Ok(store::approvals::list_approvers(tx, row.id, row.stage)
            .await?
            .into_iter()
            .map(|a| a.0)
            .filter(|id| !decided.contains(id))
            .collect())
    }

    /// Reads an approval after locking its ticket, which serializes every
    /// decision on it.
    async fn lock_approval(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ApprovalRow, TicketRow), DeskError> {
        let row = store::approvals::find_approval(tx, org_id, id)
            .await?
            .ok_or(DeskError::NotFound("approval"))?;
        let ticket = store::tickets::find_ticket(tx, org_id, row.ticket_id)
            .await?
            .ok_or(DeskError::NotFound("approval"))?;
        let ticket = store::tickets::lock_ticket_by_number(tx, org_id, &ticket.number)
            .await?
            .ok_or(DeskError::NotFound("approval"))?;
        let row = store::approvals::find_approval(tx, org_id, id)
            .await?
            .ok_or(DeskError::NotFound("approval"))?;
        Ok((row, ticket))
    }

    pub(crate) async fn approval_view(
        &self,
        tx: &mut Tx,
        row: &ApprovalRow,
    ) -> Result<ApprovalView, DeskError> {
        let ticket = store::tickets::find_ticket(tx, row.org_id, row.ticket_id)
            .await?
            .ok_or(DeskError::NotFound("ticket"))?;
        let stages = stages_of(row)?;
        let decisions = store::approvals::list_decisions(tx, row.id).await?;
        let current = stage_index(row);
        let status = status_of(row)?;
        let mut views = Vec::new();
        for (i, stage) in stages.iter().enumerate() {
            let index = i32::try_from(i).map_err(anyhow::Error::from)?;
            let approvers = if i <= current {
                store::approvals::list_approvers(tx, row.id, index).await?
            } else {
                Vec::new()
            };
            let of_stage: Vec<&DecisionRow> =
                decisions.iter().filter(|d| d.stage == index).collect();
            let approvals = of_stage.iter().filter(|d| d.decision == "approve").count();
            let rejections = of_stage.iter().filter(|d| d.decision == "reject").count();
            let stage_status = if i < current {
                "approved".to_string()
            } else if i == current {
                match status {
                    Status::Pending => "pending".into(),
                    other => other.as_str().into(),
                }
            } else {
                "waiting".into()
            };
            let mut by_person = BTreeMap::new();
            for d in &of_stage {
                by_person.insert(d.approver_id, d.decision.clone());
            }
            views.push(StageView {
                name: stage.name.clone(),
                rule: match stage.rule {
                    Rule::Any => "any".into(),
                    Rule::All => "all".into(),
                    Rule::Quorum { .. } => "quorum".into(),
                },
                status: stage_status,
                needed: approval::needed(stage.rule, approvers.len()),
                approvals,
                rejections,
                cab: stage
                    .approvers
                    .iter()
                    .any(|a| matches!(a, Approvers::Cab { .. })),
                approvers: approvers
                    .iter()
                    .map(|(id, name, _)| ApproverView {
                        id: *id,
                        name: name.clone(),
                        decision: by_person.get(id).cloned(),
                    })
                    .collect(),
                decisions: of_stage
                    .iter()
                    .map(|d| DecisionView {
                        approver: PersonRef {
                            id: d.approver_id,
                            name: d.approver_name.clone().unwrap_or_default(),
                            email: None,
                        },
                        decided_by: d.decided_by.map(|id| PersonRef {
                            id,
                            name: d.decided_by_name.clone().unwrap_or_default(),
                            email: None,
                        }),
                        decision: d.decision.clone(),
                        reason: d.reason.clone(),
                        channel: d.channel.clone(),
                        at: d.created_at,
                    })
                    .collect(),
            });
        }
        Ok(ApprovalView {
            id: row.id,
            ticket: ticket.number.clone(),
            ticket_title: ticket.title.clone(),
            policy: row.policy_name.clone(),
            status: row.status.clone(),
            stage: current,
            stages: views,
            requester: ticket.requester_id.map(|id| PersonRef {
                id,
                name: ticket.requester_name.clone().unwrap_or_default(),
                email: ticket.requester_email.clone(),
            }),
            reason: row.reason.clone(),
            created_at: row.created_at,
            completed_at: row.completed_at,
        })
    }

    /// One approval, for agents, the ticket's requester and its approvers.
    pub async fn get_approval(&self, actor: &Actor, id: Uuid) -> Result<ApprovalView, DeskError> {
        let mut tx = self.db.read().await?;
        let row = store::approvals::find_approval(&mut tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("approval"))?;
        let view = self.approval_view(&mut tx, &row).await?;
        let involved = actor.person_id.is_some_and(|me| {
            row.requester_id == Some(me)
                || view
                    .stages
                    .iter()
                    .any(|s| s.approvers.iter().any(|a| a.id == me))
        });
        if actor.is_agent() || involved {
            Ok(view)
        } else {
            Err(DeskError::NotFound("approval"))
        }
    }

    /// A ticket's approvals, oldest first.
    pub async fn ticket_approvals(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<ApprovalView>, DeskError> {
        let mut tx = self.db.read().await?;
        let ticket = self
            .visible_ticket(store::Exec::Tx(&mut tx), actor, number)
            .await?;
        let rows =
            store::approvals::list_ticket_approvals(&mut tx, actor.org_id, ticket.id).await?;
        let mut views = Vec::new();
        for row in &rows {
            views.push(self.approval_view(&mut tx, row).await?);
        }
        Ok(views)
    }

    /// Approvals waiting for the actor's decision (directly or as a delegate).
    pub async fn my_approvals(&self, actor: &Actor) -> Result<Vec<ApprovalView>, DeskError> {
        let Some(me) = actor.person_id else {
            return Ok(Vec::new());
        };
        let mut tx = self.db.read().await?;
        let rows =
            store::approvals::list_waiting_for(&mut tx, actor.org_id, me, store::now()).await?;
        let mut views = Vec::new();
        for row in &rows {
            views.push(self.approval_view(&mut tx, row).await?);
        }
        Ok(views)
    }

    /// Starts an approval by hand (agents): `policy` by id or name.
    pub async fn request_approval(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        policy: &str,
    ) -> Result<ApprovalView, DeskError> {
        actor.require_agent()?;
        let ticket = lock_visible(&mut work.tx, actor, number).await?;
        let state = State::parse(&ticket.state).map_err(anyhow::Error::from)?;
        if state.is_terminal() {
            return Err(DeskError::Conflict(format!(
                "{} is {state}; a finished ticket needs no approval",
                ticket.number
            )));
        }
        let policy = self
            .resolve_policy(&mut work.tx, actor.org_id, "policy", policy)
            .await?;
        let row = self.start_approval(work, actor, &ticket, &policy).await?;
        // A request or change that may wait for approval from where it is
        // now does, so the decision moves it on (approved requests to
        // fulfilment, approved changes to scheduled) as a catalog one does.
        let kind = Kind::parse(&ticket.kind).map_err(anyhow::Error::from)?;
        let row = store::approvals::find_approval(&mut work.tx, actor.org_id, row.id)
            .await?
            .unwrap_or(row);
        if row.status == Status::Pending.as_str()
            && matches!(kind, Kind::ServiceRequest | Kind::Change)
            && kind.transition(state, State::AwaitingApproval).is_ok()
        {
            self.move_ticket(
                work,
                actor,
                &ticket.number,
                State::AwaitingApproval,
                None,
                false,
            )
            .await?;
        }
        self.approval_view(&mut work.tx, &row).await
    }
}

fn decided_count(decisions: &[DecisionRow], stage: i32, decision: &str) -> usize {
    decisions
        .iter()
        .filter(|d| d.stage == stage && d.decision == decision)
        .count()
}

async fn cancel_stage_timers(tx: &mut Tx, row: &ApprovalRow) -> Result<(), DeskError> {
    store::timers::cancel_timers(tx, row.ticket_id, APPROVAL_REMINDER).await?;
    store::timers::cancel_timers(tx, row.ticket_id, APPROVAL_EXPIRY).await?;
    Ok(())
}

/// "Approved by Ada Lovelace, 14:02" and the like, for a decided request.
pub(crate) fn closed_message(view: &ApprovalView) -> String {
    let last = view
        .stages
        .iter()
        .flat_map(|s| s.decisions.iter())
        .max_by_key(|d| d.at);
    match (view.status.as_str(), last) {
        ("cancelled", _) => "this approval was cancelled with its ticket".into(),
        (status, Some(d))
            if view
                .reason
                .as_deref()
                .is_none_or(|r| r.starts_with("rejected by")) =>
        {
            format!(
                "this approval is already {status}: last decision by {}, {} UTC",
                d.approver.name,
                d.at.format("%Y-%m-%d %H:%M")
            )
        }
        (status, _) => format!(
            "this approval is already {status}{}",
            view.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
    }
}

/// "CAB: 2 of 3 approvals" style progress of the current stage.
fn progress_text(view: &ApprovalView) -> String {
    let Some(stage) = view.stages.get(view.stage) else {
        return format!("Approval {}", view.status);
    };
    format!(
        "{} for {} \"{}\": {} — stage {}: {} of {} approvals, {} rejections",
        view.policy,
        view.ticket,
        view.ticket_title,
        view.status,
        stage.name,
        stage.approvals,
        stage.needed,
        stage.rejections
    )
}
