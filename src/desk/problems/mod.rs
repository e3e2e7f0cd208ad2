//! Problem management. Here: incidents linked to problems, a problem's
//! workaround and root-cause analysis, resolving a problem with its
//! incidents, and the rules for naming related tickets that `incidents.rs`
//! (parent/child links) and the KEDB share. `known_errors.rs`: the
//! known-error database (search, suggestions for an incident, linking a
//! known error in one call).
//!
//! Agents read and write; a requester reads what hangs on tickets they may
//! see (a problem they raised, the problem of their incident, children of
//! their incident). The KEDB is agents' only.
//!
//! Like every desk module, may import `domain`, `store` and the desk
//! modules below it (`tickets`, `views`); `incidents` imports from here, never the
//! other way round (a resolved problem resolves child incidents through the
//! `Desk` method).

mod known_errors;

pub use known_errors::{KnownErrorChanges, KnownErrorInput, KnownErrorLink, KnownErrorView};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{tickets::lock_visible, views::TicketView, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        problem::{check_problem_link, is_open, LinkError, Linkable, Rca, RcaInput},
        text::{CommentBody, Description},
        Kind, State,
    },
    store::{self, problems::ProblemDetailsRow, tickets::TicketRow, Exec, Tx},
};

/// A ticket in a list of related tickets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketRef {
    pub id: Uuid,
    pub number: String,
    pub kind: String,
    pub title: String,
    pub state: String,
    pub priority: String,
    pub major: bool,
}

impl From<&TicketRow> for TicketRef {
    fn from(t: &TicketRow) -> Self {
        Self {
            id: t.id,
            number: t.number.clone(),
            kind: t.kind.clone(),
            title: t.title.clone(),
            state: t.state.clone(),
            priority: t.priority.clone(),
            major: t.extra.major,
        }
    }
}

impl From<&TicketView> for TicketRef {
    fn from(t: &TicketView) -> Self {
        Self {
            id: t.id,
            number: t.number.clone(),
            kind: t.kind.clone(),
            title: t.title.clone(),
            state: t.state.clone(),
            priority: t.priority.clone(),
            major: t.major,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntryView {
    pub at: DateTime<Utc>,
    pub text: String,
}

/// A root-cause analysis: a timeline, the cause, the "five whys" as a list
/// and/or a free-form analysis. Given whole; it replaces the previous one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RcaView {
    #[serde(default)]
    pub timeline: Vec<TimelineEntryView>,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub five_whys: Vec<String>,
    #[serde(default)]
    pub analysis: String,
}

impl From<&Rca> for RcaView {
    fn from(rca: &Rca) -> Self {
        Self {
            timeline: rca
                .timeline()
                .iter()
                .map(|e| TimelineEntryView {
                    at: e.at,
                    text: e.text.clone(),
                })
                .collect(),
            cause: rca.cause().into(),
            five_whys: rca.five_whys().to_vec(),
            analysis: rca.analysis().into(),
        }
    }
}

impl From<RcaView> for RcaInput {
    fn from(v: RcaView) -> Self {
        Self {
            timeline: v.timeline.into_iter().map(|e| (e.at, e.text)).collect(),
            cause: v.cause,
            five_whys: v.five_whys,
            analysis: v.analysis,
        }
    }
}

/// A problem with its record: workaround, analysis, incidents, known errors.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemView {
    pub problem: TicketView,
    pub workaround: String,
    pub rca: Option<RcaView>,
    /// The linked incidents (for a requester: those they may see).
    pub incidents: Vec<TicketRef>,
    /// Known errors raised from this problem (agents only).
    pub known_errors: Vec<KnownErrorView>,
}

/// Changes to a problem's record; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemChanges {
    /// The workaround; `""` clears it.
    pub workaround: Option<String>,
    /// The whole analysis, replacing the previous one.
    pub rca: Option<RcaView>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveProblem {
    /// Also resolve every linked incident that is still open (each with a
    /// public note naming the problem, and its open child incidents).
    #[serde(default)]
    pub resolve_incidents: bool,
    /// The resolution: a public comment on the problem and part of the
    /// note on each incident.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemResolution {
    pub problem: TicketView,
    /// Incidents resolved with the problem (and their child incidents).
    pub resolved_incidents: Vec<TicketRef>,
}

/// The problem an incident is linked to; `null` when none.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentProblem {
    pub problem: Option<TicketRef>,
}

pub(crate) fn linkable(row: &TicketRow) -> Result<Linkable<'_>, DeskError> {
    Ok(Linkable {
        number: &row.number,
        kind: Kind::parse(&row.kind).map_err(anyhow::Error::from)?,
        state: State::parse(&row.state).map_err(anyhow::Error::from)?,
        parent: row.extra.parent_number.as_deref(),
        has_children: false,
    })
}

pub(crate) fn state_of(row: &TicketRow) -> Result<State, DeskError> {
    Ok(State::parse(&row.state).map_err(anyhow::Error::from)?)
}

/// A link rule refused: bad input, or a finished ticket (a conflict).
pub(crate) fn link_refused(field: &'static str, error: LinkError) -> DeskError {
    match error {
        LinkError::Finished(..) => DeskError::Conflict(error.to_string()),
        other => DeskError::invalid(field, other.to_string()),
    }
}

fn require_problem(row: &TicketRow) -> Result<(), DeskError> {
    if row.kind == Kind::Problem.as_str() {
        Ok(())
    } else {
        Err(DeskError::NotFound("problem"))
    }
}

pub(crate) fn require_incident(row: &TicketRow, field: &'static str) -> Result<(), DeskError> {
    if row.kind == Kind::Incident.as_str() {
        Ok(())
    } else {
        Err(DeskError::invalid(
            field,
            format!("{} is a {}, not an incident", row.number, row.kind),
        ))
    }
}

/// Locks a ticket named in a request body: one the actor cannot see is
/// reported as invalid input naming the number, not as a missing route.
pub(crate) async fn lock_referenced(
    tx: &mut Tx,
    actor: &Actor,
    field: &'static str,
    number: &str,
) -> Result<TicketRow, DeskError> {
    match lock_visible(tx, actor, number).await {
        Err(DeskError::NotFound(_)) => Err(DeskError::invalid(
            field,
            format!("no ticket `{}` in this organization", number.trim()),
        )),
        other => other,
    }
}

/// Related tickets as the actor may see them: agents all, a requester
/// their own.
pub(crate) fn refs(actor: &Actor, rows: &[TicketRow]) -> Vec<TicketRef> {
    rows.iter()
        .filter(|r| actor.is_agent() || actor.is_requester_of(r))
        .map(TicketRef::from)
        .collect()
}

pub(crate) fn parse_long_text(
    errors: &mut Vec<crate::domain::FieldError>,
    field: &'static str,
    value: &str,
) -> String {
    Description::parse(field, value.trim())
        .map_err(|e| errors.push(e))
        .map(Description::into_inner)
        .unwrap_or_default()
}

impl Desk {
    /// A problem with its record.
    pub async fn get_problem(&self, actor: &Actor, number: &str) -> Result<ProblemView, DeskError> {
        let mut tx = self.db.read().await?;
        let row = self
            .visible_ticket(Exec::Tx(&mut tx), actor, number)
            .await?;
        require_problem(&row)?;
        self.problem_view(&mut tx, actor, row).await
    }

    async fn problem_view(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        row: TicketRow,
    ) -> Result<ProblemView, DeskError> {
        let details =
            store::problems::find_problem_details(Exec::Tx(tx), actor.org_id, row.id).await?;
        let incidents =
            store::problems::incidents_of_problem(Exec::Tx(tx), actor.org_id, row.id).await?;
        let known_errors = if actor.is_agent() {
            store::problems::known_errors_of_problem(Exec::Tx(tx), actor.org_id, row.id)
                .await?
                .iter()
                .map(KnownErrorView::from)
                .collect()
        } else {
            Vec::new()
        };
        let (workaround, rca) = match details {
            Some(d) => (
                d.workaround,
                d.rca
                    .and_then(|j| serde_json::from_value::<RcaView>(j.0).ok()),
            ),
            None => (String::new(), None),
        };
        Ok(ProblemView {
            problem: TicketView::from(&row),
            workaround,
            rca,
            incidents: refs(actor, &incidents),
            known_errors,
        })
    }

    /// Sets a problem's workaround and/or root-cause analysis (agents).
    #[tracing::instrument(skip_all, fields(problem = %number), err(level = "debug"))]
    pub async fn update_problem(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        changes: ProblemChanges,
    ) -> Result<ProblemView, DeskError> {
        actor.require_agent()?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        require_problem(&row)?;
        let mut errors = Vec::new();
        let workaround = changes
            .workaround
            .as_deref()
            .map(|w| parse_long_text(&mut errors, "workaround", w));
        let rca = match changes.rca {
            Some(rca) => match Rca::parse(rca.into()) {
                Ok(rca) => Some(RcaView::from(&rca)),
                Err(mut e) => {
                    errors.append(&mut e);
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let now = store::now();
        let mut details =
            store::problems::find_problem_details(Exec::Tx(&mut work.tx), actor.org_id, row.id)
                .await?
                .unwrap_or(ProblemDetailsRow {
                    ticket_id: row.id,
                    org_id: actor.org_id,
                    workaround: String::new(),
                    rca: None,
                    updated_by: None,
                    updated_at: now,
                });
        let mut fields: Vec<&'static str> = Vec::new();
        if let Some(workaround) = workaround.filter(|w| *w != details.workaround) {
            details.workaround = workaround;
            fields.push("workaround");
        }
        if let Some(rca) = rca {
            let value = serde_json::to_value(&rca).map_err(anyhow::Error::from)?;
            if details.rca.as_ref().map(|j| &j.0) != Some(&value) {
                details.rca = Some(sqlx::types::Json(value));
                fields.push("rca");
            }
        }
        if !fields.is_empty() {
            details.updated_by = actor.person_id;
            details.updated_at = now;
            store::problems::upsert_problem_details(&mut work.tx, &details).await?;
            row.updated_at = now;
            store::tickets::update_ticket(&mut work.tx, &row).await?;
            for field in &fields {
                work.record(actor, row.id, "updated", Some((field, None, None)));
            }
            work.audit(
                actor,
                "problem.updated",
                &row.number,
                json!({ "fields": fields }),
            );
            work.emit(
                actor.org_id,
                "ticket.updated",
                TicketView::from(&row),
                json!({ "fields": fields }),
            );
        }
        self.problem_view(&mut work.tx, actor, row).await
    }

    /// Links an incident to a problem (agents). Idempotent: linking an
    /// incident to the problem it is linked to already changes nothing. An
    /// incident belongs to one problem at most; a closed or cancelled
    /// problem takes no new incidents.
    #[tracing::instrument(skip_all, fields(problem = %problem_number, incident = %incident_number), err(level = "debug"))]
    pub async fn link_problem_incident(
        &self,
        work: &mut Work,
        actor: &Actor,
        problem_number: &str,
        incident_number: &str,
    ) -> Result<(), DeskError> {
        actor.require_agent()?;
        // Problem first, then incident: every use case locks in this order.
        let problem = lock_visible(&mut work.tx, actor, problem_number).await?;
        require_problem(&problem)?;
        let incident = lock_referenced(&mut work.tx, actor, "incident", incident_number).await?;
        check_problem_link(&linkable(&problem)?, &linkable(&incident)?)
            .map_err(|e| link_refused("incident", e))?;
        if let Some(current) =
            store::problems::problem_of_incident(Exec::Tx(&mut work.tx), actor.org_id, incident.id)
                .await?
        {
            if current.id == problem.id {
                return Ok(());
            }
            return Err(DeskError::Conflict(format!(
                "{} is linked to problem {} already; unlink it there first",
                incident.number, current.number
            )));
        }
        store::problems::link_incident(
            &mut work.tx,
            actor.org_id,
            problem.id,
            incident.id,
            store::now(),
        )
        .await?;
        work.record(
            actor,
            incident.id,
            "problem_linked",
            Some(("problem", None, Some(problem.number.clone()))),
        );
        work.record(
            actor,
            problem.id,
            "incident_linked",
            Some(("incidents", None, Some(incident.number.clone()))),
        );
        work.audit(
            actor,
            "problem.incident_linked",
            &problem.number,
            json!({ "incident": incident.number }),
        );
        work.emit(
            actor.org_id,
            "ticket.problem_linked",
            TicketView::from(&incident),
            json!({ "problem": problem.number }),
        );
        Ok(())
    }

    /// [`Desk::link_problem_incident`], answering with the problem's
    /// incidents now.
    pub async fn link_incident_to_problem(
        &self,
        work: &mut Work,
        actor: &Actor,
        problem_number: &str,
        incident_number: &str,
    ) -> Result<Vec<TicketRef>, DeskError> {
        self.link_problem_incident(work, actor, problem_number, incident_number)
            .await?;
        let problem = lock_visible(&mut work.tx, actor, problem_number).await?;
        let rows =
            store::problems::incidents_of_problem(Exec::Tx(&mut work.tx), actor.org_id, problem.id)
                .await?;
        Ok(refs(actor, &rows))
    }

    /// Removes an incident from a problem (agents).
    pub async fn unlink_problem_incident(
        &self,
        work: &mut Work,
        actor: &Actor,
        problem_number: &str,
        incident_number: &str,
    ) -> Result<(), DeskError> {
        actor.require_agent()?;
        let problem = lock_visible(&mut work.tx, actor, problem_number).await?;
        require_problem(&problem)?;
        let incident = lock_visible(&mut work.tx, actor, incident_number).await?;
        if !store::problems::unlink_incident(&mut work.tx, actor.org_id, problem.id, incident.id)
            .await?
        {
            return Err(DeskError::NotFound("link"));
        }
        work.record(
            actor,
            incident.id,
            "problem_unlinked",
            Some(("problem", Some(problem.number.clone()), None)),
        );
        work.record(
            actor,
            problem.id,
            "incident_unlinked",
            Some(("incidents", Some(incident.number.clone()), None)),
        );
        work.audit(
            actor,
            "problem.incident_unlinked",
            &problem.number,
            json!({ "incident": incident.number }),
        );
        work.emit(
            actor.org_id,
            "ticket.problem_unlinked",
            TicketView::from(&incident),
            json!({ "problem": problem.number }),
        );
        Ok(())
    }

    /// The incidents of a problem (a requester sees their own only).
    pub async fn problem_incidents(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<TicketRef>, DeskError> {
        let mut tx = self.db.read().await?;
        let row = self
            .visible_ticket(Exec::Tx(&mut tx), actor, number)
            .await?;
        require_problem(&row)?;
        let rows =
            store::problems::incidents_of_problem(Exec::Tx(&mut tx), actor.org_id, row.id).await?;
        Ok(refs(actor, &rows))
    }

    /// The problem an incident is linked to, if any.
    pub async fn incident_problem(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<IncidentProblem, DeskError> {
        let mut tx = self.db.read().await?;
        let row = self
            .visible_ticket(Exec::Tx(&mut tx), actor, number)
            .await?;
        let problem =
            store::problems::problem_of_incident(Exec::Tx(&mut tx), actor.org_id, row.id).await?;
        Ok(IncidentProblem {
            problem: problem.as_ref().map(TicketRef::from),
        })
    }

    /// Resolves a problem and, when asked, each of its open incidents with a
    /// public note naming the problem (and, as for any resolved parent,
    /// their open child incidents). All or nothing.
    #[tracing::instrument(skip_all, fields(problem = %number), err(level = "debug"))]
    pub async fn resolve_problem(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        input: ResolveProblem,
    ) -> Result<ProblemResolution, DeskError> {
        actor.require_agent()?;
        let note = match input.note.as_deref().filter(|n| !n.trim().is_empty()) {
            Some(note) => Some(CommentBody::parse("note", note)?.into_inner()),
            None => None,
        };
        let problem = lock_visible(&mut work.tx, actor, number).await?;
        require_problem(&problem)?;
        let view = self
            .apply_transition(work, actor, problem, State::Resolved.as_str(), note.clone())
            .await?;
        let mut resolved = Vec::new();
        if input.resolve_incidents {
            let text = match &note {
                Some(note) => format!("Resolved with problem {}: {note}", view.number),
                None => format!("Resolved with problem {}.", view.number),
            };
            let incidents = store::problems::incidents_of_problem(
                Exec::Tx(&mut work.tx),
                actor.org_id,
                view.id,
            )
            .await?;
            for incident in incidents {
                let row = lock_visible(&mut work.tx, actor, &incident.number).await?;
                if !is_open(state_of(&row)?) {
                    continue;
                }
                let resolved_view = self
                    .apply_transition(
                        work,
                        actor,
                        row,
                        State::Resolved.as_str(),
                        Some(text.clone()),
                    )
                    .await?;
                work.record(
                    actor,
                    resolved_view.id,
                    "resolved_by_problem",
                    Some(("problem", None, Some(view.number.clone()))),
                );
                resolved.push(TicketRef::from(&resolved_view));
                let children = self.resolve_children(work, actor, &resolved_view).await?;
                resolved.extend(children);
            }
        }
        let numbers: Vec<&str> = resolved.iter().map(|r| r.number.as_str()).collect();
        work.audit(
            actor,
            "problem.resolved",
            &view.number,
            json!({ "resolve_incidents": input.resolve_incidents, "incidents": numbers }),
        );
        Ok(ProblemResolution {
            problem: view,
            resolved_incidents: resolved,
        })
    }
}
