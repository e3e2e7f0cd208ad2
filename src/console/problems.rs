//! Problem management for agents: the problem tickets (one
//! `Desk::list_tickets` call with `kind=problem`, as
//! `/api/v1/tickets?kind=problem`) with the newest known errors and their
//! workarounds, and the known-error database searched through
//! `Desk::search_known_errors` (as `/api/v1/known-errors`). A problem's own
//! page is the ticket page, which adds its record (see `ticket_process`).

use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
    routing::get,
    Router,
};
use serde::Deserialize;

use super::{
    error::message,
    filters,
    layout::{Chrome, Section},
    render_status,
    session::Signed,
    Console, PageError,
};
use crate::desk::{problems::KnownErrorView, tickets::ListTickets, views::TicketView, DeskError};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/problems", get(problems))
        .route("/console/known-errors", get(known_errors))
}

/// Known errors shown beside the problem list.
const NEWEST_KNOWN_ERRORS: i64 = 10;
/// Known errors in one answer of the search page (the desk's maximum).
const SEARCH_LIMIT: i64 = 100;

fn blank_is_none(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[derive(Debug, Default, Deserialize)]
struct ProblemQuery {
    /// `open` (default) or `all`.
    show: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

impl ProblemQuery {
    fn all(&self) -> bool {
        self.show.as_deref() == Some("all")
    }

    fn link(&self, cursor: Option<&str>) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if self.all() {
            pairs.append_pair("show", "all");
        }
        if let Some(q) = blank_is_none(self.q.as_deref()) {
            pairs.append_pair("q", &q);
        }
        if let Some(c) = cursor {
            pairs.append_pair("cursor", c);
        }
        format!("/console/problems?{}", pairs.finish())
    }
}

#[derive(Template)]
#[template(path = "problems.html")]
struct ProblemsPage {
    chrome: Chrome,
    query: ProblemQuery,
    problems: Vec<TicketView>,
    next: Option<String>,
    known_errors: Vec<KnownErrorView>,
    error: Option<String>,
}

async fn problems(
    State(console): State<Console>,
    Signed(signed): Signed,
    Query(query): Query<ProblemQuery>,
) -> Result<Response, PageError> {
    signed.actor.require_agent()?;
    let list = ListTickets {
        kind: Some("problem".into()),
        open: !query.all(),
        q: blank_is_none(query.q.as_deref()),
        sort: Some("-updated_at".into()),
        cursor: blank_is_none(query.cursor.as_deref()),
        limit: Some(50),
        ..ListTickets::default()
    };
    let (problems, next, error, status) = match console.desk.list_tickets(&signed.actor, list).await
    {
        Ok(found) => (
            found.items,
            found.next_cursor.as_deref().map(|c| query.link(Some(c))),
            None,
            StatusCode::OK,
        ),
        Err(e @ DeskError::Invalid(_)) => (
            Vec::new(),
            None,
            Some(message(&e)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(other) => return Err(other.into()),
    };
    let known_errors = console
        .desk
        .search_known_errors(&signed.actor, None, false, Some(NEWEST_KNOWN_ERRORS))
        .await?;
    let page = ProblemsPage {
        chrome: Chrome::new(&signed, Section::Problems, "Problems"),
        query,
        problems,
        next,
        known_errors,
        error,
    };
    render_status(status, &page)
}

#[derive(Debug, Default, Deserialize)]
struct KnownErrorQuery {
    q: Option<String>,
    /// `on`: list inactive known errors too (without a search).
    inactive: Option<String>,
}

#[derive(Template)]
#[template(path = "known_errors.html")]
struct KnownErrorsPage {
    chrome: Chrome,
    q: String,
    inactive: bool,
    known_errors: Vec<KnownErrorView>,
    error: Option<String>,
}

async fn known_errors(
    State(console): State<Console>,
    Signed(signed): Signed,
    Query(query): Query<KnownErrorQuery>,
) -> Result<Response, PageError> {
    signed.actor.require_agent()?;
    let q = blank_is_none(query.q.as_deref());
    let inactive = query.inactive.as_deref() == Some("on");
    let (known_errors, error, status) = match console
        .desk
        .search_known_errors(&signed.actor, q.as_deref(), inactive, Some(SEARCH_LIMIT))
        .await
    {
        Ok(found) => (found, None, StatusCode::OK),
        Err(e @ DeskError::Invalid(_)) => (
            Vec::new(),
            Some(message(&e)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(other) => return Err(other.into()),
    };
    let page = KnownErrorsPage {
        chrome: Chrome::new(&signed, Section::Problems, "Known errors"),
        q: q.unwrap_or_default(),
        inactive,
        known_errors,
        error,
    };
    render_status(status, &page)
}
