//! The known-error database (KEDB): known errors with their symptoms, cause
//! and workaround, searched by agents, suggested for an incident, and
//! linked to an incident in one step (which also links its problem and
//! notes the workaround). Agents only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{lock_referenced, parse_long_text, require_incident, state_of};
use crate::{
    desk::{
        new_id,
        tickets::lock_visible,
        views::{CommentView, TicketView},
        Actor, Desk, DeskError, Work,
    },
    domain::{problem::search_terms, text::Title, Kind, State},
    store::{
        self,
        problems::{KnownErrorQuery, KnownErrorRow},
        tickets::TicketRow,
        Exec, Tx,
    },
};

/// The most search terms taken from a query or an incident's text.
const MAX_TERMS: usize = 32;

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

impl Desk {
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
            id: new_id(),
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

fn check_limit(limit: Option<i64>, default: i64) -> Result<i64, DeskError> {
    let limit = limit.unwrap_or(default);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(DeskError::invalid("limit", "must be between 1 and 100"))
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
