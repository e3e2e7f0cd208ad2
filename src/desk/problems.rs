//! Problem management and incident specifics: incidents linked to problems,
//! a problem's workaround and root-cause analysis, resolving a problem with
//! its incidents, the known-error database (search, suggestions for an
//! incident, linking a known error in one call), the major-incident flag,
//! parent/child incidents and the escalation level.
//!
//! Agents read and write; a requester reads what hangs on tickets they may
//! see (a problem they raised, the problem of their incident, children of
//! their incident). The KEDB is agents' only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    tickets::lock_visible,
    views::{CommentView, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        problem::{
            check_parent_link, check_problem_link, escalation_level, is_open, search_terms,
            LinkError, Linkable, Rca, RcaInput,
        },
        text::{CommentBody, Description, Title},
        Kind, State,
    },
    store::{
        self,
        problems::{KnownErrorQuery, KnownErrorRow, ProblemDetailsRow},
        tickets::TicketRow,
        Exec, Tx,
    },
};

/// The most search terms taken from a query or an incident's text.
const MAX_TERMS: usize = 32;

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

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KnownErrorInput {
    pub title: String,
    #[serde(default)]
    pub symptoms: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub workaround: String,
    /// The problem this known error comes from (number), if any.
    pub problem: Option<String>,
    /// Offered in searches and suggestions; default true.
    pub active: Option<bool>,
}

/// Changes to a known error; absent fields stay, `problem: null` unlinks.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KnownErrorChanges {
    pub title: Option<String>,
    pub symptoms: Option<String>,
    pub cause: Option<String>,
    pub workaround: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub problem: Option<Option<String>>,
    pub active: Option<bool>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KnownErrorView {
    pub id: Uuid,
    pub title: String,
    pub symptoms: String,
    pub cause: String,
    pub workaround: String,
    /// Number of the problem it comes from.
    pub problem: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Relevance in a search or suggestion list (higher is better;
    /// comparable within one list only); absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

impl From<&KnownErrorRow> for KnownErrorView {
    fn from(k: &KnownErrorRow) -> Self {
        Self {
            id: k.id,
            title: k.title.clone(),
            symptoms: k.symptoms.clone(),
            cause: k.cause.clone(),
            workaround: k.workaround.clone(),
            problem: k.problem_number.clone(),
            active: k.active,
            created_at: k.created_at,
            updated_at: k.updated_at,
            score: None,
        }
    }
}

/// What linking a known error to an incident did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KnownErrorLink {
    pub incident: TicketView,
    pub known_error: KnownErrorView,
    /// The problem the incident is linked to now, if any.
    pub problem: Option<String>,
    /// The internal note with the workaround; absent when the known error
    /// was linked already (nothing was done again).
    pub note: Option<CommentView>,
}

fn linkable(row: &TicketRow) -> Result<Linkable<'_>, DeskError> {
    Ok(Linkable {
        number: &row.number,
        kind: Kind::parse(&row.kind).map_err(anyhow::Error::from)?,
        state: State::parse(&row.state).map_err(anyhow::Error::from)?,
        parent: row.extra.parent_number.as_deref(),
        has_children: false,
    })
}

fn state_of(row: &TicketRow) -> Result<State, DeskError> {
    Ok(State::parse(&row.state).map_err(anyhow::Error::from)?)
}

/// A link rule refused: bad input, or a finished ticket (a conflict).
fn link_refused(field: &'static str, error: LinkError) -> DeskError {
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

fn require_incident(row: &TicketRow, field: &'static str) -> Result<(), DeskError> {
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
async fn lock_referenced(
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
fn refs(actor: &Actor, rows: &[TicketRow]) -> Vec<TicketRef> {
    rows.iter()
        .filter(|r| actor.is_agent() || actor.is_requester_of(r))
        .map(TicketRef::from)
        .collect()
}

fn parse_long_text(
    errors: &mut Vec<crate::domain::FieldError>,
    field: &'static str,
    value: &str,
) -> String {
    Description::parse(field, value.trim())
        .map_err(|e| errors.push(e))
        .map(Description::into_inner)
        .unwrap_or_default()
}

fn check_limit(limit: Option<i64>, default: i64) -> Result<i64, DeskError> {
    let limit = limit.unwrap_or(default);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(DeskError::invalid("limit", "must be between 1 and 100"))
    }
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

    /// Resolves the open children of a just-resolved parent incident, each
    /// with a public note saying so. Children have no children, so this
    /// goes one level only.
    pub(crate) async fn resolve_children(
        &self,
        work: &mut Work,
        actor: &Actor,
        parent: &TicketView,
    ) -> Result<Vec<TicketRef>, DeskError> {
        if parent.kind != Kind::Incident.as_str() {
            return Ok(Vec::new());
        }
        let children =
            store::problems::children_of(Exec::Tx(&mut work.tx), actor.org_id, parent.id).await?;
        let mut resolved = Vec::new();
        for child in children {
            let row = lock_visible(&mut work.tx, actor, &child.number).await?;
            if !is_open(state_of(&row)?) {
                continue;
            }
            let note = format!("Resolved with parent incident {}.", parent.number);
            let view = self
                .apply_transition(work, actor, row, State::Resolved.as_str(), Some(note))
                .await?;
            work.record(
                actor,
                view.id,
                "resolved_by_parent",
                Some(("parent", None, Some(parent.number.clone()))),
            );
            resolved.push(TicketRef::from(&view));
        }
        Ok(resolved)
    }

    /// Declares or clears a major incident (agents); recorded, audited and
    /// announced as `ticket.major_changed`. Setting what is set changes
    /// nothing.
    #[tracing::instrument(skip_all, fields(ticket = %number, major), err(level = "debug"))]
    pub async fn set_major(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        major: bool,
        reason: Option<String>,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let reason = match reason.as_deref().filter(|r| !r.trim().is_empty()) {
            Some(r) => Some(CommentBody::parse("reason", r)?.into_inner()),
            None => None,
        };
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        if row.kind != Kind::Incident.as_str() {
            return Err(DeskError::invalid(
                "major",
                format!(
                    "only incidents can be major incidents; {} is a {}",
                    row.number, row.kind
                ),
            ));
        }
        if row.extra.major == major {
            return Ok(TicketView::from(&row));
        }
        row.extra.major = major;
        row.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &row).await?;
        work.record(
            actor,
            row.id,
            "updated",
            Some(("major", Some((!major).to_string()), Some(major.to_string()))),
        );
        let details = json!({ "major": major, "reason": reason });
        work.audit(actor, "ticket.major_changed", &row.number, details.clone());
        let view = TicketView::from(&row);
        work.emit(actor.org_id, "ticket.major_changed", view.clone(), details);
        Ok(view)
    }

    /// Sets a ticket's escalation level, 0–10 (agents; later the SLA).
    pub async fn set_escalation_level(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        level: i64,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let level = escalation_level(level)?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        let old = row.extra.escalation_level;
        if old == level {
            return Ok(TicketView::from(&row));
        }
        row.extra.escalation_level = level;
        row.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &row).await?;
        work.record(
            actor,
            row.id,
            "updated",
            Some((
                "escalation_level",
                Some(old.to_string()),
                Some(level.to_string()),
            )),
        );
        let details = json!({ "fields": ["escalation_level"], "from": old, "to": level });
        work.audit(
            actor,
            "ticket.escalation_changed",
            &row.number,
            details.clone(),
        );
        let view = TicketView::from(&row);
        work.emit(actor.org_id, "ticket.updated", view.clone(), details);
        Ok(view)
    }

    /// Makes an incident the child of another (agents). A parent has no
    /// parent and a child no children, so links never cycle; when the
    /// parent is resolved its open children are resolved with it.
    #[tracing::instrument(skip_all, fields(ticket = %number, parent = %parent), err(level = "debug"))]
    pub async fn set_parent(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        parent: &str,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        // The child must be visible before anything is said about the parent.
        let child_number = self
            .visible_ticket(Exec::Tx(&mut work.tx), actor, number)
            .await?
            .number;
        // Parent first, then child: the order a resolving parent locks in.
        let parent_row = lock_referenced(&mut work.tx, actor, "parent", parent).await?;
        let mut child = lock_visible(&mut work.tx, actor, &child_number).await?;
        if child.extra.parent_id == Some(parent_row.id) {
            return Ok(TicketView::from(&child));
        }
        let has_children =
            store::problems::has_children(Exec::Tx(&mut work.tx), actor.org_id, child.id).await?;
        let child_link = Linkable {
            has_children,
            ..linkable(&child)?
        };
        check_parent_link(&child_link, &linkable(&parent_row)?)
            .map_err(|e| link_refused("parent", e))?;
        let old = child.extra.parent_number.clone();
        child.extra.parent_id = Some(parent_row.id);
        child.extra.parent_number = Some(parent_row.number.clone());
        child.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &child).await?;
        work.record(
            actor,
            child.id,
            "updated",
            Some(("parent", old.clone(), Some(parent_row.number.clone()))),
        );
        work.record(
            actor,
            parent_row.id,
            "child_linked",
            Some(("children", None, Some(child.number.clone()))),
        );
        let details = json!({ "parent": parent_row.number, "previous": old });
        work.audit(
            actor,
            "ticket.parent_changed",
            &child.number,
            details.clone(),
        );
        let view = TicketView::from(&child);
        work.emit(actor.org_id, "ticket.parent_changed", view.clone(), details);
        Ok(view)
    }

    /// Detaches a child incident from its parent (agents).
    pub async fn clear_parent(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let mut child = lock_visible(&mut work.tx, actor, number).await?;
        let Some(old) = child.extra.parent_number.take() else {
            return Err(DeskError::NotFound("parent link"));
        };
        let parent_id = child.extra.parent_id.take();
        child.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &child).await?;
        work.record(
            actor,
            child.id,
            "updated",
            Some(("parent", Some(old.clone()), None)),
        );
        if let Some(parent_id) = parent_id {
            work.record(
                actor,
                parent_id,
                "child_unlinked",
                Some(("children", Some(child.number.clone()), None)),
            );
        }
        let details = json!({ "parent": null, "previous": old });
        work.audit(
            actor,
            "ticket.parent_changed",
            &child.number,
            details.clone(),
        );
        let view = TicketView::from(&child);
        work.emit(actor.org_id, "ticket.parent_changed", view.clone(), details);
        Ok(view)
    }

    /// The child incidents of an incident (a requester sees their own only).
    pub async fn child_incidents(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<TicketRef>, DeskError> {
        let mut tx = self.db.read().await?;
        let row = self
            .visible_ticket(Exec::Tx(&mut tx), actor, number)
            .await?;
        let rows = store::problems::children_of(Exec::Tx(&mut tx), actor.org_id, row.id).await?;
        Ok(refs(actor, &rows))
    }

    /// Adds a known error to the KEDB (agents).
    pub async fn create_known_error(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: KnownErrorInput,
    ) -> Result<KnownErrorView, DeskError> {
        actor.require_agent()?;
        let mut errors = Vec::new();
        let title = Title::parse("title", &input.title)
            .map_err(|e| errors.push(e))
            .map(Title::into_inner)
            .unwrap_or_default();
        let symptoms = parse_long_text(&mut errors, "symptoms", &input.symptoms);
        let cause = parse_long_text(&mut errors, "cause", &input.cause);
        let workaround = parse_long_text(&mut errors, "workaround", &input.workaround);
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let problem = match &input.problem {
            Some(number) => Some(
                self.known_error_problem(&mut work.tx, actor, number)
                    .await?,
            ),
            None => None,
        };
        let now = store::now();
        let row = KnownErrorRow {
            id: super::new_id(),
            org_id: actor.org_id,
            title,
            symptoms,
            cause,
            workaround,
            problem_id: problem.as_ref().map(|p| p.id),
            problem_number: problem.as_ref().map(|p| p.number.clone()),
            active: input.active.unwrap_or(true),
            created_by: actor.person_id,
            created_at: now,
            updated_at: now,
        };
        store::problems::insert_known_error(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "known_error.created",
            &row.id.to_string(),
            json!({ "title": row.title, "problem": row.problem_number }),
        );
        if let Some(problem) = &problem {
            self.known_error_noted(work, actor, problem, &row, "known_error_added");
        }
        Ok(KnownErrorView::from(&row))
    }

    /// The problem a known error names, which must be a problem.
    async fn known_error_problem(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketRow, DeskError> {
        let row = lock_referenced(tx, actor, "problem", number).await?;
        if row.kind != Kind::Problem.as_str() {
            return Err(DeskError::invalid(
                "problem",
                format!("{} is a {}, not a problem", row.number, row.kind),
            ));
        }
        Ok(row)
    }

    /// Records a known-error change on its problem: activity and event.
    fn known_error_noted(
        &self,
        work: &mut Work,
        actor: &Actor,
        problem: &TicketRow,
        ke: &KnownErrorRow,
        action: &str,
    ) {
        work.record(
            actor,
            problem.id,
            action,
            Some(("known_errors", None, Some(ke.title.clone()))),
        );
        work.emit(
            actor.org_id,
            "ticket.updated",
            TicketView::from(problem),
            json!({ "fields": ["known_errors"], "known_error": ke.id }),
        );
    }

    /// Changes a known error (agents).
    pub async fn update_known_error(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        changes: KnownErrorChanges,
    ) -> Result<KnownErrorView, DeskError> {
        actor.require_agent()?;
        let mut row = store::problems::lock_known_error(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("known error"))?;
        let mut errors = Vec::new();
        let mut fields: Vec<&'static str> = Vec::new();
        if let Some(title) = &changes.title {
            match Title::parse("title", title) {
                Ok(t) if t.as_str() != row.title => {
                    row.title = t.into_inner();
                    fields.push("title");
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        for (field, value, slot) in [
            ("symptoms", &changes.symptoms, &mut row.symptoms),
            ("cause", &changes.cause, &mut row.cause),
            ("workaround", &changes.workaround, &mut row.workaround),
        ] {
            if let Some(value) = value {
                let value = parse_long_text(&mut errors, field, value);
                if *slot != value {
                    *slot = value;
                    fields.push(field);
                }
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        if let Some(active) = changes.active.filter(|a| *a != row.active) {
            row.active = active;
            fields.push("active");
        }
        let old_problem = row.problem_id;
        let mut new_problem = None;
        if let Some(problem) = changes.problem {
            let problem = match problem {
                Some(number) => Some(
                    self.known_error_problem(&mut work.tx, actor, &number)
                        .await?,
                ),
                None => None,
            };
            if problem.as_ref().map(|p| p.id) != row.problem_id {
                row.problem_id = problem.as_ref().map(|p| p.id);
                row.problem_number = problem.as_ref().map(|p| p.number.clone());
                fields.push("problem");
                new_problem = problem;
            }
        }
        if fields.is_empty() {
            return Ok(KnownErrorView::from(&row));
        }
        row.updated_at = store::now();
        store::problems::update_known_error(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "known_error.updated",
            &row.id.to_string(),
            json!({ "fields": fields }),
        );
        // The problems concerned hear of it: the one it left, the one it
        // joined, or the one it stays with.
        if let Some(old_id) = old_problem {
            let action = if row.problem_id == Some(old_id) {
                "known_error_updated"
            } else {
                "known_error_removed"
            };
            if let Some(problem) =
                store::tickets::find_ticket(&mut work.tx, actor.org_id, old_id).await?
            {
                self.known_error_noted(work, actor, &problem, &row, action);
            }
        }
        if let Some(problem) = new_problem {
            self.known_error_noted(work, actor, &problem, &row, "known_error_added");
        }
        Ok(KnownErrorView::from(&row))
    }

    pub async fn get_known_error(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<KnownErrorView, DeskError> {
        actor.require_agent()?;
        store::problems::find_known_error(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .as_ref()
            .map(KnownErrorView::from)
            .ok_or(DeskError::NotFound("known error"))
    }

    /// Searches the KEDB (agents). With `q`: active known errors matching
    /// it, most relevant first; without: the newest, inactive ones too when
    /// asked.
    pub async fn search_known_errors(
        &self,
        actor: &Actor,
        q: Option<&str>,
        include_inactive: bool,
        limit: Option<i64>,
    ) -> Result<Vec<KnownErrorView>, DeskError> {
        actor.require_agent()?;
        let limit = check_limit(limit, 20)?;
        let exec = Exec::Db(&self.db);
        match q.map(str::trim).filter(|q| !q.is_empty()) {
            None => {
                Ok(
                    store::problems::list_known_errors(exec, actor.org_id, include_inactive, limit)
                        .await?
                        .iter()
                        .map(KnownErrorView::from)
                        .collect(),
                )
            }
            Some(q) => {
                if q.chars().count() > 500 {
                    return Err(DeskError::invalid("q", "must be at most 500 characters"));
                }
                let query = KnownErrorQuery::Typed {
                    text: q.to_string(),
                    terms: search_terms(q, MAX_TERMS),
                };
                scored(
                    store::problems::search_known_errors(exec, actor.org_id, &query, limit).await?,
                )
            }
        }
    }

    /// Known errors that may explain a ticket, ranked against its title and
    /// description (agents).
    pub async fn suggest_known_errors(
        &self,
        actor: &Actor,
        number: &str,
        limit: Option<i64>,
    ) -> Result<Vec<KnownErrorView>, DeskError> {
        actor.require_agent()?;
        let limit = check_limit(limit, 5)?;
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let terms = search_terms(&format!("{}\n{}", row.title, row.description), MAX_TERMS);
        let query = KnownErrorQuery::AnyOf(terms);
        scored(
            store::problems::search_known_errors(Exec::Db(&self.db), actor.org_id, &query, limit)
                .await?,
        )
    }

    /// Links a known error to an incident in one step (agents): records the
    /// link, links the incident to the known error's problem (unless that
    /// problem is closed or cancelled) and adds the workaround as an
    /// internal note. Linking it again changes nothing.
    #[tracing::instrument(skip_all, fields(ticket = %number, known_error = %known_error), err(level = "debug"))]
    pub async fn link_known_error(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        known_error: Uuid,
    ) -> Result<KnownErrorLink, DeskError> {
        actor.require_agent()?;
        let incident = self
            .visible_ticket(Exec::Tx(&mut work.tx), actor, number)
            .await?;
        require_incident(&incident, "ticket")?;
        let ke =
            store::problems::find_known_error(Exec::Tx(&mut work.tx), actor.org_id, known_error)
                .await?
                .ok_or_else(|| {
                    DeskError::invalid(
                        "known_error",
                        format!("no known error {known_error} in this organization"),
                    )
                })?;
        if !ke.active {
            return Err(DeskError::invalid(
                "known_error",
                "this known error is inactive; reactivate it first",
            ));
        }
        let already = store::problems::known_errors_of_ticket(
            Exec::Tx(&mut work.tx),
            actor.org_id,
            incident.id,
        )
        .await?
        .iter()
        .any(|k| k.id == ke.id);
        let mut note = None;
        if !already {
            if let Some(problem_id) = ke.problem_id {
                let problem =
                    store::tickets::find_ticket(&mut work.tx, actor.org_id, problem_id).await?;
                if let Some(problem) =
                    problem.filter(|p| !state_of(p).is_ok_and(State::is_terminal))
                {
                    self.link_problem_incident(work, actor, &problem.number, &incident.number)
                        .await?;
                }
            }
            let incident_row = lock_visible(&mut work.tx, actor, &incident.number).await?;
            store::problems::link_ticket_known_error(
                &mut work.tx,
                actor.org_id,
                incident_row.id,
                ke.id,
                actor.person_id,
                store::now(),
            )
            .await?;
            let body = if ke.workaround.is_empty() {
                format!("Known error linked: {} (no workaround recorded).", ke.title)
            } else {
                format!(
                    "Known error linked: {}\n\nWorkaround:\n{}",
                    ke.title, ke.workaround
                )
            };
            note = Some(
                self.add_comment(work, actor, &incident_row.number, &body, true)
                    .await?,
            );
            work.record(
                actor,
                incident_row.id,
                "known_error_linked",
                Some(("known_errors", None, Some(ke.title.clone()))),
            );
            let details = json!({ "known_error": ke.id, "problem": ke.problem_number });
            work.audit(
                actor,
                "ticket.known_error_linked",
                &incident_row.number,
                details.clone(),
            );
            work.emit(
                actor.org_id,
                "ticket.known_error_linked",
                TicketView::from(&incident_row),
                details,
            );
        }
        let incident = store::tickets::find_ticket(&mut work.tx, actor.org_id, incident.id)
            .await?
            .ok_or(DeskError::NotFound("ticket"))?;
        let problem =
            store::problems::problem_of_incident(Exec::Tx(&mut work.tx), actor.org_id, incident.id)
                .await?;
        Ok(KnownErrorLink {
            incident: TicketView::from(&incident),
            known_error: KnownErrorView::from(&ke),
            problem: problem.map(|p| p.number),
            note,
        })
    }

    /// The known errors linked to a ticket (agents).
    pub async fn ticket_known_errors(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<KnownErrorView>, DeskError> {
        actor.require_agent()?;
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        Ok(
            store::problems::known_errors_of_ticket(Exec::Db(&self.db), actor.org_id, row.id)
                .await?
                .iter()
                .map(KnownErrorView::from)
                .collect(),
        )
    }
}

fn scored(rows: Vec<(KnownErrorRow, f32)>) -> Result<Vec<KnownErrorView>, DeskError> {
    Ok(rows
        .iter()
        .map(|(row, score)| KnownErrorView {
            score: Some(*score),
            ..KnownErrorView::from(row)
        })
        .collect())
}
